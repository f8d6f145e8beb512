"""Settings of the SMS latency benchmark (bench_sms_latency.py), for it and its workers.

The test project, with the SMS channel on the app's Twilio backend: the real ``twilio``
client, sending to the stand-in that the benchmark serves in a process of its own, at
``BENCH_TWILIO_URL``. django-tasks-db is the task backend, and database connections are
persistent, as a long-running worker keeps them.

``BENCH_SMS_CONCURRENCY`` and ``BENCH_DELIVERY_BATCH_SIZE``, when set, become the SMS
channel's ``CONCURRENCY`` and ``DELIVERY_BATCH_SIZE``; unset, the keys are left out, so
whatever defaults the installed delivery engine has apply.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from chargesol_notifications.testing.twilio import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_FROM,
    StandinHttpClient,
)
from tests.settings import *  # noqa: F403
from tests.settings import CHARGESOL_NOTIFICATIONS, DATABASES, TASKS, env

if "database" not in TASKS:
    raise ImproperlyConfigured(
        "The SMS latency benchmark needs django-tasks-db (python -m pip install django-tasks-db)."
    )

TWILIO_URL = env.str("BENCH_TWILIO_URL")


class GatewayHttpClient(StandinHttpClient):
    """The stand-in at ``BENCH_TWILIO_URL``; a new one for each backend instance.

    Named by dotted path in ``HTTP_CLIENT``, so every thread's backend has its own
    ``requests`` session, as with Twilio's own client in production.
    """

    def __init__(self) -> None:
        super().__init__(url=TWILIO_URL, timeout=15)


# Persistent connections: django-tasks-db's worker closes the connection around every task
# otherwise (close_old_connections()), and reconnecting would be part of the figures.
DATABASES["default"]["CONN_MAX_AGE"] = None

SMS: dict[str, Any] = {
    "BACKEND": "chargesol_notifications.backends.twilio.SmsBackend",
    "OPTIONS": {
        "ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
        "AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        "FROM": DEFAULT_FROM,
        "HTTP_CLIENT": "sms_latency_settings.GatewayHttpClient",
    },
}
if concurrency := env.int("BENCH_SMS_CONCURRENCY", default=0):
    SMS["CONCURRENCY"] = concurrency

CHARGESOL_NOTIFICATIONS = {
    **CHARGESOL_NOTIFICATIONS,
    "CHANNELS": {**CHARGESOL_NOTIFICATIONS["CHANNELS"], "sms": SMS},
    "TASK_BACKEND": "database",
}
if batch_size := env.int("BENCH_DELIVERY_BATCH_SIZE", default=0):
    CHARGESOL_NOTIFICATIONS["DELIVERY_BATCH_SIZE"] = batch_size
