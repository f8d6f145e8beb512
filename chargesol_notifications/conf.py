"""The one place that reads ``settings.CHARGESOL_NOTIFICATIONS``.

Every read goes through :func:`get_setting`, at call time, so ``override_settings`` works
in tests. Defaults are listed here in plain view; anything missing from the project's
dict falls back to them.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

from django.conf import settings

from .exceptions import ConfigurationError

SETTING_NAME = "CHARGESOL_NOTIFICATIONS"

DEFAULTS: dict[str, Any] = {
    # channel -> {"BACKEND": dotted path, "OPTIONS": {...}}; unlisted channels print.
    "CHANNELS": {},
    # callable(user, channel) -> address or None, as a dotted path or a callable.
    "RECIPIENT_RESOLVER": "chargesol_notifications.recipients.default_resolver",
    # User attributes the default resolver reads.
    "PHONE_ATTRIBUTE": "phone",
    "EMAIL_ATTRIBUTE": "email",
    # What a template's ``recipient`` holds: template key -> user attribute (a method is
    # called without arguments), or a list of attribute names. None: first and last,
    # full and short name, EMAIL_ATTRIBUTE and PHONE_ATTRIBUTE (see plain_data.py).
    "RECIPIENT_CONTEXT": None,
    # Limits of every template render (see render_budget.py); keys override defaults.
    "RENDER_LIMITS": {},
    # callable(user) -> push token or list of tokens; None means users have no push address.
    "PUSH_TOKEN_RESOLVER": None,
    # Region (ISO 3166 alpha-2) used to read phone numbers written without "+country".
    "DEFAULT_REGION": None,
    # Public base URL that gateways call back on, e.g. "https://chargesol.example.com".
    "WEBHOOK_BASE_URL": None,
    # django.tasks backend alias that runs deliveries, and the queue of that backend
    # (None: the tasks framework's default queue, "default").
    "TASK_BACKEND": "default",
    "TASK_QUEUE": None,
    # Transient failures: attempts in all (first send included) and exponential backoff.
    "MAX_ATTEMPTS": 5,
    "RETRY_BACKOFF_SECONDS": 30,
    "RETRY_BACKOFF_MAX_SECONDS": 3600,
    # Notifications per delivery task of notify_many() and deliver_queued (see
    # delivery_settings.py); each CHANNELS entry may add CONCURRENCY and RATE_LIMIT.
    "DELIVERY_BATCH_SIZE": 250,
    # The cache (an alias of CACHES) through which workers share rate limits and pauses.
    "RATE_LIMIT_CACHE": "default",
    # context_type -> URL pattern name reversed with the context id as its one argument,
    # e.g. {"lead": "admin:leads_lead_change"}: the admin links a notification to the
    # object that triggered it. Context types without an entry get no link.
    "CONTEXT_URLS": {},
    # NotificationTemplate name -> Twilio Content SID, for WhatsApp business-initiated messages.
    "WHATSAPP_CONTENT_TEMPLATES": {},
    # Customers' replies (docs/replies.rst). callable(address, channel) -> the user who
    # wrote from that address ("+44…" for sms, "whatsapp:+44…"), or None; the default
    # finds the one user whose PHONE_ATTRIBUTE field holds the number in any common form.
    "SENDER_RESOLVER": "chargesol_notifications.recipients.default_sender_resolver",
    # How far back a reply looks for the notification it answers: the latest one sent to
    # its address on its channel within this window (a timedelta, or seconds).
    "REPLY_WINDOW": timedelta(days=7),
    # callable(inbound_message) -> text to answer the customer with, or None for no
    # answer; a dotted path or a callable. None: every message is answered with no text.
    "INBOUND_REPLY_HOOK": None,
    # Quiet hours (docs/scheduling.rst, quiet_hours.py). Channel (or "default", for every
    # channel not listed) -> (opening, closing) as "HH:MM" in QUIET_HOURS_TIME_ZONE, or None
    # for no quiet hours on that channel. The project's dict is merged over this one, so
    # naming one channel keeps the others; QUIET_HOURS = None switches quiet hours off.
    # A call interrupts more than a text, hence its shorter window.
    "QUIET_HOURS": {"default": ("08:00", "21:00"), "call": ("09:00", "20:00")},
    # The zone those hours are read in; None: settings.TIME_ZONE.
    "QUIET_HOURS_TIME_ZONE": None,
    # What skips quiet hours, unless notify(urgent=...) says otherwise: notifications of
    # these context types, and those rendered from these NotificationTemplate names.
    "URGENT_CONTEXT_TYPES": ["emergency"],
    "URGENT_TEMPLATES": [],
    # Escalation (docs/scheduling.rst, escalation.py): seconds a step of notify(fallback=)
    # has to be delivered before the next channel is tried. Channel (or "default") ->
    # seconds; the project's dict is merged over this one.
    "ESCALATION_AFTER": {"sms": 900, "whatsapp": 900, "default": 900},
}


def get_setting(key: str) -> Any:
    """Return one key of ``CHARGESOL_NOTIFICATIONS``, or its default."""
    if key not in DEFAULTS:
        raise KeyError(f"{key!r} is not a {SETTING_NAME} key")
    return project_settings().get(key, DEFAULTS[key])


@functools.cache
def project_settings() -> dict[str, Any]:
    """The project's ``CHARGESOL_NOTIFICATIONS`` dict (empty when unset), read once: a
    delivery wave asks for settings a few times per message, and each read through
    Django's lazy settings object cost about a microsecond. Forgotten on
    ``setting_changed`` (:mod:`.handlers`), as ``override_settings`` sends it."""
    project = getattr(settings, SETTING_NAME, None) or {}
    if not isinstance(project, dict):
        raise ConfigurationError(f"settings.{SETTING_NAME} must be a dict.")
    return project


def unknown_keys() -> list[str]:
    """Keys of the project's dict that this app does not read (typos, usually)."""
    project = getattr(settings, SETTING_NAME, None) or {}
    return sorted(key for key in project if key not in DEFAULTS)
