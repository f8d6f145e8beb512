"""When to try a transient failure again: exponential backoff with jitter, bounded."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from .conf import get_setting


def max_attempts() -> int:
    """Attempts in all, the first send included."""
    return max(1, int(get_setting("MAX_ATTEMPTS")))


def base_delay(failures: int) -> float:
    """Seconds to wait after the ``failures``-th failed attempt, before jitter."""
    base = float(get_setting("RETRY_BACKOFF_SECONDS"))
    cap = float(get_setting("RETRY_BACKOFF_MAX_SECONDS"))
    return min(cap, base * 2.0 ** (failures - 1))


def retry_delay(failures: int) -> float:
    """``base_delay`` with "equal jitter": between half of it and all of it.

    The spread keeps a burst of messages that failed together (a gateway outage) from
    retrying together; the lower bound keeps the backoff meaningful.
    """
    delay = base_delay(failures)
    return delay / 2 + random.uniform(0, delay / 2)


def due_at(failures: int, last_failure_at: datetime | None) -> datetime | None:
    """When a notification with ``failures`` transient failures may be tried again: the
    lower bound of its jittered wait after the last one. None: at once."""
    if failures == 0 or last_failure_at is None:
        return None
    return last_failure_at + timedelta(seconds=base_delay(failures) / 2)


def is_due(failures: int, last_failure_at: datetime | None, now: datetime) -> bool:
    """Whether a notification with ``failures`` transient failures may be tried now."""
    due = due_at(failures, last_failure_at)
    return due is None or now >= due


def next_send_at(
    scheduled_for: datetime | None, failures: int, last_failure_at: datetime | None
) -> datetime | None:
    """When a notification may be tried: not before its scheduled time nor before its
    retry is due, whichever is later. None: at once."""
    times = [t for t in (scheduled_for, due_at(failures, last_failure_at)) if t is not None]
    return max(times, default=None)
