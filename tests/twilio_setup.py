"""Settings that put the app's Twilio backends behind the loopback stand-in."""

from __future__ import annotations

from typing import Any

from chargesol_notifications.testing.twilio import TwilioStandin

SMS_FROM = "+15005550006"
WHATSAPP_FROM = "whatsapp:+14155238886"
WEBHOOK_BASE_URL = "https://chargesol.example.com"


def twilio_channels(standin: TwilioStandin, **sms_options: Any) -> dict[str, Any]:
    return {
        "sms": {
            "BACKEND": "chargesol_notifications.backends.twilio.SmsBackend",
            "OPTIONS": standin.backend_options(**({"FROM": SMS_FROM} | sms_options)),
        },
        "whatsapp": {
            "BACKEND": "chargesol_notifications.backends.twilio.WhatsAppBackend",
            "OPTIONS": standin.backend_options(FROM=WHATSAPP_FROM),
        },
        "call": {
            "BACKEND": "chargesol_notifications.backends.twilio.CallBackend",
            "OPTIONS": standin.backend_options(FROM=SMS_FROM, VOICE="Polly.Amy"),
        },
        "email": {"BACKEND": "chargesol_notifications.backends.locmem.LocmemBackend"},
        "push": {"BACKEND": "chargesol_notifications.backends.locmem.LocmemBackend"},
    }


def use_twilio(settings: Any, standin: TwilioStandin, **extra: Any) -> None:
    sms_options = extra.pop("sms_options", {})
    settings.CHARGESOL_NOTIFICATIONS = {
        "CHANNELS": twilio_channels(standin, **sms_options),
        "DEFAULT_REGION": "GB",
        "WEBHOOK_BASE_URL": WEBHOOK_BASE_URL,
        "RETRY_BACKOFF_SECONDS": 0,
        # Tests send at any hour (see tests/settings.py).
        "QUIET_HOURS": None,
        **extra,
    }
