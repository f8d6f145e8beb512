"""A loopback stand-in of Twilio's REST API, for tests that use the real ``twilio`` client.

Usage in a test::

    def test_sms(twilio_standin):
        client = twilio_standin.client()
        message = client.messages.create(to="+447700900123", from_="+15005550006", body="Hi")
        assert twilio_standin.messages[0].sid == message.sid

In settings, the app's Twilio backends take ``"HTTP_CLIENT":
"chargesol_notifications.testing.twilio.StandinHttpClient"`` (or
``standin.http_client()``). See ``docs/testing.rst``.
"""

from __future__ import annotations

from .callbacks import CallbackResponse, StatusCallback
from .errors import CATALOGUE, TwilioError, twilio_error
from .http_client import StandinHttpClient, current_standin
from .records import (
    DeliveryFailure,
    RecordedCall,
    RecordedMessage,
    RecordedRequest,
    RecordedResource,
    SpecViolation,
)
from .standin import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, DEFAULT_FROM, TwilioStandin
from .validation import Problem, validate_create

__all__ = [
    "CATALOGUE",
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "DEFAULT_FROM",
    "CallbackResponse",
    "DeliveryFailure",
    "Problem",
    "RecordedCall",
    "RecordedMessage",
    "RecordedRequest",
    "RecordedResource",
    "SpecViolation",
    "StandinHttpClient",
    "StatusCallback",
    "TwilioError",
    "TwilioStandin",
    "current_standin",
    "twilio_error",
    "validate_create",
]
