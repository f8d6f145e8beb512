"""Channel backends, loaded from ``CHARGESOL_NOTIFICATIONS["CHANNELS"]``.

``backends[channel]`` (or :func:`get_backend`) returns the backend instance serving that
channel, built once per process and rebuilt when the setting changes, so
``override_settings`` in tests swaps backends the way Django's ``TASKS`` handler does.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from django.utils.module_loading import import_string

from ..choices import Channel
from ..conf import SETTING_NAME, get_setting
from ..exceptions import ConfigurationError

if TYPE_CHECKING:
    from .base import BaseChannelBackend

DEFAULT_BACKEND = "chargesol_notifications.backends.console.ConsoleBackend"


def channel_setting_name(channel: str, *keys: str) -> str:
    """How the docs and error messages spell a key of one channel's configuration."""
    path = "".join(f"[{key!r}]" for key in ("CHANNELS", channel, *keys))
    return f"{SETTING_NAME}{path}"


def backend_config(channel: str) -> dict[str, Any]:
    """The ``{"BACKEND": ..., "OPTIONS": ...}`` dict for ``channel`` (console if unlisted)."""
    config = get_setting("CHANNELS").get(channel) or {"BACKEND": DEFAULT_BACKEND}
    if not isinstance(config, dict) or "BACKEND" not in config:
        raise ConfigurationError(f"{channel_setting_name(channel)} needs a 'BACKEND' key.")
    unknown = set(config) - {"BACKEND", "OPTIONS"}
    if unknown:
        raise ConfigurationError(
            f"{channel_setting_name(channel)} has unknown keys {sorted(unknown)}; "
            "only 'BACKEND' and 'OPTIONS' are read."
        )
    return config


def load_backend(channel: str) -> BaseChannelBackend:
    """Import and build the backend configured for ``channel``."""
    if channel not in Channel.values:
        raise ConfigurationError(
            f"{channel_setting_name(channel)}: {channel!r} is not a channel "
            f"(choose from {', '.join(Channel.values)})."
        )
    config = backend_config(channel)
    try:
        backend_class = import_string(config["BACKEND"])
    except ImportError as exc:
        raise ConfigurationError(
            f"{channel_setting_name(channel, 'BACKEND')}: cannot import "
            f"{config['BACKEND']!r}: {exc}"
        ) from exc
    return backend_class(channel=channel, options=config.get("OPTIONS") or {})


class BackendHandler:
    """Channel -> backend instance, cached until ``CHARGESOL_NOTIFICATIONS`` changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._backends: dict[str, BaseChannelBackend] = {}

    def __getitem__(self, channel: str) -> BaseChannelBackend:
        backend = self._backends.get(channel)
        if backend is None:
            with self._lock:
                backend = self._backends.get(channel) or load_backend(channel)
                self._backends[channel] = backend
        return backend

    def reset(self) -> None:
        with self._lock:
            for backend in self._backends.values():
                backend.close()
            self._backends = {}


backends = BackendHandler()


def get_backend(channel: str) -> BaseChannelBackend:
    return backends[channel]
