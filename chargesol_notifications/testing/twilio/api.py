"""The stand-in's in-memory Twilio API: routing, authentication, validation, creation.

:class:`TwilioApi` turns one HTTP request into one :class:`Reply` and keeps the record of
everything it saw. It knows nothing about sockets (that is :mod:`.server`'s job), so its
behaviour is easy to follow: authenticate like Twilio (HTTP Basic, account SID + auth
token or API key SID + secret), check the path and form body against the spec, then
either answer a queued fault or create the resource and answer 201.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import listing, resources
from .errors import twilio_error
from .records import (
    Fault,
    RecordedCall,
    RecordedMessage,
    RecordedRequest,
    RecordedResource,
    SpecViolation,
)
from .validation import CALLS, MESSAGES, Problem, validate_create

ACCOUNT_SID_PATTERN = re.compile(r"^AC[0-9a-fA-F]{32}$")
_SID_PATTERNS = {
    MESSAGES: re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$"),
    CALLS: re.compile(r"^CA[0-9a-fA-F]{32}$"),
}
_LIST = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/(?P<resource>Messages|Calls)\.json$")
_INSTANCE = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>[^/]+)/(?P<resource>Messages|Calls)/(?P<sid>[^/]+)\.json$"
)
_FORM = "application/x-www-form-urlencoded"


@dataclass
class Reply:
    """What to answer: a status and JSON body, possibly late, possibly not at all."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    disconnect: bool = False

    @classmethod
    def json(cls, status: int, payload: Any, *, delay: float = 0.0) -> Reply:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Twilio-Request-Id": resources.new_sid("RQ"),
        }
        return cls(status, json.dumps(payload).encode(), headers, delay)


