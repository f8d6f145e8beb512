"""System checks: ``manage.py check`` names the setting to fix for each problem."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.cache import InvalidCacheBackendError, caches
from django.core.cache.backends.db import DatabaseCache
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import ImproperlyConfigured
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string

from . import escalation, quiet_hours
from .backends import channel_setting_name, load_backend
from .choices import Channel, ContextType
from .conf import SETTING_NAME, get_setting, unknown_keys
from .delivery_settings import checked_batch_size, checked_concurrency, checked_rate_limit
from .tasks_compat import InvalidTaskBackendError, task_backends

TAG = "chargesol_notifications"
CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")


@checks.register(TAG)
def check_settings(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    project = getattr(settings, SETTING_NAME, None)
    if project is not None and not isinstance(project, dict):
        return [checks.Error(f"settings.{SETTING_NAME} must be a dict.", id=f"{TAG}.E001")]
    messages: list[checks.CheckMessage] = [
        checks.Warning(
            f"{SETTING_NAME}[{key!r}] is not a setting of this app.",
            hint="Check the spelling against the settings reference.",
            id=f"{TAG}.W002",
        )
        for key in unknown_keys()
    ]
    messages += _check_callable("RECIPIENT_RESOLVER")
    messages += _check_callable("PUSH_TOKEN_RESOLVER")
    messages += _check_task_backend()
    messages += _check_recipient_context()
    messages += _check_render_limits()
    messages += _check_pacing()
    messages += _check_context_urls()
    messages += _check_replies()
    messages += _check_quiet_hours()
    return messages


def _check_replies() -> list[checks.CheckMessage]:
    """SENDER_RESOLVER and INBOUND_REPLY_HOOK import and are callable (E040, E041);
    REPLY_WINDOW is a positive duration (E042)."""
    from .webhooks.inbound import reply_window

    messages = [
        message
        for key, error_id in (("SENDER_RESOLVER", "E040"), ("INBOUND_REPLY_HOOK", "E041"))
        for message in _check_callable(key, error_id)
    ]
    try:
        reply_window()
    except ImproperlyConfigured as exc:
        messages.append(checks.Error(str(exc), id=f"{TAG}.E042"))
    return messages


def _check_quiet_hours() -> list[checks.CheckMessage]:
    """QUIET_HOURS windows (E046) and keys (E047), URGENT_CONTEXT_TYPES and
    URGENT_TEMPLATES (E048), QUIET_HOURS_TIME_ZONE (E049): every problem, not the first.

    The rules are quiet_hours.py's own ``checked_*`` functions, which notify() runs too.
    """
    windows = get_setting("QUIET_HOURS")
    if not isinstance(windows, dict):
        messages = _error_if_raised("E046", quiet_hours.checked_quiet_hours, windows)
    else:
        messages = []
        for key, value in windows.items():
            # A window under a key that is not a channel is not worth parsing.
            messages += _error_if_raised("E047", quiet_hours.checked_window_key, key) or (
                _error_if_raised("E046", quiet_hours.checked_window, key, value)
            )
    messages += _error_if_raised(
        "E048", quiet_hours.checked_urgent_context_types, get_setting("URGENT_CONTEXT_TYPES")
    )
    messages += _error_if_raised(
        "E048", quiet_hours.checked_urgent_templates, get_setting("URGENT_TEMPLATES")
    )
    messages += _error_if_raised(
        "E049", quiet_hours.checked_time_zone, get_setting("QUIET_HOURS_TIME_ZONE")
    )
    messages += _error_if_raised(
        "E050", escalation.checked_escalation_after, get_setting("ESCALATION_AFTER")
    )
    return messages


def _error_if_raised(
    error_id: str, check: Callable[..., object], *arguments: object
) -> list[checks.CheckMessage]:
    """An Error with ``error_id`` and the check's own message if it raises, else nothing."""
    try:
        check(*arguments)
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id=f"{TAG}.{error_id}")]
    return []


