"""The FCM stand-in's two endpoints, in memory and thread-safe.

``POST /token``
    Google's OAuth 2.0 token endpoint for service accounts: a JWT bearer grant whose
    assertion is checked against the service accounts the stand-in trusts
    (:mod:`.accounts`); answers an access token, or Google's ``invalid_grant``.
``POST /v1/projects/{project}/messages:send``
    FCM's HTTP v1 send: a valid access token of an account of that project, a body FCM's
    schema accepts (:mod:`.validation`); answers ``{"name": "projects/…/messages/…"}``,
    or FCM's own error answer for an unregistered token or a queued fault.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..twilio.api import Reply
from .accounts import ServiceAccount, verify_assertion
from .validation import Problem, check_request

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SEND_PATH = re.compile(r"^/v1/projects/(?P<project>[^/]+)/messages:send$")
TOKEN_PATH = "/token"
#: How long an access token lasts (Google's answer says 3599 or 3600).
ACCESS_TOKEN_SECONDS = 3600

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"


@dataclass(frozen=True)
class FcmErrorKind:
    """One of FCM's errors as FCM answers it: HTTP status, canonical status, message."""

    http_status: int
    status: str
    message: str


#: FCM's ErrorCodes (https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode)
#: and how FCM answers each.
CATALOGUE: dict[str, FcmErrorKind] = {
    "UNREGISTERED": FcmErrorKind(404, "NOT_FOUND", "Requested entity was not found."),
    "SENDER_ID_MISMATCH": FcmErrorKind(403, "PERMISSION_DENIED", "SenderId mismatch"),
    "INVALID_ARGUMENT": FcmErrorKind(
        400, "INVALID_ARGUMENT", "Request contains an invalid argument."
    ),
    "QUOTA_EXCEEDED": FcmErrorKind(
        429,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded for quota metric 'Send requests' and limit 'Send requests per "
        "minute per project'.",
    ),
    "UNAVAILABLE": FcmErrorKind(503, "UNAVAILABLE", "The service is currently unavailable."),
    "INTERNAL": FcmErrorKind(500, "INTERNAL", "Internal error encountered."),
    "THIRD_PARTY_AUTH_ERROR": FcmErrorKind(
        401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service"
    ),
}


