"""Which Twilio errors are worth retrying: an explicit table, then the HTTP status.

Codes are Twilio's (https://www.twilio.com/docs/api/errors). A code listed here decides;
any other error is transient for HTTP 429 and 5xx and permanent otherwise, because a 4xx
means the request itself was refused and would be refused again.
"""

from __future__ import annotations

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException

from ...exceptions import DeliveryError, PermanentDeliveryError, TransientDeliveryError

#: Refusals that sending again cannot fix. The text is what staff read in the receipt
#: when Twilio's own message is empty.
PERMANENT_CODES: dict[int, str] = {
    20003: "Twilio refused the credentials (check ACCOUNT_SID and AUTH_TOKEN).",
    20404: "Twilio has no such resource (check the account and sender).",
    21211: "The 'To' number is not a valid phone number.",
    21214: "The 'To' number cannot be reached.",
    21217: "The phone number does not appear to be valid.",
    21219: "The 'To' number is not verified on this trial account.",
    21408: "Permission to send to this region is not enabled.",
    21602: "The message body is required.",
    21606: "The 'From' number cannot send this kind of message.",
    21608: "Trial accounts can only send to verified numbers.",
    21610: "The recipient has opted out (replied STOP).",
    21612: "Twilio cannot route a message from this 'From' to this 'To'.",
    21614: "The 'To' number is not a mobile number.",
    21617: "The message body is too long.",
    21656: "The ContentVariables are not valid for the Content template.",
    21660: "The 'From' number does not belong to this account.",
    13223: "The phone number to dial is not valid.",
    13224: "The phone number to dial cannot be called.",
    21215: "Calling this number's region is not enabled.",
    21216: "This number is blocked from being called.",
    63007: "No WhatsApp sender is set up for the 'From' address.",
    63016: (
        "WhatsApp refuses free-form messages outside the 24-hour customer service window. "
        "Business-initiated messages need an approved Content template: map this "
        "notification template to its Content SID in WHATSAPP_CONTENT_TEMPLATES."
    ),
}

#: Gateway faults and throttling that pass.
TRANSIENT_CODES: frozenset[int] = frozenset({20429, 20500, 20503, 30500})


def classify(exc: BaseException) -> DeliveryError:
    """Turn anything the ``twilio`` client raised into a permanent or transient error."""
    if isinstance(exc, TwilioRestException | TwilioServiceException):
        return _from_twilio(exc)
    if isinstance(exc, requests.Timeout):
        return TransientDeliveryError(f"Twilio did not answer in time: {exc}", code="timeout")
    if isinstance(exc, requests.ConnectionError):
        return TransientDeliveryError(f"Could not reach Twilio: {exc}", code="connection_error")
    if isinstance(exc, requests.RequestException | TwilioException):
        return TransientDeliveryError(f"{type(exc).__name__}: {exc}", code="twilio_error")
    raise exc


def _from_twilio(exc: TwilioRestException | TwilioServiceException) -> DeliveryError:
    status = int(exc.status or 0)
    code = int(exc.code) if exc.code else None
    text = (exc.detail or exc.title) if isinstance(exc, TwilioServiceException) else exc.msg
    if code in PERMANENT_CODES:
        error_class: type[DeliveryError] = PermanentDeliveryError
        if code == 63016 or not text:
            text = f"{PERMANENT_CODES[code]} ({text})" if text else PERMANENT_CODES[code]
    elif code in TRANSIENT_CODES or status == 429 or status >= 500:
        error_class = TransientDeliveryError
    else:
        error_class = PermanentDeliveryError
    return error_class(
        text or f"Twilio answered HTTP {status}", code=str(code or f"http_{status}"), response=exc
    )
