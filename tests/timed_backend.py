"""A channel backend for tests that takes its time and keeps a log of every send: when
it started and ended, in which thread, and how many sends were in flight at once.
Configured through settings like any other backend (no patching)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from chargesol_notifications.backends.base import BaseChannelBackend, OutgoingMessage


@dataclass(frozen=True)
class LoggedSend:
    notification_id: str
    thread: str
    started: float
    ended: float
    #: Sends in flight when this one started (itself included).
    in_flight: int


#: Every send, in the order they ended.
log: list[LoggedSend] = []
_lock = threading.Lock()
_in_flight = 0


def reset() -> None:
    global _in_flight
    with _lock:
        log.clear()
        _in_flight = 0


class TimedBackend(BaseChannelBackend):
    """OPTIONS: ``SECONDS``, how long each send takes (default 0.02)."""

    option_names = frozenset({"SECONDS"})

    def configure(self, *, SECONDS: float = 0.02, **options: Any) -> None:
        self.seconds = SECONDS

    def send_message(self, message: OutgoingMessage) -> str:
        global _in_flight
        started = time.time()
        with _lock:
            _in_flight += 1
            in_flight = _in_flight
        time.sleep(self.seconds)
        with _lock:
            _in_flight -= 1
            log.append(
                LoggedSend(
                    str(message.notification_id),
                    threading.current_thread().name,
                    started,
                    time.time(),
                    in_flight,
                )
            )
        return f"TIMED-{message.notification_id}"


class FindingBackend(TimedBackend):
    """Finds every message it is asked to look up: OPTIONS ``FOUND``, the gateway id."""

    option_names = frozenset({"SECONDS", "FOUND"})
    finds_lost_sends = True

    def configure(self, *, SECONDS: float = 0.0, FOUND: str = "SMFOUND", **options: Any) -> None:
        self.seconds = SECONDS
        self.found = FOUND

    def find_sent(self, message: OutgoingMessage) -> str | None:
        return self.found