def fcm_error(
    error_code: str | None,
    *,
    kind: FcmErrorKind | None = None,
    message: str | None = None,
    violations: Mapping[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of FCM's answer for ``error_code`` (a CATALOGUE key), with
    ``google.rpc.BadRequest`` field ``violations`` (field -> description) if given."""
    kind = kind or CATALOGUE[error_code or "INTERNAL"]
    details: list[dict[str, Any]] = []
    if error_code is not None:
        details.append({"@type": FCM_ERROR_TYPE, "errorCode": error_code})
    if violations:
        details.append(
            {
                "@type": BAD_REQUEST_TYPE,
                "fieldViolations": [
                    {"field": name, "description": text} for name, text in violations.items()
                ],
            }
        )
    error = {
        "code": kind.http_status,
        "message": message or kind.message,
        "status": kind.status,
        "details": details,
    }
    return kind.http_status, {"error": error}


@dataclass(frozen=True)
class RecordedPush:
    """A message FCM accepted, as it arrived."""

    name: str
    project_id: str
    token: str
    #: The ``message`` object of the request, as sent.
    message: dict[str, Any]
    sent_by: str

    @property
    def title(self) -> str | None:
        return (self.message.get("notification") or {}).get("title")

    @property
    def body(self) -> str | None:
        return (self.message.get("notification") or {}).get("body")

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.message.get("data") or {})


@dataclass(frozen=True)
class SpecViolation:
    """A request FCM's API would refuse as malformed (a bug in the client)."""

    path: str
    problems: tuple[Problem, ...]
    body: Any


@dataclass
class Fault:
    """A queued failure: the next ``times`` sends (to ``token``, or to any) get it."""

    error_code: str
    token: str | None = None
    times: int = 1
    retry_after: int | None = None


@dataclass
class Refused:
    """A send FCM refused, as it arrived (for assertions on retries and faults)."""

    token: str
    error_code: str


def reply(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(
        status,
        json.dumps(payload).encode(),
        {"Content-Type": "application/json; charset=UTF-8", **(headers or {})},
    )


class FcmApi:
    """The endpoints' state: trusted accounts, access tokens, what was sent and refused."""

    def __init__(self, token_uri: str = "") -> None:
        #: Where clients fetch tokens; the ``aud`` their assertions must name.
        self.token_uri = token_uri
        self.accounts: dict[str, ServiceAccount] = {}
        #: Every message FCM accepted, in order.
        self.pushes: list[RecordedPush] = []
        #: Every send FCM refused (a scripted error, a malformed token), in order.
        self.refused: list[Refused] = []
        self.violations: list[SpecViolation] = []
        #: Tokens FCM no longer knows (the app was uninstalled): UNREGISTERED.
        self.unregistered: set[str] = set()
        #: Tokens of another project's app: SENDER_ID_MISMATCH.
        self.foreign: set[str] = set()
        self.faults: list[Fault] = []
        #: Access tokens issued: token -> (client email, expiry as time.time()).
        self.access_tokens: dict[str, tuple[str, float]] = {}
        #: Requests to the token endpoint, granted or not.
        self.token_requests = 0
        self._lock = threading.Lock()

    # -- what tests set up -------------------------------------------------------------

    def trust(self, account: ServiceAccount) -> None:
        with self._lock:
            self.accounts[account.client_email] = account

    def unregister(self, *tokens: str) -> None:
        """Make FCM answer UNREGISTERED for these tokens from now on."""
        with self._lock:
            self.unregistered.update(tokens)

    def fail(
        self,
        error_code: str,
        *,
        token: str | None = None,
        times: int = 1,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next ``times`` sends (to ``token``, or to any) with ``error_code``."""
        if error_code not in CATALOGUE:
            raise ValueError(f"{error_code!r} is not one of {', '.join(CATALOGUE)}")
        with self._lock:
            self.faults.append(Fault(error_code, token, times, retry_after))

    # -- serving -----------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        route = urlsplit(path).path
        if method == "POST" and route == TOKEN_PATH:
            return self.issue_token(body)
        match = SEND_PATH.match(route)
        if method == "POST" and match:
            return self.send(match["project"], headers, body)
        return reply(404, {"error": {"code": 404, "message": "Not Found", "status": "NOT_FOUND"}})

    def issue_token(self, body: bytes) -> Reply:
        form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        if form.get("grant_type") != JWT_GRANT:
            return reply(
                400,
                {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"},
            )
        with self._lock:
            self.token_requests += 1
            accounts = dict(self.accounts)
        try:
            account, _ = verify_assertion(form.get("assertion", ""), accounts, self.token_uri)
        except ValueError as exc:
            return reply(400, {"error": "invalid_grant", "error_description": str(exc)})
        token = f"ya29.standin-{secrets.token_urlsafe(24)}"
        with self._lock:
            self.access_tokens[token] = (account.client_email, time.time() + ACCESS_TOKEN_SECONDS)
        return reply(
            200, {"access_token": token, "expires_in": ACCESS_TOKEN_SECONDS, "token_type": "Bearer"}
        )

    def caller(self, headers: Mapping[str, str]) -> ServiceAccount | None:
        """The account whose unexpired access token the request carries."""
        authorization = next(
            (value for name, value in headers.items() if name.lower() == "authorization"), ""
        )
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            email, expires = self.access_tokens.get(token, ("", 0.0))
            account = self.accounts.get(email)
        if scheme != "Bearer" or account is None or expires < time.time():
            return None
        return account

    def send(self, project_id: str, headers: Mapping[str, str], raw: bytes) -> Reply:
        account = self.caller(headers)
        if account is None:
            kind = FcmErrorKind(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
            )
            return reply(*fcm_error(None, kind=kind))
        if account.project_id != project_id:
            kind = FcmErrorKind(
                403,
                "PERMISSION_DENIED",
                f"Permission 'cloudmessaging.messages.create' denied on resource "
                f"'//cloudresourcemanager.googleapis.com/projects/{project_id}'.",
            )
            return reply(*fcm_error(None, kind=kind))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        problems = check_request(body)
        if problems:
            return self.refuse_request(f"/v1/projects/{project_id}/messages:send", body, problems)
        message = body["message"]
        token = message.get("token", "")
        answer = self.scripted_answer(token)
        if answer is not None:
            return answer
        name = f"projects/{project_id}/messages/0:{time.time_ns()}%{secrets.token_hex(8)}"
        if not body.get("validate_only"):
            with self._lock:
                self.pushes.append(
                    RecordedPush(name, project_id, token, message, account.client_email)
                )
        return reply(200, {"name": name})

    def refuse_request(self, path: str, body: Any, problems: list[Problem]) -> Reply:
        if any(problem.violation for problem in problems):
            with self._lock:
                self.violations.append(SpecViolation(path, tuple(problems), body))
        token_problem = any(problem.field == "message.token" for problem in problems)
        if token_problem:
            token = body["message"]["token"]
            with self._lock:
                self.refused.append(Refused(token, "INVALID_ARGUMENT"))
        first = problems[0]
        return reply(
            *fcm_error(
                "INVALID_ARGUMENT",
                message=first.description,
                violations={problem.field: problem.description for problem in problems},
            )
        )

    def scripted_answer(self, token: str) -> Reply | None:
        """The error a test arranged for a send to ``token``, if any."""
        headers: dict[str, str] = {}
        with self._lock:
            if token in self.unregistered:
                code = "UNREGISTERED"
            elif token in self.foreign:
                code = "SENDER_ID_MISMATCH"
            else:
                fault = next((f for f in self.faults if f.token in (None, token)), None)
                if fault is None:
                    return None
                code = fault.error_code
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(fault.retry_after)
            self.refused.append(Refused(token, code))
        violations = None
        if code == "INVALID_ARGUMENT":
            violations = {"message.token": "The registration token is not a valid FCM token"}
        status, payload = fcm_error(code, violations=violations)
        return reply(status, payload, headers)
