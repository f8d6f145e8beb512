"""Channel backends, loaded from ``CHARGESOL_NOTIFICATIONS["CHANNELS"]``.

``backends[channel]`` (or :func:`get_backend`) returns the backend instance serving that
channel. :class:`BackendHandler` is Django's ``BaseConnectionHandler`` (the handler of
``CACHES``, ``STORAGES`` and ``TASKS``): each thread, and each async context, gets
instances of its own, built on first use, because a gateway client (Twilio's, an SMTP
connection) is not safe to share between threads. On ``setting_changed`` for
``CHARGESOL_NOTIFICATIONS`` (see :mod:`chargesol_notifications.handlers`) the handler
is rebuilt, so ``override_settings`` in tests swaps backends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asgiref.local import Local
from django.utils.connection import BaseConnectionHandler
from django.utils.module_loading import import_string

from ..choices import Channel
from ..conf import SETTING_NAME, get_setting
from ..exceptions import ConfigurationError

if TYPE_CHECKING:
    from .base import BaseChannelBackend

    # django-stubs makes the handler generic; Django's class is not subscriptable.
    Handler = BaseConnectionHandler["BaseChannelBackend"]
else:
    Handler = BaseConnectionHandler

DEFAULT_BACKEND = "chargesol_notifications.backends.console.ConsoleBackend"

#: The keys of one ``CHANNELS`` entry: the backend and its options, and how delivery
#: paces the channel (see :mod:`chargesol_notifications.delivery_settings`).
CHANNEL_KEYS = frozenset({"BACKEND", "OPTIONS", "CONCURRENCY", "RATE_LIMIT"})


def channel_setting_name(channel: str, *keys: str) -> str:
    """How the docs and error messages spell a key of one channel's configuration."""
    path = "".join(f"[{key!r}]" for key in ("CHANNELS", channel, *keys))
    return f"{SETTING_NAME}{path}"


#: The channel names, computed once: get_backend() runs for every recipient of notify_many().
CHANNELS = frozenset(Channel.values)


def check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise ConfigurationError(
            f"{channel_setting_name(channel)}: {channel!r} is not a channel "
            f"(choose from {', '.join(Channel.values)})."
        )


def configured_channels() -> dict[str, Any]:
    """Every channel's raw configuration; ``CHANNELS`` entries checked one by one later."""
    channels = get_setting("CHANNELS")
    if not isinstance(channels, dict):
        raise ConfigurationError(f"{SETTING_NAME}['CHANNELS'] must be a dict.")
    return {channel: channels.get(channel) for channel in Channel.values}


def backend_config(channel: str, config: Any = None) -> dict[str, Any]:
    """The ``{"BACKEND": ..., "OPTIONS": ...}`` dict for ``channel`` (console if unlisted)."""
    config = config or {"BACKEND": DEFAULT_BACKEND}
    if not isinstance(config, dict) or "BACKEND" not in config:
        raise ConfigurationError(f"{channel_setting_name(channel)} needs a 'BACKEND' key.")
    unknown = set(config) - CHANNEL_KEYS
    if unknown:
        raise ConfigurationError(
            f"{channel_setting_name(channel)} has unknown keys {sorted(unknown)}; "
            f"only {', '.join(repr(key) for key in sorted(CHANNEL_KEYS))} are read."
        )
    return config


def build_backend(channel: str, config: Any) -> BaseChannelBackend:
    """Import and build the backend that ``config`` (one ``CHANNELS`` entry) names."""
    config = backend_config(channel, config)
    try:
        backend_class = import_string(config["BACKEND"])
    except ImportError as exc:
        raise ConfigurationError(
            f"{channel_setting_name(channel, 'BACKEND')}: cannot import "
            f"{config['BACKEND']!r}: {exc}"
        ) from exc
    backend: BaseChannelBackend = backend_class(
        channel=channel, options=config.get("OPTIONS") or {}
    )
    return backend


def load_backend(channel: str) -> BaseChannelBackend:
    """A new backend for ``channel`` from the current settings (the system checks' way)."""
    check_channel(channel)
    return build_backend(channel, configured_channels()[channel])


class BackendHandler(Handler):
    """Channel -> backend instance, one per thread or async context, like Django's caches.

    The settings are read once per configuration; :meth:`reset` (on ``setting_changed``)
    closes this thread's backends and forgets every thread's, which are built anew from
    the new settings on their next use.
    """

    settings_name = SETTING_NAME
    exception_class = ConfigurationError
    # Set by BaseConnectionHandler.__init__ (django-stubs leaves them out).
    _connections: Local
    _settings: dict[str, Any] | None

    def configure_settings(self, settings: dict[str, Any] | None) -> dict[str, Any]:
        return configured_channels() if settings is None else settings

    def create_connection(self, alias: str) -> BaseChannelBackend:
        return build_backend(alias, self.settings[alias])

    def __getitem__(self, channel: str) -> BaseChannelBackend:
        check_channel(channel)
        return super().__getitem__(channel)

    def reset(self) -> None:
        for channel in Channel.values:
            backend = getattr(self._connections, channel, None)
            if backend is not None:
                backend.close()
        self._connections = Local(self.thread_critical)
        self._settings = None
        self.__dict__.pop("settings", None)


backends = BackendHandler()


def get_backend(channel: str) -> BaseChannelBackend:
    return backends[channel]
