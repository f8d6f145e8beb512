"""Sending one wave of messages at once, paced: a thread per message in flight.

The delivering thread takes each message's turn from :mod:`.throttle` (so the cache is
only ever used from that thread), hands the send to a pool thread, and collects the
answers in order. Each pool thread sends through a backend instance of its own (the
backends handler is per thread), and no pool thread touches the database: backends
talk to their gateway and nothing else.

A message the gateway refuses with HTTP 429 (:class:`~.exceptions.ThrottledDeliveryError`)
pauses the channel for every worker and is sent again after the pause, up to
:data:`MAX_THROTTLED_ROUNDS` times; only then does the refusal count as a failed attempt.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from . import throttle
from .backends import get_backend
from .backends.base import BaseChannelBackend, OutgoingMessage, SendAttempt, as_delivery_error
from .delivery_settings import ChannelPacing
from .exceptions import ThrottledDeliveryError

#: How many times a wave sends a throttled message again (each after a pause) before
#: the 429 stands as a transient failure of that attempt. With pauses doubling from 1 s,
#: five rounds wait about 31 s in all.
MAX_THROTTLED_ROUNDS = 5

T = TypeVar("T")

_executors: dict[int, ThreadPoolExecutor] = {}
_executors_lock = threading.Lock()


def executor(workers: int) -> ThreadPoolExecutor:
    """The process's pool of ``workers`` sending threads (kept: threads cost to start)."""
    with _executors_lock:
        pool = _executors.get(workers)
        if pool is None:
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chargesol-send")
            _executors[workers] = pool
        return pool


def look_up_one(
    channel: str, message: OutgoingMessage, backend: BaseChannelBackend | None = None
) -> SendAttempt | None:
    """Ask the gateway for ``message`` after an uncertain attempt; never raises.
    ``backend``: this thread's backend of ``channel``, when the caller has it."""
    try:
        return (backend or get_backend(channel)).look_up(message)
    except Exception as exc:  # a backend that cannot even be built in this thread
        during = f"looking up notification {message.notification_id}"
        return SendAttempt(message=message, error=as_delivery_error(exc, during=during))


def send_one(
    channel: str, message: OutgoingMessage, backend: BaseChannelBackend | None = None
) -> SendAttempt:
    """Send ``message`` through this thread's backend of ``channel`` (``backend``, when
    the caller has it); never raises."""
    try:
        return (backend or get_backend(channel)).send_unchecked(message)
    except Exception as exc:
        during = f"sending notification {message.notification_id}"
        return SendAttempt(message=message, error=as_delivery_error(exc, during=during))


def send_wave(
    channel: str, messages: list[OutgoingMessage], pacing: ChannelPacing
) -> list[SendAttempt]:
    """Send every message of ``channel``; return what each came to, in order.

    First the lookups of the messages whose last attempt may have reached the gateway,
    all of them; then the sends. A lookup thus never runs while another message of the
    wave is being created, which it could take for its own (same recipient, same text).
    """
    results: list[SendAttempt | None] = [None] * len(messages)
    uncertain = [i for i, message in enumerate(messages) if message.uncertain_attempt]
    for index, found in zip(
        uncertain,
        run_all(channel, look_up_one, [messages[i] for i in uncertain], pacing),
        strict=True,
    ):
        results[index] = found
    pending = [i for i, result in enumerate(results) if result is None]
    for round_number in range(MAX_THROTTLED_ROUNDS + 1):
        attempts = send_paced(channel, [messages[i] for i in pending], pacing)
        throttled: list[int] = []
        retry_after: float | None = None
        for index, attempt in zip(pending, attempts, strict=True):
            results[index] = attempt
            if isinstance(attempt.error, ThrottledDeliveryError):
                throttled.append(index)
                if attempt.error.retry_after is not None:
                    retry_after = max(retry_after or 0.0, attempt.error.retry_after)
        if len(throttled) < len(pending):
            throttle.resume(channel)
        if not throttled or round_number == MAX_THROTTLED_ROUNDS:
            break
        throttle.pause(channel, retry_after)
        pending = throttled
    return [attempt for attempt in results if attempt is not None]


def send_paced(
    channel: str, messages: list[OutgoingMessage], pacing: ChannelPacing
) -> list[SendAttempt]:
    """One round: each message waits its turn (rate limit, pause), then goes out."""
    if not messages:
        return []
    rate = pacing.rate_limit
    if rate is None:
        throttle.wait_for_slot(channel, None)  # only waits out a pause, once per round
        return run_all(channel, send_one, messages, pacing)
    return run_all(
        channel,
        send_one,
        messages,
        pacing,
        before_each=lambda: throttle.wait_for_slot(channel, rate),
    )


def run_all(
    channel: str,
    call: Callable[[str, OutgoingMessage, BaseChannelBackend | None], T],
    messages: list[OutgoingMessage],
    pacing: ChannelPacing,
    *,
    before_each: Callable[[], object] | None = None,
) -> list[T]:
    """``call(channel, message)`` for each message, in order: from the pool when the
    channel sends in parallel, else one after another in this thread. ``before_each``
    runs in this thread before each message is handed over (a rate limit's wait)."""
    in_parallel = (
        len(messages) > 1
        and pacing.concurrency > 1
        and type(get_backend(channel)).sends_in_parallel
    )
    if not in_parallel:
        # In this thread, one backend serves the whole round: found once, not per message.
        backend = get_backend(channel)
        done: list[T] = []
        for message in messages:
            if before_each is not None:
                before_each()
            done.append(call(channel, message, backend))
        return done
    pool = executor(pacing.concurrency)
    futures: list[Future[T]] = []
    for message in messages:
        if before_each is not None:
            before_each()
        # No backend passed: each pool thread uses its own (get_backend() per thread).
        futures.append(pool.submit(call, channel, message, None))
    return [future.result() for future in futures]
