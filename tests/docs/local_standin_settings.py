# Local development only: the Twilio backends talk to the stand-in on this machine.
from chargesol_notifications.testing.twilio import StandinHttpClient

TWILIO_STANDIN = {
    "ACCOUNT_SID": "AC5eed5eed5eed5eed5eed5eed5eed5eed",
    "AUTH_TOKEN": "70ce70ce70ce70ce70ce70ce70ce70ce",
    "HTTP_CLIENT": StandinHttpClient(url="http://127.0.0.1:8010"),
}
TWILIO = "chargesol_notifications.backends.twilio"
CHARGESOL_NOTIFICATIONS = {
    "CHANNELS": {
        "sms": {
            "BACKEND": f"{TWILIO}.SmsBackend",
            "OPTIONS": {**TWILIO_STANDIN, "FROM": "+15005550006"},
        },
        "whatsapp": {
            "BACKEND": f"{TWILIO}.WhatsAppBackend",
            "OPTIONS": {**TWILIO_STANDIN, "FROM": "whatsapp:+15005550006"},
        },
        "call": {
            "BACKEND": f"{TWILIO}.CallBackend",
            "OPTIONS": {**TWILIO_STANDIN, "FROM": "+15005550006"},
        },
    },
    # Where runserver listens: status callback URLs start with it.
    "WEBHOOK_BASE_URL": "http://127.0.0.1:8000",
}
