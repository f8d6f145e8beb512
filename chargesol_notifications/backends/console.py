"""Prints each message instead of sending it: for development."""

from __future__ import annotations

import sys
import threading
import uuid
from typing import Any, TextIO

from .base import BaseChannelBackend, OutgoingCall, OutgoingMessage


class ConsoleBackend(BaseChannelBackend):
    """Writes every message to ``sys.stdout`` (or the ``STREAM`` option)."""

    option_names = frozenset({"STREAM"})
    development_only = True
    sends_in_parallel = False  # nothing to wait for
    supports_calls = True
    _write_lock = threading.Lock()

    def configure(self, *, STREAM: TextIO | None = None, **options: Any) -> None:
        self._stream = STREAM

    @property
    def stream(self) -> TextIO:
        # Looked up per write so pytest's capsys and Django's call_command(stdout=...)
        # see the output.
        return self._stream or sys.stdout

    def send_message(self, message: OutgoingMessage) -> str:
        gateway_message_id = f"console-{uuid.uuid4().hex}"
        to = ", ".join(message.to) if isinstance(message.to, tuple) else message.to
        lines = [f"[{message.channel}] to {to} ({gateway_message_id})"]
        if message.subject:
            lines.append(f"Subject: {message.subject}")
        lines += [message.body]
        self.write(lines)
        return gateway_message_id

    def start_call(self, call: OutgoingCall) -> str:
        gateway_call_id = f"console-{uuid.uuid4().hex}"
        self.write([f"[call] ring {call.to}, then connect {call.connect_to} ({gateway_call_id})"])
        return gateway_call_id

    def write(self, lines: list[str]) -> None:
        with self._write_lock:
            self.stream.write("\n".join([*lines, "-" * 72]) + "\n")
            self.stream.flush()
