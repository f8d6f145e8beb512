# settings used by the tests
CHARGESOL_NOTIFICATIONS = {
    "CHANNELS": {
        channel: {"BACKEND": "chargesol_notifications.backends.locmem.LocmemBackend"}
        for channel in ("sms", "email", "whatsapp", "push", "call")
    },
    "DEFAULT_REGION": "GB",
    # Tests send at any hour: no quiet hours (see the scheduling page).
    "QUIET_HOURS": None,
}
# Tests run with DEBUG off; the locmem backend is meant for them.
SILENCED_SYSTEM_CHECKS = ["chargesol_notifications.W010"]
