"""A channel backend for tests that fails on cue, configured through settings like any
other backend (no patching): each send takes the next outcome from ``SCRIPT``."""

from __future__ import annotations

from typing import Any

from chargesol_notifications.backends.base import BaseChannelBackend, OutgoingMessage
from chargesol_notifications.exceptions import PermanentDeliveryError, TransientDeliveryError

#: Every message this backend was asked to send, successful or not.
attempts: list[OutgoingMessage] = []


class ScriptedBackend(BaseChannelBackend):
    """OPTIONS: ``SCRIPT``, a list of "ok", "transient", "permanent" or "crash"; the last
    entry repeats once the list is used up."""

    option_names = frozenset({"SCRIPT"})

    def configure(self, *, SCRIPT: list[str] | None = None, **options: Any) -> None:
        self.script = list(SCRIPT or ["ok"])

    def send_message(self, message: OutgoingMessage) -> str:
        attempts.append(message)
        step = self.script[min(len(attempts), len(self.script)) - 1]
        if step == "transient":
            raise TransientDeliveryError("Gateway timed out", code="timeout")
        if step == "permanent":
            raise PermanentDeliveryError("Number opted out", code="21610")
        if step == "crash":
            raise RuntimeError("bug in a backend")
        return f"SCRIPTED{len(attempts)}"
