"""Keeps sent messages in memory, in ``chargesol_notifications.outbox``: for tests."""

from __future__ import annotations

import itertools
import os
import uuid

import chargesol_notifications

from .base import BaseChannelBackend, OutgoingCall, OutgoingMessage


class LocmemBackend(BaseChannelBackend):
    """Appends each :class:`OutgoingMessage` (and :class:`OutgoingCall`) to
    ``chargesol_notifications.outbox``.

    Its ids are ``locmem-``, a random part drawn once per process, and a count: a
    receipt's gateway id is unique per status across the database, so a count alone
    would repeat in ``deliver_queued`` or a worker in another process, and a uuid4 per
    message costs a system call for randomness each.
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


class ProcessIds:
    """Ids unique across processes: a random prefix per process (drawn again in a child
    after ``fork()``, which would otherwise continue the parent's count), then a count."""

    def __init__(self) -> None:
        self.restart()
        os.register_at_fork(after_in_child=self.restart)

    def restart(self) -> None:
        self.prefix = f"locmem-{uuid.uuid4().hex}-"
        self.count = itertools.count(1)

    def __call__(self) -> str:
        # next() of itertools.count is atomic under the GIL: threads get distinct ids.
        return f"{self.prefix}{next(self.count)}"


new_id = ProcessIds()
