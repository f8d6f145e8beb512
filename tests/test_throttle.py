"""Rate limits and 429 pauses, shared through the cache: every worker that reads the same
cache keeps to the same windows. A clock the test moves stands in for time."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from django.core.cache import caches

from chargesol_notifications import throttle


class Clock:
    """time.time and time.sleep for a test: sleeping moves the clock."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def _fresh_cache():
    caches["default"].clear()
    yield
    caches["default"].clear()


def slot(clock: Clock, channel: str = "sms", rate: float | None = 50.0) -> float:
    return throttle.wait_for_slot(channel, rate, sleep=clock.sleep, clock=clock)


@pytest.mark.parametrize(
    ("rate", "window", "capacity"),
    [(50.0, 0.1, 5), (10.0, 0.1, 1), (1.0, 1.0, 1), (0.5, 2.0, 1), (3.0, 1 / 3, 1)],
)
def test_windows(rate, window, capacity):
    assert throttle.window_of(rate) == pytest.approx((window, capacity))


def test_a_window_admits_its_share_and_the_next_send_waits_for_the_next_window():
    clock = Clock()
    starts = []
    for _ in range(23):
        slot(clock, rate=50.0)
        starts.append(clock.now)
    per_window = Counter(math.floor(t / 0.1 + 1e-9) for t in starts)
    assert max(per_window.values()) == 5
    # 23 sends at 50/s: five windows of 0.1 s, so about 0.4 s from the first to the last.
    assert starts[-1] - starts[0] == pytest.approx(0.4, abs=0.1)


def test_two_workers_sharing_the_cache_share_the_rate():
    """Two workers (two loops over the same cache) together stay within the rate."""
    clock = Clock()
    starts = []
    for _ in range(20):
        for _worker in range(2):
            slot(clock, rate=10.0)
            starts.append(clock.now)
    per_window = Counter(math.floor(t / 0.1 + 1e-9) for t in starts)
    assert set(per_window.values()) == {1}
    assert starts[-1] - starts[0] == pytest.approx(3.9, abs=0.1)


def test_channels_have_rates_of_their_own():
    clock = Clock()
    for _ in range(5):
        slot(clock, "sms", rate=50.0)
    slot(clock, "whatsapp", rate=50.0)
    assert clock.slept == []


def test_no_rate_limit_never_waits():
    clock = Clock()
    for _ in range(100):
        assert slot(clock, rate=None) == 0.0


def test_a_429_pauses_the_channel_for_every_worker():
    clock = Clock()
    assert throttle.pause("sms", clock=clock) == throttle.FIRST_PAUSE
    # Another worker, even without a rate limit, waits the pause out before sending.
    waited = slot(clock, rate=None)
    assert waited == pytest.approx(throttle.FIRST_PAUSE)
    # Other channels go on.
    assert slot(clock, "email", rate=None) == 0.0


def test_pauses_double_while_429s_continue_and_start_over_after_a_send():
    clock = Clock()
    pauses = [throttle.pause("sms", clock=clock) for _ in range(7)]
    assert pauses == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    throttle.resume("sms")
    assert throttle.pause("sms", clock=clock) == 1.0


def test_the_gateways_retry_after_wins_and_the_longest_pause_stands():
    clock = Clock()
    throttle.pause("sms", retry_after=5, clock=clock)
    throttle.pause("sms", retry_after=2, clock=clock)  # a shorter one does not cut it
    assert slot(clock, rate=None) == pytest.approx(5.0)


def test_a_pause_expires():
    clock = Clock()
    throttle.pause("sms", clock=clock)
    clock.now += throttle.FIRST_PAUSE + 0.01
    assert slot(clock, rate=None) == 0.0
