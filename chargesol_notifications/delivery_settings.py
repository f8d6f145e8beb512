"""How delivery is paced: notifications per task, and each channel's concurrency and rate.

``CHARGESOL_NOTIFICATIONS["DELIVERY_BATCH_SIZE"]`` is how many notifications one delivery
task of ``notify_many()`` (or of ``deliver_queued``) carries. Each ``CHANNELS`` entry may
add, beside ``BACKEND`` and ``OPTIONS``:

* ``CONCURRENCY``: how many messages of the channel one worker process has in flight at
  once. Delivery claims that many rows together (a *wave*), sends them at once from a
  thread pool and records them together; the default is the backend's
  :attr:`~.backends.base.BaseChannelBackend.default_concurrency`.
* ``RATE_LIMIT``: messages per second for the channel, summed over every worker that
  shares the ``RATE_LIMIT_CACHE`` (see :mod:`.throttle`). None (the default): no limit.

Every value is checked by the system checks (E014) and again where delivery reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .backends import channel_setting_name, configured_channels, get_backend
from .conf import SETTING_NAME, get_setting
from .exceptions import ConfigurationError

#: Most notifications one delivery task may carry: its arguments travel through the
#: task queue, and one task should not hold a worker for hours.
MAX_BATCH_SIZE = 10_000
#: Most sends one worker process may have in flight for one channel (threads).
MAX_CONCURRENCY = 256
#: Highest rate limit accepted, messages per second; above it, there is no point.
MAX_RATE_LIMIT = 10_000.0


@dataclass(frozen=True)
class ChannelPacing:
    """How one channel's messages go out."""

    #: Messages in flight at once per worker process: the size of a wave.
    concurrency: int
    #: Messages per second across all workers, or None for no limit.
    rate_limit: float | None


def batch_size() -> int:
    """Notifications per delivery task (``DELIVERY_BATCH_SIZE``)."""
    return checked_batch_size(get_setting("DELIVERY_BATCH_SIZE"))


def checked_batch_size(value: Any) -> int:
    if not is_int(value) or not 1 <= value <= MAX_BATCH_SIZE:
        raise ConfigurationError(
            f"{SETTING_NAME}['DELIVERY_BATCH_SIZE'] must be a whole number from 1 to "
            f"{MAX_BATCH_SIZE}, not {value!r}."
        )
    return int(value)


def channel_pacing(channel: str) -> ChannelPacing:
    """The concurrency and rate limit of ``channel``, its backend's defaults filled in."""
    config = configured_channels()[channel] or {}
    concurrency = config.get("CONCURRENCY")
    if concurrency is None:
        concurrency = type(get_backend(channel)).default_concurrency
    return ChannelPacing(
        concurrency=checked_concurrency(channel, concurrency),
        rate_limit=checked_rate_limit(channel, config.get("RATE_LIMIT")),
    )


def checked_concurrency(channel: str, value: Any) -> int:
    if not is_int(value) or not 1 <= value <= MAX_CONCURRENCY:
        raise ConfigurationError(
            f"{channel_setting_name(channel, 'CONCURRENCY')} must be a whole number from 1 "
            f"to {MAX_CONCURRENCY}, not {value!r}."
        )
    return int(value)


def checked_rate_limit(channel: str, value: Any) -> float | None:
    if value is None:
        return None
    if not is_number(value) or not 0 < value <= MAX_RATE_LIMIT:
        raise ConfigurationError(
            f"{channel_setting_name(channel, 'RATE_LIMIT')} must be None or a number of "
            f"messages per second above 0 and at most {MAX_RATE_LIMIT:g}, not {value!r}."
        )
    return float(value)


def is_int(value: Any) -> bool:
    # bool is an int to Python, never a count to anyone writing settings.
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return (is_int(value) or isinstance(value, float)) and value == value  # not NaN
