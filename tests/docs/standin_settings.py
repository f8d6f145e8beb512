TWILIO_TEST_OPTIONS = {
    "ACCOUNT_SID": "AC5eed5eed5eed5eed5eed5eed5eed5eed",  # DEFAULT_ACCOUNT_SID
    "AUTH_TOKEN": "70ce70ce70ce70ce70ce70ce70ce70ce",  # DEFAULT_AUTH_TOKEN
    "FROM": "+15005550006",
    "HTTP_CLIENT": "chargesol_notifications.testing.twilio.StandinHttpClient",
}

CHARGESOL_NOTIFICATIONS = {
    "CHANNELS": {
        "sms": {
            "BACKEND": "chargesol_notifications.backends.twilio.SmsBackend",
            "OPTIONS": TWILIO_TEST_OPTIONS,
        },
        "whatsapp": {
            "BACKEND": "chargesol_notifications.backends.twilio.WhatsAppBackend",
            "OPTIONS": {**TWILIO_TEST_OPTIONS, "FROM": "whatsapp:+15005550006"},
        },
        "call": {
            "BACKEND": "chargesol_notifications.backends.twilio.CallBackend",
            "OPTIONS": TWILIO_TEST_OPTIONS,
        },
    },
    "DEFAULT_REGION": "GB",
    "WEBHOOK_BASE_URL": "https://chargesol.example.com",
    # Tests send at any hour: no quiet hours (see the scheduling page).
    "QUIET_HOURS": None,
}
