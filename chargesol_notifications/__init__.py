"""Notifications for ChargeSol: SMS, email, WhatsApp, push and phone calls.

The public functions are imported lazily so that ``import chargesol_notifications`` works
before Django's app registry is ready (for example from settings modules).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Messages "sent" through :class:`~chargesol_notifications.backends.locmem.LocmemBackend`,
#: oldest first; tests empty it between runs, like ``django.core.mail.outbox``.
outbox: list[Any] = []

__all__ = ["cancel_scheduled", "log_call", "notify", "notify_many", "outbox", "place_call"]

_LAZY = {
    "cancel_scheduled": "chargesol_notifications.scheduling",
    "notify": "chargesol_notifications.sending",
    "notify_many": "chargesol_notifications.sending",
    "log_call": "chargesol_notifications.calls",
    "place_call": "chargesol_notifications.calls",
}

if TYPE_CHECKING:
    from .calls import log_call, place_call
    from .scheduling import cancel_scheduled
    from .sending import notify, notify_many


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
