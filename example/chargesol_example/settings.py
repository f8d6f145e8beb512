"""Settings of the example project: a small ChargeSol with the notifications app installed.

Every value that differs between machines is read from the environment through
django-environ. With nothing set, the project runs with ``DEBUG`` on and a SQLite file
beside ``manage.py``, so ``python example/manage.py demo`` needs no other service.
"""

from __future__ import annotations

from pathlib import Path

import django
import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="example-project-only-not-secret")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

# postgres://postgres@127.0.0.1:5432/chargesol, mysql://root@127.0.0.1:3306/chargesol, ...
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    DATABASES["default"].setdefault("OPTIONS", {})["charset"] = "utf8mb4"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "accounts",
    "leads",
    "chargesol_notifications",
]

try:  # Django 6.0+ ships django.tasks; on Django 5.2 the django-tasks backport provides it.
    import django.tasks
except ImportError:
    INSTALLED_APPS.append("django_tasks")

TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
if "django_tasks" in INSTALLED_APPS:
    TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}

AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chargesol_example.urls"
WSGI_APPLICATION = "chargesol_example.wsgi.application"

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

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"

# Email prints to the console. Django 6.1 configures mail backends with MAILERS and
# deprecates EMAIL_BACKEND.
_MAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
if django.VERSION >= (6, 1):
    MAILERS = {"default": {"BACKEND": _MAIL_BACKEND}}
else:
    EMAIL_BACKEND = _MAIL_BACKEND
DEFAULT_FROM_EMAIL = "ChargeSol <hello@chargesol.example.com>"

CHARGESOL_NOTIFICATIONS = {
    # Every channel prints to the console until real gateways are configured, e.g.
    # "sms": {"BACKEND": "chargesol_notifications.backends.twilio.SmsBackend",
    #         "OPTIONS": {"ACCOUNT_SID": ..., "AUTH_TOKEN": ..., "FROM": ...}}.
    "CHANNELS": {
        **{
            channel: {"BACKEND": "chargesol_notifications.backends.console.ConsoleBackend"}
            for channel in ("sms", "whatsapp", "push", "call")
        },
        # Email goes through Django's email framework (which prints it here).
        "email": {"BACKEND": "chargesol_notifications.backends.email.EmailBackend"},
    },
    # Devices that accept push notifications; a real project reads its device table.
    "PUSH_TOKEN_RESOLVER": "leads.push.demo_push_tokens",
    # Customers type UK numbers as 07700 900123; read them as +44.
    "DEFAULT_REGION": "GB",
    # The demo sends at any hour, so that it shows its messages whenever it is run. A
    # real project keeps the default quiet hours (08:00-21:00, calls 09:00-20:00).
    "QUIET_HOURS": None,
    # A notification's admin page links to the lead or survey it is about.
    "CONTEXT_URLS": {
        "lead": "admin:leads_lead_change",
        "survey": "admin:leads_survey_change",
    },
    "WEBHOOK_BASE_URL": env.str("WEBHOOK_BASE_URL", default="http://127.0.0.1:8000"),
    # Customers' replies: what to text back (a survey's YES is thanked; see leads/replies.py).
    "INBOUND_REPLY_HOOK": "leads.replies.answer",
}
