"""What FCM's HTTP v1 ``messages:send`` accepts: the request body and its ``Message``.

:func:`check_request` returns the problems FCM would answer 400 ``INVALID_ARGUMENT`` for,
each with the field FCM names. A problem of the request's shape (an unknown field, data
that is not strings, no target) is a bug in the client: the stand-in records it as a
violation. A token that is not one FCM issued, or a message over FCM's 4 KB, is the data's
fault: the stand-in answers it as FCM does, and records nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

#: The fields of FCM v1's ``Message`` resource.
MESSAGE_FIELDS = frozenset(
    {
        "name",
        "data",
        "notification",
        "android",
        "webpush",
        "apns",
        "fcm_options",
        "token",
        "fid",
        "topic",
        "condition",
    }
)
#: Exactly one of these is the message's target (``fid``: a Firebase installation ID).
TARGETS = ("token", "fid", "topic", "condition")
NOTIFICATION_FIELDS = frozenset({"title", "body", "image"})
REQUEST_FIELDS = frozenset({"message", "validate_only"})
#: Data keys FCM reserves (and any starting with "google" or "gcm").
RESERVED_DATA_KEYS = frozenset({"from", "notification", "message_type"})
RESERVED_DATA_PREFIXES = ("google", "gcm")
#: What registration tokens are made of (FCM's are base64url with ":" and "-").
TOKEN = re.compile(r"^[A-Za-z0-9_:\-]+$")
#: FCM's limit on a message's payload.
MAX_PAYLOAD_BYTES = 4096


@dataclass(frozen=True)
class Problem:
    """One reason FCM would refuse the request."""

    field: str
    description: str
    #: True when the client built a request FCM's schema does not allow (a bug); False
    #: when the request is well formed but its data is refused (a bad token, too big).
    violation: bool = True


def check_request(body: Any) -> list[Problem]:
    """The problems of a ``messages:send`` request body (parsed JSON), in order."""
    if not isinstance(body, dict):
        return [Problem("", "Invalid JSON payload received. Expected an object.")]
    problems = [
        Problem(name, f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.')
        for name in body
        if name not in REQUEST_FIELDS
    ]
    if "validate_only" in body and not isinstance(body["validate_only"], bool):
        problems.append(Problem("validate_only", "Invalid value (TYPE_BOOL)."))
    message = body.get("message")
    if not isinstance(message, dict):
        return [*problems, Problem("message", "message is required and must be an object.")]
    return problems + check_message(message)


def check_message(message: dict[str, Any]) -> list[Problem]:
    problems = [
        Problem(
            f"message.{name}",
            f"Invalid JSON payload received. Unknown name \"{name}\" at 'message': "
            "Cannot find field.",
        )
        for name in message
        if name not in MESSAGE_FIELDS
    ]
    targets = [name for name in TARGETS if name in message]
    if len(targets) != 1:
        problems.append(
            Problem("message", "Exactly one of token, fid, topic or condition must be set.")
        )
    for name in targets:
        if not isinstance(message[name], str):
            problems.append(Problem(f"message.{name}", "Invalid value (TYPE_STRING)."))
    problems += check_notification(message.get("notification"))
    problems += check_data(message.get("data"))
    token = message.get("token")
    if isinstance(token, str) and not TOKEN.match(token):
        problems.append(
            Problem(
                "message.token",
                "The registration token is not a valid FCM registration token",
                violation=False,
            )
        )
    size = len(json.dumps({k: message.get(k) for k in ("notification", "data")}).encode())
    if size > MAX_PAYLOAD_BYTES:
        problems.append(Problem("message", "Message is too big", violation=False))
    return problems


def check_notification(notification: Any) -> list[Problem]:
    if notification is None:
        return []
    if not isinstance(notification, dict):
        return [Problem("message.notification", "Invalid value (TYPE_MESSAGE).")]
    problems = [
        Problem(
            f"message.notification.{name}",
            f'Invalid JSON payload received. Unknown name "{name}" at '
            "'message.notification': Cannot find field.",
        )
        for name in notification
        if name not in NOTIFICATION_FIELDS
    ]
    problems += [
        Problem(f"message.notification.{name}", f"Invalid value (TYPE_STRING), {value!r}")
        for name, value in notification.items()
        if name in NOTIFICATION_FIELDS and not isinstance(value, str)
    ]
    return problems


def check_data(data: Any) -> list[Problem]:
    if data is None:
        return []
    if not isinstance(data, dict):
        return [Problem("message.data", "Invalid value (TYPE_MESSAGE).")]
    problems = []
    for index, (key, value) in enumerate(data.items()):
        if not isinstance(value, str):
            problems.append(
                Problem(
                    f"message.data[{index}].value",
                    f"Invalid value at 'message.data[{index}].value' (TYPE_STRING), {value!r}",
                )
            )
        if key in RESERVED_DATA_KEYS or key.lower().startswith(RESERVED_DATA_PREFIXES):
            problems.append(Problem("message.data", f"Invalid data payload key: {key}"))
    return problems
