"""Settings of the queueing and delivery benchmarks (bench_queueing.py, bench_delivery.py).

The test project, plus what a comparison with django-post-office needs: post-office
installed and sending through Django's locmem mail backend, the email channel sending
through Django's email framework (so both end in ``django.core.mail.outbox``), and
django-tasks-db as the task backend that delivery is handed to: a real queue, rows in its
table, with no worker running unless a benchmark starts one. ``discard`` is a task backend
that keeps nothing, for queued notifications whose task should not exist (those that
``deliver_queued`` picks up).
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from tests.settings import *  # noqa: F403
from tests.settings import CHARGESOL_NOTIFICATIONS, DATABASES, INSTALLED_APPS, TASKS

if "database" not in TASKS:
    raise ImproperlyConfigured(
        "The queueing and delivery benchmarks need django-tasks-db "
        "(python -m pip install django-tasks-db)."
    )

INSTALLED_APPS = [*INSTALLED_APPS, "post_office"]

# Persistent connections, as a long-running worker should have them: with Django's default
# (0), django-tasks-db's worker closes the connection around every task (it calls
# close_old_connections()), and reconnecting then costs more than delivering.
DATABASES["default"]["CONN_MAX_AGE"] = None

# What post-office sends through; everything else about it stays at its defaults
# (BATCH_SIZE 100, THREADS_PER_PROCESS 5, LOG_LEVEL 2: a Log row per email sent).
POST_OFFICE = {"BACKENDS": {"default": "django.core.mail.backends.locmem.EmailBackend"}}
DEFAULT_FROM_EMAIL = "ChargeSol <no-reply@chargesol.example.com>"

_dummy = TASKS["default"]["BACKEND"].replace("immediate.ImmediateBackend", "dummy.DummyBackend")
TASKS = {**TASKS, "discard": {"BACKEND": _dummy}}

CHARGESOL_NOTIFICATIONS = {
    **CHARGESOL_NOTIFICATIONS,
    "CHANNELS": {
        **CHARGESOL_NOTIFICATIONS["CHANNELS"],
        "email": {"BACKEND": "chargesol_notifications.backends.email.EmailBackend"},
    },
    "TASK_BACKEND": "database",
}
