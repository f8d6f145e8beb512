"""Keeps sent messages in memory, in ``chargesol_notifications.outbox``: for tests."""

from __future__ import annotations

import itertools

import chargesol_notifications

from .base import BaseChannelBackend, OutgoingCall, OutgoingMessage

_ids = itertools.count(1)


class LocmemBackend(BaseChannelBackend):
    """Appends each :class:`OutgoingMessage` (and :class:`OutgoingCall`) to
    ``chargesol_notifications.outbox``."""

    development_only = True

    def send_message(self, message: OutgoingMessage) -> str:
        chargesol_notifications.outbox.append(message)
        return f"locmem-{next(_ids)}"

    def start_call(self, call: OutgoingCall) -> str:
        chargesol_notifications.outbox.append(call)
        return f"locmem-{next(_ids)}"
