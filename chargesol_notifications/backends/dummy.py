"""Accepts every message and does nothing with it."""

from __future__ import annotations

from .base import BaseChannelBackend, OutgoingCall, OutgoingMessage


class DummyBackend(BaseChannelBackend):
    """Marks messages sent without sending them (no gateway id)."""

    development_only = True
    sends_in_parallel = False  # nothing to wait for
    supports_calls = True

    def send_message(self, message: OutgoingMessage) -> None:
        return None

    def start_call(self, call: OutgoingCall) -> None:
        return None
