"""Settings of the test project. ``DATABASE_URL`` picks the database (SQLite when unset)."""

from __future__ import annotations

from pathlib import Path

import django
import environ

env = environ.Env()

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "Europe/London"

DATABASES = {"default": env.db("DATABASE_URL", default="sqlite:///:memory:")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    DATABASES["default"].setdefault("OPTIONS", {})["charset"] = "utf8mb4"
    DATABASES["default"]["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "tests.testapp",
    "chargesol_notifications",
]

try:  # Django 5.2: the django-tasks backport provides the tasks framework.
    import django.tasks
except ImportError:
    INSTALLED_APPS.append("django_tasks")

AUTH_USER_MODEL = "testapp.User"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

STATIC_URL = "/static/"
# Django 6.1 replaces EMAIL_BACKEND with MAILERS (EMAIL_BACKEND is deprecated there).
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
else:
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
if "django_tasks" in INSTALLED_APPS:
    TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}

# A real queue: tests/test_worker.py enqueues here and runs django-tasks-db's worker.
try:
    import django_tasks_db  # noqa: F401
except ImportError:
    pass
else:
    INSTALLED_APPS.append("django_tasks_db")
    TASKS["database"] = {"BACKEND": "django_tasks_db.DatabaseBackend"}

CHARGESOL_NOTIFICATIONS = {
    "CHANNELS": {
        channel: {"BACKEND": "chargesol_notifications.backends.locmem.LocmemBackend"}
        for channel in ("sms", "email", "whatsapp", "push", "call")
    },
    "DEFAULT_REGION": "GB",
    "WEBHOOK_BASE_URL": "https://chargesol.example.com",
    # The suite runs at any hour: no quiet hours, so a message goes when a test sends it.
    # tests/test_quiet_hours.py and tests/test_scheduling.py put the default hours back
    # and pin the clock.
    "QUIET_HOURS": None,
}

# The worker process of tests/test_worker.py prints what it sends, for the test to read.
# With "flaky", its SMS fail once, transiently, so the retry is a deferred task.
WORKER_MODE = env.str("CHARGESOL_TEST_WORKER", default="")
if WORKER_MODE:
    CHARGESOL_NOTIFICATIONS["CHANNELS"] = {
        channel: {"BACKEND": "chargesol_notifications.backends.console.ConsoleBackend"}
        for channel in ("sms", "email", "whatsapp", "push", "call")
    }
    CHARGESOL_NOTIFICATIONS["TASK_BACKEND"] = "database"
if WORKER_MODE == "flaky":
    CHARGESOL_NOTIFICATIONS["CHANNELS"]["sms"] = {
        "BACKEND": "tests.scripted_backend.ScriptedBackend",
        "OPTIONS": {"SCRIPT": ["transient", "ok"]},
    }
    CHARGESOL_NOTIFICATIONS["RETRY_BACKOFF_SECONDS"] = 0

# The test settings keep console/locmem backends with DEBUG off on purpose.
SILENCED_SYSTEM_CHECKS = ["chargesol_notifications.W010", "chargesol_notifications.W012"]

# --- Fault suites (tests/faults/) ------------------------------------------------------
# The delivering processes that the fault suites start (deliver_queued in subprocesses)
# send SMS through the app's real Twilio backend to the stand-in running in the test's
# own process: CHARGESOL_TEST_FAULTS is its URL (http://127.0.0.1:<port>).
# CHARGESOL_TEST_FAULTS_CONCURRENCY, when given, becomes the SMS channel's CONCURRENCY.
FAULTS_STANDIN_URL = env.str("CHARGESOL_TEST_FAULTS", default="")
if FAULTS_STANDIN_URL:
    from chargesol_notifications.testing.twilio import (
        DEFAULT_ACCOUNT_SID,
        DEFAULT_AUTH_TOKEN,
        DEFAULT_FROM,
        StandinHttpClient,
    )

    FAULTS_SMS_CHANNEL = {
        "BACKEND": "chargesol_notifications.backends.twilio.SmsBackend",
        "OPTIONS": {
            "ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
            "AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
            "FROM": DEFAULT_FROM,
            # An instance: the backend's TIMEOUT option applies only to a dotted path.
            "HTTP_CLIENT": StandinHttpClient(url=FAULTS_STANDIN_URL, timeout=15.0),
        },
    }
    FAULTS_CONCURRENCY = env.int("CHARGESOL_TEST_FAULTS_CONCURRENCY", default=0)
    if FAULTS_CONCURRENCY:
        FAULTS_SMS_CHANNEL["CONCURRENCY"] = FAULTS_CONCURRENCY
    CHARGESOL_NOTIFICATIONS["CHANNELS"]["sms"] = FAULTS_SMS_CHANNEL

# --- RQ workers of tests/faults/test_rq_workers.py ---------------------------------------
# With CHARGESOL_TEST_RQ (a Redis URL), this process is one of that test's RQ workers:
# deliveries run through django-tasks-rq's backend on that Redis, and SMS go through the
# Twilio backend to the stand-in the test serves at CHARGESOL_TEST_RQ_STANDIN.
RQ_REDIS_URL = env.str("CHARGESOL_TEST_RQ", default="")
if RQ_REDIS_URL:
    from tests.faults import rq_support

    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    RQ_QUEUES = rq_support.rq_queues(RQ_REDIS_URL)
    TASKS[rq_support.TASK_BACKEND_ALIAS] = rq_support.TASK_BACKEND
    CHARGESOL_NOTIFICATIONS["TASK_BACKEND"] = rq_support.TASK_BACKEND_ALIAS
    # A retry is due at once, though still a deferred task. With a backoff it could come
    # early: RQ keeps a deferred task's time in whole seconds, and runs it up to a second
    # before run_after, when delivery finds it not due yet and leaves it for cron.
    CHARGESOL_NOTIFICATIONS["RETRY_BACKOFF_SECONDS"] = 0
    CHARGESOL_NOTIFICATIONS["CHANNELS"]["sms"] = rq_support.sms_channel(
        env.str("CHARGESOL_TEST_RQ_STANDIN")
    )
