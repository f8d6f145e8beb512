"""Notification ids that grow with time: UUID version 7 (RFC 9562, section 5.7).

``Notification.id`` is a UUID whose field default is ``uuid4`` (the specification's), and
objects made any other way (the admin, a project's own code) still get one. The rows this
app writes itself (``notify()``/``notify_many()``, a resend, an escalation step) get an id
from :func:`new_id` instead: the Unix time in milliseconds in its first 48 bits, so ids
made later sort later.

Why: a random primary key sends every new row to a random leaf of the primary-key index,
and rows inserted together are scattered across it; delivery finds each wave's rows by
those keys. Delivering 10,000 queued emails (``bench/bench_delivery.py``, medians of 5)
took 0.84 s instead of 1.15 s on SQLite, and 1.13 s instead of 1.32 s on PostgreSQL,
where the planner, seeing the keys follow the rows' order on disk, reads a wave's rows
through the primary key instead of scanning the table for each wave
(tests/test_time_ordered_ids.py checks the plan; docs/performance.rst has the figures).

What the id gives away is when the row was made, to the millisecond; the notification's
``created_at`` says the same to anyone who can read the row. Of the 128 bits, 62 are
random (``os.urandom``): ids made in the same process never repeat (see
:class:`TimeOrderedIds`), and two processes that make an id in the same fraction of a
millisecond collide with a chance of one in 2**62.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable

__all__ = ["TimeOrderedIds", "new_id"]

#: The version and variant fields of a version-7 UUID, in place.
VERSION_7 = 0x7 << 76
RFC_VARIANT = 0b10 << 62
#: The 62 bits after the variant: random.
RANDOM_BITS = (1 << 62) - 1
#: The 12 bits after the version hold the fraction of the millisecond, in 4,096 steps of
#: about 244 ns (RFC 9562, section 6.2, method 3).
FRACTION_BITS = 12
FRACTION_STEPS = 1 << FRACTION_BITS
NANOSECONDS_PER_MILLISECOND = 1_000_000


class TimeOrderedIds:
    """A source of version-7 UUIDs, each greater than the one before in this process.

    The time part (milliseconds and the fraction) of each id is at least one step past
    the last one's, so ids keep their order when several are made within one step,
    from several threads, or while the system clock is set back; they run ahead of the
    clock until it catches up.
    """

    def __init__(self, clock: Callable[[], int] = time.time_ns) -> None:
        #: Nanoseconds since the Unix epoch (a test gives a clock that goes back).
        self._clock = clock
        self._lock = threading.Lock()
        #: The last time part handed out: milliseconds << 12 | fraction.
        self._last = 0

    def __call__(self) -> uuid.UUID:
        milliseconds, nanoseconds = divmod(self._clock(), NANOSECONDS_PER_MILLISECOND)
        stamp = milliseconds << FRACTION_BITS | (
            nanoseconds * FRACTION_STEPS // NANOSECONDS_PER_MILLISECOND
        )
        with self._lock:
            if stamp <= self._last:
                stamp = self._last + 1
            self._last = stamp
        random_part = int.from_bytes(os.urandom(8), "big") & RANDOM_BITS
        return uuid.UUID(
            int=(stamp >> FRACTION_BITS) << 80
            | VERSION_7
            | (stamp & (FRACTION_STEPS - 1)) << 64
            | RFC_VARIANT
            | random_part
        )


#: This process's ids: ``new_id()`` is a new version-7 UUID.
new_id = TimeOrderedIds()
