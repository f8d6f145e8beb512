"""Which Twilio errors are worth retrying: an explicit table, then the HTTP status.

The codes and their explanations are :mod:`chargesol_notifications.twilio_codes`. A code
listed there decides;
any other error is transient for HTTP 429 and 5xx and permanent otherwise, because a 4xx
means the request itself was refused and would be refused again.
"""

from __future__ import annotations

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException

from ...exceptions import (
    DeliveryError,
    PermanentDeliveryError,
    ThrottledDeliveryError,
    TransientDeliveryError,
)
from ...twilio_codes import EXPLAIN_ALWAYS, PERMANENT_SEND_CODES, TRANSIENT_SEND_CODES, explain


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
    if status == 429:
        # Twilio's rate limit (error 20429, "Too Many Requests"): nothing was created.
        return ThrottledDeliveryError(
            text or "Twilio answered HTTP 429 (too many requests)",
            code=str(code or "http_429"),
            response=exc,
        )
    if code in PERMANENT_SEND_CODES:
        error_class: type[DeliveryError] = PermanentDeliveryError
        if code in EXPLAIN_ALWAYS or not text:
            text = f"{explain(code)} ({text})" if text else explain(code)
    elif code in TRANSIENT_SEND_CODES or status == 429 or status >= 500:
        error_class = TransientDeliveryError
    else:
        error_class = PermanentDeliveryError
    return error_class(
        text or f"Twilio answered HTTP {status}", code=str(code or f"http_{status}"), response=exc
    )