class TwilioApi:
    """Twilio's 2010-04-01 Messages and Calls endpoints, in memory and thread-safe.

    Creates and fetches of both, and the Messages list (see :mod:`.listing`). Every answer
    comes :attr:`latency` seconds late, on top of any delay a queued fault asks for.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        api_keys: Mapping[str, str] | None = None,
        latency: float = 0.0,
    ) -> None:
        if not ACCOUNT_SID_PATTERN.match(account_sid):
            raise ValueError(f"{account_sid!r} is not an account SID (AC + 32 hex digits)")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.api_keys = dict(api_keys or {})
        self.latency = latency
        self._lock = threading.RLock()
        self._requests: list[RecordedRequest] = []
        self._resources: list[RecordedResource] = []
        self._violations: list[SpecViolation] = []
        self._faults: list[Fault] = []

    @property
    def latency(self) -> float:
        """Seconds every answer waits, as if Twilio were that far away (0: none).

        Read once per request, so setting it while the stand-in runs applies to the
        requests that arrive afterwards.
        """
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        seconds = float(seconds)
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"latency is a number of seconds >= 0, not {seconds!r}")
        self._latency = seconds

    # -- what tests read ------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order, including rejected ones."""
        with self._lock:
            return list(self._requests)

    @property
    def messages(self) -> list[RecordedMessage]:
        """Messages created, oldest first."""
        with self._lock:
            return [r for r in self._resources if isinstance(r, RecordedMessage)]

    @property
    def calls(self) -> list[RecordedCall]:
        """Calls created, oldest first."""
        with self._lock:
            return [r for r in self._resources if isinstance(r, RecordedCall)]

    @property
    def violations(self) -> list[SpecViolation]:
        """Requests the real API would have rejected."""
        with self._lock:
            return list(self._violations)

    def get(self, sid: str) -> RecordedResource:
        """The message or call with this SID; ``KeyError`` when the stand-in never made it."""
        with self._lock:
            for resource in self._resources:
                if resource.sid == sid:
                    return resource
        raise KeyError(f"the Twilio stand-in created no message or call {sid}")

    def resource_created(self, resource: RecordedResource) -> None:
        """Called with each message or call once it is recorded, before the create is answered.

        Does nothing here. It runs in the request's thread, so an override that does more
        than note the resource (the local server plays status callbacks) hands it on to
        another thread: Twilio calls back only after it has answered the create.
        """

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def reset(self) -> None:
        """Forget everything: requests, resources, violations and queued faults."""
        with self._lock:
            self._requests.clear()
            self._resources.clear()
            self._violations.clear()
            self._faults.clear()

    def take_violations(self) -> list[SpecViolation]:
        """Return and clear the violations, for tests that provoke them on purpose."""
        with self._lock:
            taken, self._violations = self._violations, []
            return taken

    def assert_no_violations(self) -> None:
        """Fail (``AssertionError``) if any request broke Twilio's API description."""
        violations = self.violations
        if violations:
            listing = "\n".join(f"  - {violation}" for violation in violations)
            raise AssertionError(
                f"{len(violations)} request(s) to the Twilio stand-in would be rejected by "
                f"Twilio:\n{listing}"
            )

    # -- serving --------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one request as Twilio would, recording it (and any violation)."""
        latency = self._latency
        parts = urlsplit(target)
        request = RecordedRequest(method, parts.path, parts.query, dict(headers), {})
        with self._lock:
            self._requests.append(request)
        reply = self._route(request, headers, body)
        reply.delay += latency
        request.status = reply.status
        if reply.headers.get("Content-Type", "").startswith("application/json"):
            request.response = json.loads(reply.body)
        elif reply.body:
            request.response = reply.body.decode("utf-8", "replace")
        return reply

    def _violation(self, request: RecordedRequest, *problems: Problem) -> Reply:
        """Record a violation and answer with the error of its first problem."""
        with self._lock:
            self._violations.append(SpecViolation(request, problems))
        first = problems[0]
        if first.code in (20003, 20404):  # Twilio's own wording, not the problem's
            error = twilio_error(first.code, path=request.path)
        else:
            error = twilio_error(first.code, message=first.message)
        return Reply.json(error.status, error.body())

    def _route(self, request: RecordedRequest, headers: Mapping[str, str], body: bytes) -> Reply:
        match = _LIST.match(request.path) or _INSTANCE.match(request.path)
        if match is None:
            unknown = f"{request.path} is not a Twilio resource the stand-in serves"
            return self._violation(request, Problem(None, unknown, 20404))
        problem = self._authenticate(headers, match["account"])
        if problem is not None:
            return self._violation(request, problem)
        if not ACCOUNT_SID_PATTERN.match(match["account"]):
            return self._violation(request, Problem("AccountSid", "is not an AC SID", 20404))
        kind = MESSAGES if match["resource"] == "Messages" else CALLS
        sid = match.groupdict().get("sid")
        if sid is None and kind == MESSAGES and request.method == "GET":
            return self._list(request)
        expected = "GET" if sid else "POST"
        if request.method != expected:
            served = f"the stand-in serves only {expected} on {request.path}"
            return self._violation(request, Problem(None, served))
        if sid:
            return self._fetch(request, kind, sid)
        return self._create(request, kind, headers, body)

    def _list(self, request: RecordedRequest) -> Reply:
        params: dict[str, list[str]] = {}
        for name, value in parse_qsl(request.query, keep_blank_values=True):
            params.setdefault(name, []).append(value)
        request.params = params
        problems = listing.validate_list(params)
        if problems:
            return self._violation(request, *problems)
        fault = self._take_fault(MESSAGES, params.get("To", [None])[0], "list")
        if fault is not None:
            return self._fault_reply(fault, params)
        with self._lock:
            found = listing.select([m.representation for m in self.messages], params)
            payload = listing.page(request.path, found, params)
        return Reply.json(200, payload)

    def _authenticate(self, headers: Mapping[str, str], account: str) -> Problem | None:
        scheme, _, encoded = _header(headers, "Authorization").partition(" ")
        try:
            username, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            username = password = ""
        if scheme.lower() != "basic" or not username:
            return Problem("Authorization", "HTTP Basic credentials are required", 20003)
        if username == self.account_sid:
            valid = password == self.auth_token
        else:
            valid = self.api_keys.get(username) == password and password != ""
        if not valid:
            return Problem("Authorization", f"wrong credentials for {username}", 20003)
        if account != self.account_sid:
            return Problem(
                "AccountSid", f"credentials are for {self.account_sid}, not {account}", 20003
            )
        return None

    def _fetch(self, request: RecordedRequest, kind: str, sid: str) -> Reply:
        if not _SID_PATTERNS[kind].match(sid):
            return self._violation(request, Problem("Sid", f"{sid!r} is not a {kind} SID", 20404))
        with self._lock:
            found = next((r for r in self._resources if r.sid == sid and r.kind == kind), None)
            payload = dict(found.representation) if found is not None else None
        if payload is None:
            error = twilio_error(20404, path=request.path)
            return Reply.json(error.status, error.body())
        return Reply.json(200, payload)

    def _create(
        self, request: RecordedRequest, kind: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        content_type = _header(headers, "Content-Type").split(";")[0].strip().lower()
        if content_type != _FORM:
            wrong = f"the body must be {_FORM}, not {content_type or 'absent'}"
            return self._violation(request, Problem(None, wrong))
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return self._violation(request, Problem(None, "the form body is not UTF-8"))
        params: dict[str, list[str]] = {}
        for name, value in pairs:
            params.setdefault(name, []).append(value)
        request.params = params
        problems = validate_create(kind, params)
        if request.query:
            problems.append(Problem(None, "create parameters belong in the form body"))
        if problems:
            return self._violation(request, *problems)
        return self._create_valid(kind, params)

    def _take_fault(self, kind: str, to: str | None, operation: str = "create") -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(kind, to, operation):
                    fault.use()
                    return fault
        return None

    def _fault_reply(self, fault: Fault, params: Mapping[str, list[str]]) -> Reply:
        """The answer of a fault that stops a request before it does anything."""
        if fault.disconnect:
            return Reply(0, disconnect=True, delay=fault.delay)
        status = fault.status or 400
        if fault.raw_body is not None:
            return Reply(
                status, fault.raw_body.encode(), {"Content-Type": "text/html"}, fault.delay
            )
        payload = dict(fault.body or {})
        if isinstance(payload.get("message"), str):
            to, sender = params.get("To", [""])[0], params.get("From", [""])[0]
            payload["message"] = payload["message"].replace("{to}", to).replace("{from_}", sender)
        return Reply.json(status, payload, delay=fault.delay)

    def _create_valid(self, kind: str, params: dict[str, list[str]]) -> Reply:
        to = params.get("To", [None])[0]
        fault = self._take_fault(kind, to)
        if fault is not None and (
            fault.disconnect or fault.body is not None or fault.raw_body is not None
        ):
            return self._fault_reply(fault, params)
        now = datetime.now(UTC)
        resource: RecordedResource
        if kind == MESSAGES:
            representation = resources.message_representation(self.account_sid, params, now)
            resource = RecordedMessage(
                representation["sid"], self.account_sid, params, representation
            )
            if fault is not None:
                resource.delivery_failure = fault.delivery
        else:
            representation = resources.call_representation(self.account_sid, params, now)
            resource = RecordedCall(representation["sid"], self.account_sid, params, representation)
        with self._lock:
            self._resources.append(resource)
        self.resource_created(resource)
        # The resource exists before a slow answer is sent, as with Twilio: a client that
        # times out cannot know whether its message went out.
        if fault is not None and fault.lose_response:
            return Reply(0, disconnect=True, delay=fault.delay)
        return Reply.json(201, representation, delay=fault.delay if fault else 0.0)


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return ""
