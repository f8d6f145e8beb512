"""What FCM's answers mean for a device token: retried, failed, or a token to forget.

FCM's HTTP v1 API answers an error with ``{"error": {"code": <HTTP status>, "status":
<canonical code>, "message": ..., "details": [...]}}``; its own ``ErrorCode`` is in the
detail of type ``google.firebase.fcm.v1.FcmError``, and an ``INVALID_ARGUMENT`` names the
field at fault in a ``google.rpc.BadRequest`` detail. ``firebase-admin`` raises a
``FirebaseError`` carrying that response; :func:`classify` reads it with the table
:data:`FCM_ERRORS`, then by HTTP status like the Twilio backends: 429 and 5xx are
transient, other statuses permanent.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from typing import Any

import requests
from firebase_admin.exceptions import FirebaseError
from google.auth.exceptions import RefreshError, TransportError

from ...exceptions import (
    DeliveryError,
    PermanentDeliveryError,
    ThrottledDeliveryError,
    TransientDeliveryError,
)

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
#: The field of an INVALID_ARGUMENT that means the token itself is malformed.
TOKEN_FIELD = "message.token"

PERMANENT, TRANSIENT, THROTTLED = "permanent", "transient", "throttled"


@dataclass(frozen=True)
class FcmRule:
    """How to treat one FCM error code."""

    kind: str
    #: Whether the token will never work again (``push_token_invalid`` is sent).
    invalid_token: bool = False
    #: What staff read before FCM's own message.
    explanation: str = ""


#: FCM's ErrorCode (or, without one, the canonical status) -> what it means here.
FCM_ERRORS: dict[str, FcmRule] = {
    "UNREGISTERED": FcmRule(
        PERMANENT, True, "The app was uninstalled from this device or its token expired."
    ),
    "SENDER_ID_MISMATCH": FcmRule(
        PERMANENT, True, "The token belongs to another Firebase project than these credentials."
    ),
    "INVALID_ARGUMENT": FcmRule(PERMANENT, False, "FCM refused the message as invalid."),
    "QUOTA_EXCEEDED": FcmRule(THROTTLED, False, "FCM's sending limit was exceeded."),
    "UNAVAILABLE": FcmRule(TRANSIENT, False, "FCM was unavailable."),
    "INTERNAL": FcmRule(TRANSIENT, False, "FCM had an internal error."),
    "THIRD_PARTY_AUTH_ERROR": FcmRule(
        TRANSIENT,
        False,
        "FCM could not authenticate with APNs or web push: check the APNs key in the "
        "Firebase console.",
    ),
    # The credentials may not send for this project: a deployment to fix, then a retry.
    "PERMISSION_DENIED": FcmRule(
        TRANSIENT, False, "These credentials may not send messages for this project."
    ),
    "UNAUTHENTICATED": FcmRule(TRANSIENT, False, "FCM did not accept the access token."),
}


@dataclass(frozen=True)
class TokenFailure:
    """What an error means for one token: the delivery error, and whether to forget it."""

    error: DeliveryError
    invalid_token: bool = False


def classify(exc: BaseException, *, credentials_setting: str) -> TokenFailure:
    """Turn what ``firebase-admin`` raised (or returned for a token) into a failure."""
    cause = exc.cause if isinstance(exc, FirebaseError) else exc
    if isinstance(cause, RefreshError):
        return TokenFailure(credentials_refused(cause, credentials_setting))
    if isinstance(cause, TransportError):
        text = f"Could not reach Google's token endpoint: {cause}"
        return TokenFailure(TransientDeliveryError(text, code="connection_error", response=exc))
    if isinstance(cause, requests.Timeout):
        text = f"FCM did not answer in time: {cause}"
        return TokenFailure(TransientDeliveryError(text, code="timeout", response=exc))
    if isinstance(cause, requests.ConnectionError):
        text = f"Could not reach FCM: {cause}"
        return TokenFailure(TransientDeliveryError(text, code="connection_error", response=exc))
    if not isinstance(exc, FirebaseError):
        raise exc
    return from_answer(exc)


def from_answer(exc: FirebaseError) -> TokenFailure:
    """The failure FCM's error answer describes (or, without one, the SDK's code)."""
    response = exc.http_response
    status = response.status_code if response is not None else 0
    error = answer_error(response)
    fcm_code = next(
        (d.get("errorCode") for d in details(error) if d.get("@type") == FCM_ERROR_TYPE), None
    )
    code = str(fcm_code or error.get("status") or exc.code or f"http_{status}")
    text = str(error.get("message") or exc) or f"FCM answered HTTP {status}"
    rule = FCM_ERRORS.get(code) or FcmRule(TRANSIENT if status >= 500 or not status else PERMANENT)
    if status == 429:
        rule = FCM_ERRORS["QUOTA_EXCEEDED"]
    if rule.explanation:
        text = f"{rule.explanation} ({text})"
    invalid = rule.invalid_token or (code == "INVALID_ARGUMENT" and names_token(error))
    if rule.kind == THROTTLED:
        throttled = ThrottledDeliveryError(
            text, code=code, response=exc, retry_after=retry_after(response)
        )
        return TokenFailure(throttled)
    error_class = TransientDeliveryError if rule.kind == TRANSIENT else PermanentDeliveryError
    return TokenFailure(error_class(text, code=code, response=exc), invalid_token=invalid)


def credentials_refused(cause: RefreshError, setting: str) -> DeliveryError:
    """Google refused the service account: a deployment to fix; then the retry goes out."""
    return TransientDeliveryError(
        f"Google refused the service account of {setting} ({cause}). Check that the key "
        "is current and belongs to this project; the notification is retried.",
        code="credentials_refused",
        response=cause,
    )


def answer_error(response: Any) -> dict[str, Any]:
    """The ``error`` object of FCM's JSON answer; empty when there is none."""
    if response is None:
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def details(error: dict[str, Any]) -> list[dict[str, Any]]:
    found = error.get("details")
    return [d for d in found if isinstance(d, dict)] if isinstance(found, list) else []


def names_token(error: dict[str, Any]) -> bool:
    """Whether an INVALID_ARGUMENT blames the registration token itself."""
    for detail in details(error):
        if detail.get("@type") != BAD_REQUEST_TYPE:
            continue
        for violation in detail.get("fieldViolations") or ():
            if isinstance(violation, dict) and violation.get("field") == TOKEN_FIELD:
                return True
    return False


def retry_after(response: Any) -> float | None:
    """Seconds from a ``Retry-After`` header (seconds or an HTTP date), if any."""
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)
