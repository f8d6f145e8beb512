"""Pacing sends across every worker of a deployment: rate limits, and pauses after a 429.

Workers share nothing but the database and Django's cache, so both live in the cache
named by ``RATE_LIMIT_CACHE`` (default ``"default"``). That cache must be shared by the
workers and increment atomically (Redis, Memcached) for the limit to hold across them:
with ``LocMemCache`` each process keeps its own count, and the database and file caches
increment by reading, then writing (system check W015 warns of these).

**Rate limit.** Time is cut into windows of ``max(0.1 s, 1/rate)``; each window admits
``rate * window`` sends (at least one), counted with the cache's atomic ``incr`` under a
key per channel and window. A send that finds its window full waits for the next. So
no window of that length ever sees more sends started than its share, whatever the
number of workers; within a window the sends may come together.

**Pause.** A gateway that answers HTTP 429 has refused the request and created nothing.
:func:`pause` then stops the channel for every worker: until the gateway's
``Retry-After`` when it gave one, else for a pause that doubles with each 429 in a row
(1 s, 2 s, ... up to :data:`MAX_PAUSE`) and starts again at 1 s once a send goes through.
Delivery sends the refused message again after the pause without counting an attempt
(see :mod:`chargesol_notifications.waves`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from django.core.cache import BaseCache, caches

from .conf import get_setting

#: Prefix of every cache key written here.
KEY_PREFIX = "chargesol_notifications:throttle"
#: Shortest rate-limit window, seconds: a finer one would cost a cache round trip per
#: handful of messages for no smoother flow.
MIN_WINDOW = 0.1
#: First and longest pause of a channel after a 429, seconds.
FIRST_PAUSE = 1.0
MAX_PAUSE = 30.0

Sleep = Callable[[float], None]
Clock = Callable[[], float]


def throttle_cache() -> BaseCache:
    return caches[str(get_setting("RATE_LIMIT_CACHE"))]


def window_of(rate: float) -> tuple[float, int]:
    """(window length in seconds, sends admitted per window) for ``rate`` per second."""
    window = max(MIN_WINDOW, 1.0 / rate)
    return window, max(1, round(rate * window))


def wait_for_slot(
    channel: str,
    rate: float | None,
    *,
    sleep: Sleep = time.sleep,
    clock: Clock = time.time,
) -> float:
    """Block until ``channel`` may send one more message; return the seconds waited.

    Waits out a pause (:func:`pause`) first, then takes a place in the current rate
    window, or the next one with room.
    """
    waited = 0.0
    cache = throttle_cache()
    while True:
        now = clock()
        paused_until = cache.get(pause_key(channel))
        if paused_until is not None and paused_until > now:
            delay = float(paused_until) - now
            sleep(delay)
            waited += delay
            continue
        if rate is None:
            return waited
        window, capacity = window_of(rate)
        slot = math.floor(now / window)
        key = f"{KEY_PREFIX}:rate:{channel}:{slot}"
        # add() creates the counter only if absent; incr() is atomic on every shared
        # cache backend. The key outlives its window a little, then expires.
        cache.add(key, 0, timeout=math.ceil(window) + 2)
        try:
            taken = cache.incr(key)
        except ValueError:  # expired between add() and incr(): take the next turn
            continue
        if taken <= capacity:
            return waited
        delay = (slot + 1) * window - now
        sleep(delay)
        waited += delay


def pause_key(channel: str) -> str:
    return f"{KEY_PREFIX}:pause:{channel}"


def streak_key(channel: str) -> str:
    return f"{KEY_PREFIX}:streak:{channel}"


def pause(channel: str, retry_after: float | None = None, *, clock: Clock = time.time) -> float:
    """Stop ``channel``'s sends on every worker after a 429; return the pause in seconds."""
    cache = throttle_cache()
    if retry_after is not None and retry_after > 0:
        seconds = min(float(retry_after), MAX_PAUSE)
    else:
        cache.add(streak_key(channel), 0, timeout=int(MAX_PAUSE * 4))
        try:
            streak = cache.incr(streak_key(channel))
        except ValueError:
            streak = 1
        seconds = min(FIRST_PAUSE * 2 ** (streak - 1), MAX_PAUSE)
    until = clock() + seconds
    current = cache.get(pause_key(channel))
    # Several workers hit the limit at once: the longest pause stands.
    if current is None or current < until:
        cache.set(pause_key(channel), until, timeout=math.ceil(seconds) + 1)
    return seconds


def resume(channel: str) -> None:
    """A send went through: the next 429 starts again from the first pause."""
    cache = throttle_cache()
    if cache.get(streak_key(channel)) is not None:
        cache.delete(streak_key(channel))
