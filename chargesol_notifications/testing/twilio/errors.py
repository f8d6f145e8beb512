"""Twilio's error answers: the codes, HTTP statuses and messages the real API returns.

Twilio answers every failed request with the same JSON shape::

    {"code": 21211, "message": "The 'To' number +15005550001 is not a valid phone number.",
     "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}

and ``twilio-python`` turns it into ``TwilioRestException(status, uri, msg, code, method,
details)``. The messages below are the ones Twilio sends (``{to}``, ``{from_}``, ``{value}``
and ``{path}`` are filled from the request), so code under test sees what production sees.
A few codes only ever reach an application as the ``ErrorCode`` of a status callback (for
example 63016, a WhatsApp message outside the 24-hour window, and the 30xxx carrier
codes); they are listed too so :meth:`TwilioStandin.fail_next` can also raise them at create
time when a test wants that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"

#: Codes used when a spec violation has no dedicated Twilio code.
BAD_REQUEST = 20001


@dataclass(frozen=True)
class ErrorTemplate:
    """One entry of Twilio's error dictionary as the API reports it."""

    status: int
    message: str
    detail: str | None = None


CATALOGUE: Mapping[int, ErrorTemplate] = {
    BAD_REQUEST: ErrorTemplate(400, "Bad request"),
    20003: ErrorTemplate(401, "Authenticate", "Your AccountSid or AuthToken was incorrect."),
    20404: ErrorTemplate(404, "The requested resource {path} was not found"),
    20429: ErrorTemplate(429, "Too Many Requests"),
    20500: ErrorTemplate(500, "Internal Server Error"),
    12100: ErrorTemplate(400, "Document parse failure"),
    21201: ErrorTemplate(400, "No 'To' number is specified"),
    21205: ErrorTemplate(400, "Url is not a valid URL: {value}"),
    21211: ErrorTemplate(400, "The 'To' number {to} is not a valid phone number."),
    21212: ErrorTemplate(
        400,
        "The 'From' number {from_} is not a valid phone number, shortcode, or alphanumeric "
        "sender ID.",
    ),
    21213: ErrorTemplate(400, "No 'From' number is specified"),
    21408: ErrorTemplate(
        400,
        "Permission to send an SMS has not been enabled for the region indicated by the "
        "'To' number: {to}",
    ),
    21602: ErrorTemplate(400, "Message body is required."),
    21603: ErrorTemplate(400, "A 'From' phone number is required."),
    21604: ErrorTemplate(400, "A 'To' phone number is required."),
    21606: ErrorTemplate(
        400,
        "The From phone number {from_} is not a valid, SMS-capable inbound phone number or "
        "short code for your account.",
    ),
    21609: ErrorTemplate(400, "The StatusCallback URL {value} is not a valid URL."),
    21610: ErrorTemplate(400, "Attempt to send to unsubscribed recipient"),
    21614: ErrorTemplate(400, "To number: {to}, is not a mobile number"),
    21617: ErrorTemplate(400, "The concatenated message body exceeds the 1600 character limit."),
    21626: ErrorTemplate(400, "Invalid 'StatusCallbackEvent': {value}"),
    21656: ErrorTemplate(400, "The ContentVariables Parameter is invalid."),
    21910: ErrorTemplate(
        400, "Invalid From and To pair. From and To should be of the same channel"
    ),
    63016: ErrorTemplate(
        400,
        "Failed to send freeform message because you are outside the allowed window. "
        "If you are using WhatsApp, please use a Message Template.",
    ),
}

#: The code Twilio pairs with a bare HTTP status, for ``fail_next(status=503)``.
CODE_FOR_STATUS: Mapping[int, int] = {
    400: BAD_REQUEST,
    401: 20003,
    404: 20404,
    429: 20429,
    500: 20500,
    502: 20500,
    503: 20500,
    504: 20500,
}


class _Blank(dict[str, Any]):
    """Format fields the request did not provide render as empty, never as KeyError."""

    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True)
class TwilioError:
    """An error answer, ready to be serialised as Twilio's JSON body."""

    code: int
    status: int
    message: str
    detail: str | None = None

    def body(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "more_info": MORE_INFO.format(code=self.code),
            "status": self.status,
        }
        if self.detail is not None:
            payload["detail"] = self.detail
        return payload


def twilio_error(
    code: int | None = None,
    *,
    status: int | None = None,
    message: str | None = None,
    **fields: Any,
) -> TwilioError:
    """Build Twilio's answer for ``code`` (or for a bare HTTP ``status``).

    ``fields`` fill the message template (``to``, ``from_``, ``value``, ``path``). An
    explicit ``status`` or ``message`` wins over the catalogue, so ``twilio_error(20500,
    status=503)`` is Twilio's answer during an outage.
    """
    if code is None:
        if status is None:
            raise ValueError("give a Twilio error code, an HTTP status, or both")
        code = CODE_FOR_STATUS.get(status, BAD_REQUEST if status < 500 else 20500)
    template = CATALOGUE.get(code)
    if template is None and (status is None or message is None):
        known = ", ".join(str(c) for c in sorted(CATALOGUE))
        raise ValueError(
            f"Twilio error {code} is not in the stand-in's catalogue ({known}); "
            "pass status= and message= for it"
        )
    final_status = status if status is not None else template.status  # type: ignore[union-attr]
    text = message if message is not None else template.message  # type: ignore[union-attr]
    detail = template.detail if template is not None and message is None else None
    return TwilioError(code, final_status, text.format_map(_Blank(fields)), detail)
