"""Settings of the webhook ingest benchmark (bench_webhooks.py), for its gunicorn workers.

The test project, with the SMS channel on a Twilio account whose auth token signs the
callbacks, ``webhook_urls`` in front of the app's URLs (it adds the one-INSERT floor view),
and persistent database connections as a production deployment keeps them. Both views are
served by the same workers with the same settings, so the floor differs from the real
endpoint only in what the view does.
"""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import CHARGESOL_NOTIFICATIONS, DATABASES, env

#: The auth token the benchmark signs with; it never leaves the machine.
AUTH_TOKEN = "bench-webhooks-auth-token"

ROOT_URLCONF = "webhook_urls"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
# Sessions, messages and CSRF are not what a webhook pays for; keep the same middleware
# for both views all the same, as the test project has it.
DATABASES = {"default": {**DATABASES["default"], "CONN_MAX_AGE": env.int("CONN_MAX_AGE", 60)}}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"chargesol_notifications": {"handlers": ["console"], "level": "ERROR"}},
}

CHARGESOL_NOTIFICATIONS = {
    **CHARGESOL_NOTIFICATIONS,
    "CHANNELS": {
        **CHARGESOL_NOTIFICATIONS["CHANNELS"],
        "sms": {
            "BACKEND": "chargesol_notifications.backends.twilio.SmsBackend",
            "OPTIONS": {
                "ACCOUNT_SID": "AC" + "0" * 32,
                "AUTH_TOKEN": AUTH_TOKEN,
                "FROM": "+15005550006",
            },
        },
    },
    "WEBHOOK_BASE_URL": "https://chargesol.example.com",
}