def _check_context_urls() -> list[checks.CheckMessage]:
    """CONTEXT_URLS maps known context types to URL pattern names (strings)."""
    value = get_setting("CONTEXT_URLS")
    if not isinstance(value, dict):
        return [
            checks.Error(
                f"{SETTING_NAME}['CONTEXT_URLS'] must map context types to URL pattern names.",
                id=f"{TAG}.E018",
            )
        ]
    return [
        checks.Error(
            f"{SETTING_NAME}['CONTEXT_URLS'][{context_type!r}]: the key must be one of "
            f"{', '.join(ContextType.values)} and the value a URL pattern name.",
            id=f"{TAG}.E018",
        )
        for context_type, name in value.items()
        if context_type not in ContextType.values or not isinstance(name, str) or not name
    ]


@checks.register(TAG)
def check_channels(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """The CHANNELS setting, each configured backend's own checks, and what they need."""
    if not isinstance(getattr(settings, SETTING_NAME, None) or {}, dict):
        return []  # check_settings reports E001
    channels = get_setting("CHANNELS")
    if not isinstance(channels, dict):
        return [checks.Error(f"{SETTING_NAME}['CHANNELS'] must be a dict.", id=f"{TAG}.E011")]
    messages = _check_channel_names(channels)
    backends, load_errors = _load_backends(channels)
    messages += load_errors
    for backend in backends:
        messages += list(backend.check())
    messages += _check_development_backends(backends)
    messages += _check_unconfigured_channels(channels)
    messages += _check_webhooks(backends)
    messages += _check_content_templates(backends)
    messages += _check_channel_pacing(channels, backends)
    return messages


def _check_channel_names(channels: dict[str, Any]) -> list[checks.CheckMessage]:
    return [
        checks.Error(
            f"{channel_setting_name(channel)}: {channel!r} is not a channel.",
            hint=f"Channels are {', '.join(Channel.values)}.",
            id=f"{TAG}.E003",
        )
        for channel in channels
        if channel not in Channel.values
    ]


def _load_backends(channels: dict[str, Any]) -> tuple[list[Any], list[checks.CheckMessage]]:
    """The backends of the valid channels, and an E004 for each that cannot be built."""
    backends, errors = [], []
    for channel in channels:
        if channel not in Channel.values:
            continue
        try:
            backends.append(load_backend(channel))
        except ImproperlyConfigured as exc:
            errors.append(checks.Error(str(exc), id=f"{TAG}.E004"))
    return backends, errors


def _check_development_backends(backends: list[Any]) -> list[checks.CheckMessage]:
    if settings.DEBUG:
        return []
    return [
        checks.Warning(
            f"{channel_setting_name(backend.channel, 'BACKEND')} is "
            f"{type(backend).__name__}, which does not deliver anything, and DEBUG is off.",
            hint="Configure a real backend for this channel in production.",
            id=f"{TAG}.W010",
        )
        for backend in backends
        if backend.development_only
    ]


def _check_unconfigured_channels(channels: dict[str, Any]) -> list[checks.CheckMessage]:
    if settings.DEBUG:
        return []
    return [
        checks.Warning(
            f"{channel_setting_name(channel)} is not configured, so {channel} messages are "
            "only printed, and DEBUG is off.",
            hint="Configure a backend for every channel you send on.",
            id=f"{TAG}.W012",
        )
        for channel in sorted(set(Channel.values) - set(channels))
    ]


def _check_webhooks(backends: list[Any]) -> list[checks.CheckMessage]:
    """What backends whose gateway calls back need: a public URL and the app's URLconf.

    A backend says so with ``reports_delivery`` and names its callback URLs with
    ``status_callback_url_name`` and ``call_answer_url_name``; this check names no
    gateway. Each problem is reported once, however many channels share it.
    """
    calling_back = [backend for backend in backends if backend.reports_delivery]
    if not calling_back:
        return []
    channels = ", ".join(sorted({backend.channel for backend in calling_back}))
    messages: list[checks.CheckMessage] = []
    if not get_setting("WEBHOOK_BASE_URL"):
        messages.append(
            checks.Error(
                f"{SETTING_NAME}['WEBHOOK_BASE_URL'] is missing: the backends of {channels} "
                "report delivery by webhook and need it to ask for status callbacks and to "
                "validate them.",
                id=f"{TAG}.E025",
            )
        )
    url_names = sorted(
        {
            name
            for backend in calling_back
            for name in (backend.status_callback_url_name, backend.call_answer_url_name)
            if name
        }
    )
    missing = [name for name in url_names if not _reverses(name)]
    if missing:
        messages.append(
            checks.Error(
                "chargesol_notifications.urls is not included in the project's URLconf, so "
                f"the gateways' callbacks ({', '.join(missing)}) have nowhere to go.",
                hint='Add path("notifications/", include("chargesol_notifications.urls")).',
                id=f"{TAG}.E026",
            )
        )
    return messages


def _reverses(url_name: str) -> bool:
    try:
        reverse(url_name)
    except NoReverseMatch:
        return False
    return True


def _check_content_templates(backends: list[Any]) -> list[checks.CheckMessage]:
    mapping = get_setting("WHATSAPP_CONTENT_TEMPLATES")
    if not isinstance(mapping, dict):
        return [
            checks.Error(
                f"{SETTING_NAME}['WHATSAPP_CONTENT_TEMPLATES'] must map template names "
                "to Content SIDs.",
                id=f"{TAG}.E008",
            )
        ]
    messages: list[checks.CheckMessage] = []
    whatsapp = [backend for backend in backends if backend.channel == Channel.WHATSAPP]
    if mapping and whatsapp and not whatsapp[0].supports_content_templates:
        messages.append(
            checks.Warning(
                f"{SETTING_NAME}['WHATSAPP_CONTENT_TEMPLATES'] maps templates to Content "
                f"SIDs, but {type(whatsapp[0]).__name__}, the backend of the whatsapp "
                "channel, does not send Content templates: those messages go as plain text.",
                id=f"{TAG}.W013",
            )
        )
    return messages + [
        checks.Error(
            f"{SETTING_NAME}['WHATSAPP_CONTENT_TEMPLATES'][{name!r}] is {sid!r}, not a "
            "Content SID (HX followed by 32 hex digits).",
            id=f"{TAG}.E008",
        )
        for name, sid in mapping.items()
        if not (isinstance(sid, str) and CONTENT_SID.match(sid))
    ]


def _check_callable(key: str, error_id: str = "E005") -> list[checks.CheckMessage]:
    value = get_setting(key)
    if value is None or callable(value):
        return []
    try:
        target = import_string(value)
    except ImportError as exc:
        return [
            checks.Error(
                f"{SETTING_NAME}[{key!r}]: cannot import {value!r}: {exc}",
                id=f"{TAG}.{error_id}",
            )
        ]
    if not callable(target):
        return [
            checks.Error(
                f"{SETTING_NAME}[{key!r}]: {value!r} is not callable.", id=f"{TAG}.{error_id}"
            )
        ]
    return []


def _check_task_backend() -> list[checks.CheckMessage]:
    alias = get_setting("TASK_BACKEND")
    try:
        task_backends[alias]
    except (InvalidTaskBackendError, KeyError, ImproperlyConfigured) as exc:
        return [
            checks.Error(
                f"{SETTING_NAME}['TASK_BACKEND'] is {alias!r}, which is not a backend of "
                f"settings.TASKS: {exc}",
                id=f"{TAG}.E006",
            )
        ]
    queue = get_setting("TASK_QUEUE")
    queues = getattr(task_backends[alias], "queues", None) or set()
    if queue is not None and (not isinstance(queue, str) or (queues and queue not in queues)):
        return [
            checks.Error(
                f"{SETTING_NAME}['TASK_QUEUE'] is {queue!r}, which is not a queue of the "
                f"{alias!r} task backend (its QUEUES: {', '.join(sorted(queues)) or 'any'}).",
                id=f"{TAG}.E017",
            )
        ]
    return []


@checks.register(TAG, deploy=True)
def check_retries_can_be_deferred(
    app_configs: Sequence[Any] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Deploy only: where retries wait when the task backend cannot defer them.

    A fact about the deployment rather than a problem, so it is shown by
    ``check --deploy`` and not on every ``manage.py`` command.
    """
    if not isinstance(getattr(settings, SETTING_NAME, None) or {}, dict):
        return []
    alias = get_setting("TASK_BACKEND")
    try:
        backend = task_backends[alias]
    except (InvalidTaskBackendError, KeyError, ImproperlyConfigured):
        return []  # E006
    if backend.supports_defer:
        return []
    return [
        checks.Info(
            f"The task backend {alias!r} cannot defer tasks, so transient failures are "
            "retried, and scheduled notifications (send_at, quiet hours) sent, by "
            "`manage.py deliver_queued`.",
            hint="Run deliver_queued from cron every minute, or use a queue backend.",
            id=f"{TAG}.I007",
        )
    ]


def _check_recipient_context() -> list[checks.CheckMessage]:
    """RECIPIENT_CONTEXT may list plain, non-sensitive user attributes only."""
    from .recipient_data import recipient_context_attributes, refused_attribute

    configured = get_setting("RECIPIENT_CONTEXT")
    setting = f"{SETTING_NAME}['RECIPIENT_CONTEXT']"
    if configured is not None and (
        isinstance(configured, str) or not isinstance(configured, dict | list | tuple)
    ):
        return [
            checks.Error(
                f"{setting} must be a dict of template keys to user attributes, or a list "
                "of attribute names.",
                id=f"{TAG}.E009",
            )
        ]
    return [
        checks.Error(
            f"{setting} may not list {name!r}: {reason}.",
            hint="Templates are edited by staff; give them names, email and phone only.",
            id=f"{TAG}.E009",
        )
        for key, attribute in recipient_context_attributes().items()
        for name in dict.fromkeys((key, attribute))
        if (reason := refused_attribute(name))
    ]


def _check_render_limits() -> list[checks.CheckMessage]:
    from .render_budget import render_limits

    try:
        render_limits()
    except (ImproperlyConfigured, TypeError, AttributeError) as exc:
        return [checks.Error(str(exc), id=f"{TAG}.E010")]
    return []


def _check_pacing() -> list[checks.CheckMessage]:
    """DELIVERY_BATCH_SIZE is a sensible number; RATE_LIMIT_CACHE names a cache."""
    messages: list[checks.CheckMessage] = []
    try:
        checked_batch_size(get_setting("DELIVERY_BATCH_SIZE"))
    except ImproperlyConfigured as exc:
        messages.append(checks.Error(str(exc), id=f"{TAG}.E014"))
    alias = get_setting("RATE_LIMIT_CACHE")
    try:
        caches[alias]
    except (InvalidCacheBackendError, TypeError) as exc:
        messages.append(
            checks.Error(
                f"{SETTING_NAME}['RATE_LIMIT_CACHE'] is {alias!r}, which is not a cache of "
                f"CACHES: {exc}",
                id=f"{TAG}.E016",
            )
        )
    return messages


def _check_channel_pacing(
    channels: dict[str, Any], backends: list[Any]
) -> list[checks.CheckMessage]:
    """CONCURRENCY and RATE_LIMIT of each channel; a rate limit needs a shared cache."""
    messages: list[checks.CheckMessage] = []
    limited = []
    for channel, config in channels.items():
        if channel not in Channel.values or not isinstance(config, dict):
            continue
        try:
            if config.get("CONCURRENCY") is not None:
                checked_concurrency(channel, config["CONCURRENCY"])
            if checked_rate_limit(channel, config.get("RATE_LIMIT")) is not None:
                limited.append(channel)
        except ImproperlyConfigured as exc:
            messages.append(checks.Error(str(exc), id=f"{TAG}.E014"))
    if limited:
        messages += _check_rate_limit_cache(limited)
    return messages


def _check_rate_limit_cache(limited: list[str]) -> list[checks.CheckMessage]:
    alias = get_setting("RATE_LIMIT_CACHE")
    try:
        cache = caches[alias]
    except (InvalidCacheBackendError, TypeError):
        return []  # E016
    if not isinstance(cache, LocMemCache | DummyCache | DatabaseCache | FileBasedCache):
        return []
    names = ", ".join(channel_setting_name(channel, "RATE_LIMIT") for channel in limited)
    return [
        checks.Warning(
            f"{names} is counted in the {alias!r} cache, a {type(cache).__name__}, which "
            "either keeps a count per process or does not increment atomically: workers "
            "counting at once may together send above the rate.",
            hint=f"Point {SETTING_NAME}['RATE_LIMIT_CACHE'] at a cache the workers share "
            "and that increments atomically (Redis, Memcached).",
            id=f"{TAG}.W015",
        )
    ]
