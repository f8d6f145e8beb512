"""Keeps sent messages in memory, in ``chargesol_notifications.outbox``: for tests."""

from __future__ import annotations

import uuid

import chargesol_notifications

from .base import BaseChannelBackend, OutgoingCall, OutgoingMessage


class LocmemBackend(BaseChannelBackend):
    """Appends each :class:`OutgoingMessage` (and :class:`OutgoingCall`) to
    ``chargesol_notifications.outbox``.

    Its ids are random (``locmem-`` and a uuid4), not counted: a receipt's gateway id is
    unique per status across the database, and ``deliver_queued`` or a worker in another
    process counting from 1 again would take an id this process already used.
    """

    development_only = True
    sends_in_parallel = False  # nothing to wait for
    supports_calls = True

    def send_message(self, message: OutgoingMessage) -> str:
        chargesol_notifications.outbox.append(message)
        return new_id()

    def start_call(self, call: OutgoingCall) -> str:
        chargesol_notifications.outbox.append(call)
        return new_id()


def new_id() -> str:
    return f"locmem-{uuid.uuid4().hex}"
