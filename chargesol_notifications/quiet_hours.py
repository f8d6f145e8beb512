"""Quiet hours: when a non-urgent message may go out, and when it waits until.

Four keys of ``CHARGESOL_NOTIFICATIONS`` (see docs/scheduling.rst):

* ``QUIET_HOURS``: channel (or ``"default"``) -> ``(opening, closing)`` as ``"HH:MM"``, or
  ``None`` for no quiet hours on that channel. Merged over the default dict;
  ``QUIET_HOURS = None`` switches quiet hours off everywhere.
* ``QUIET_HOURS_TIME_ZONE``: the zone the hours are read in (None: ``TIME_ZONE``).
* ``URGENT_CONTEXT_TYPES`` and ``URGENT_TEMPLATES``: what is sent at any hour.

A window is half-open, ``[opening, closing)``: with ``("08:00", "21:00")`` a message of
08:00 goes at once and one of 21:00 waits for 08:00 the next day. A window whose closing
is earlier than its opening crosses midnight (``("22:00", "06:00")``). Every day is alike:
there are no weekdays or holidays.

This module is the one place that reads and validates those keys: ``notify()`` asks
:func:`release_time`, and the system checks (E046-E049) call the same ``checked_*``
functions, so the checks and the runtime can never disagree about what is valid.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings

from .choices import Channel, ContextType
from .conf import DEFAULTS, SETTING_NAME, get_setting
from .exceptions import ConfigurationError, InvalidMessageError, UnknownChannelError

#: The key of ``QUIET_HOURS`` that applies to every channel not named in it.
DEFAULT_KEY = "default"
#: ``"HH:MM"``, 24-hour clock, leading zero required so "8:00" and "08:00" cannot both
#: appear in one settings file and be read as different things by a reviewer.
HH_MM = re.compile(r"^(?P<hour>[01]\d|2[0-3]):(?P<minute>[0-5]\d)$")


@dataclass(frozen=True)
class OpeningHours:
    """The part of each day in which non-urgent messages of one channel may go out."""

    opens: time
    closes: time

    @property
    def crosses_midnight(self) -> bool:
        return self.closes < self.opens

    def is_open_at(self, wall_clock: time) -> bool:
        """Whether a local wall-clock time falls in ``[opens, closes)``."""
        if self.crosses_midnight:
            return wall_clock >= self.opens or wall_clock < self.closes
        return self.opens <= wall_clock < self.closes


# -- the settings, parsed and validated ---------------------------------------------------


def quiet_hours_setting_name(key: str | None = None) -> str:
    """How messages name the setting, e.g. ``CHARGESOL_NOTIFICATIONS['QUIET_HOURS']['sms']``."""
    name = f"{SETTING_NAME}['QUIET_HOURS']"
    return name if key is None else f"{name}[{key!r}]"


def checked_window_key(key: Any) -> str:
    """A key of ``QUIET_HOURS``: ``"default"`` or a channel."""
    if key != DEFAULT_KEY and key not in Channel.values:
        raise ConfigurationError(
            f"{quiet_hours_setting_name(key)}: {key!r} is not a channel; the keys are "
            f"{DEFAULT_KEY!r} and {', '.join(Channel.values)}."
        )
    return key


def checked_window(key: str, value: Any) -> OpeningHours | None:
    """One channel's ``(opening, closing)``, or None for no quiet hours on it."""
    if value is None:
        return None
    setting = quiet_hours_setting_name(key)
    if isinstance(value, str) or not isinstance(value, list | tuple) or len(value) != 2:
        raise ConfigurationError(
            f'{setting} must be a pair ("HH:MM", "HH:MM") of opening and closing times, '
            f"or None for no quiet hours, not {value!r}."
        )
    opens, closes = (_checked_time(setting, item) for item in value)
    if opens == closes:
        # Open all day or never? Either reading would surprise half the readers, and
        # "never" would hold non-urgent messages forever: None says "always" plainly.
        raise ConfigurationError(
            f"{setting} opens and closes at the same time ({value!r}); use None for a "
            "channel without quiet hours."
        )
    return OpeningHours(opens, closes)


def _checked_time(setting: str, value: Any) -> time:
    if isinstance(value, time):
        if value.tzinfo is not None or value.second or value.microsecond:
            raise ConfigurationError(
                f"{setting}: {value!r} must be hours and minutes without a time zone "
                "(the zone is QUIET_HOURS_TIME_ZONE)."
            )
        return value
    if isinstance(value, str) and (match := HH_MM.match(value)):
        return time(int(match["hour"]), int(match["minute"]))
    raise ConfigurationError(
        f'{setting}: {value!r} is not a time written "HH:MM" (24-hour clock, e.g. "08:00").'
    )


def checked_quiet_hours(value: Any) -> dict[str, OpeningHours | None] | None:
    """The whole ``QUIET_HOURS`` value merged over the default; None: switched off."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigurationError(
            f"{quiet_hours_setting_name()} must be a dict of channel -> (opening, closing), "
            f"or None to switch quiet hours off, not {value!r}."
        )
    # Merged, so that a project that only moves the SMS hours keeps the stricter calls.
    merged = {**DEFAULTS["QUIET_HOURS"], **value}
    return {checked_window_key(key): checked_window(key, item) for key, item in merged.items()}


def checked_time_zone(value: Any) -> tzinfo:
    """``QUIET_HOURS_TIME_ZONE`` as a zone; None means Django's ``TIME_ZONE``."""
    if value is None:
        value, setting = settings.TIME_ZONE or "UTC", "settings.TIME_ZONE"
    else:
        setting = f"{SETTING_NAME}['QUIET_HOURS_TIME_ZONE']"
    if isinstance(value, ZoneInfo):
        return value
    try:
        if not isinstance(value, str):
            raise TypeError
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        # ZoneInfo raises ValueError for names that are not paths inside the database
        # ("../etc"), ZoneInfoNotFoundError for the rest.
        raise ConfigurationError(
            f"{setting} is {value!r}, which is not a time zone of the IANA database "
            '(e.g. "Europe/London").'
        ) from None


def checked_urgent_context_types(value: Any) -> frozenset[str]:
    names = _checked_names("URGENT_CONTEXT_TYPES", value, "context types")
    unknown = sorted(names - set(ContextType.values))
    if unknown:
        raise ConfigurationError(
            f"{SETTING_NAME}['URGENT_CONTEXT_TYPES'] lists {', '.join(map(repr, unknown))}, "
            f"which {'is not a context type' if len(unknown) == 1 else 'are not context types'}"
            f"; the context types are {', '.join(ContextType.values)}."
        )
    return names


def checked_urgent_templates(value: Any) -> frozenset[str]:
    # Names only, not looked up: a check must not need the database, and a template
    # may be created by staff after the deploy that lists it.
    return _checked_names("URGENT_TEMPLATES", value, "NotificationTemplate names")


def _checked_names(key: str, value: Any, what: str) -> frozenset[str]:
    # A bare string is iterable, and "emergency" would otherwise be read as nine letters.
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigurationError(
            f"{SETTING_NAME}[{key!r}] must be a list of {what}, not {value!r}."
        )
    names = list(value)
    if not all(isinstance(name, str) and name for name in names):
        raise ConfigurationError(
            f"{SETTING_NAME}[{key!r}] must be a list of {what} (non-empty strings), not {value!r}."
        )
    return frozenset(names)


def opening_hours(channel: str) -> OpeningHours | None:
    """The opening hours of ``channel``, or None when it has no quiet hours."""
    windows = checked_quiet_hours(get_setting("QUIET_HOURS"))
    if windows is None:
        return None
    return windows[channel] if channel in windows else windows.get(DEFAULT_KEY)


def quiet_hours_time_zone() -> tzinfo:
    return checked_time_zone(get_setting("QUIET_HOURS_TIME_ZONE"))


# -- the two questions notify() asks --------------------------------------------------------


def is_urgent(
    context_type: str = "", template_name: str | None = None, urgent: bool | None = None
) -> bool:
    """Whether a message skips quiet hours.

    The caller's ``urgent=True``/``False`` wins; otherwise a template listed in
    ``URGENT_TEMPLATES`` or a context type listed in ``URGENT_CONTEXT_TYPES`` is urgent.
    """
    if urgent is not None:
        if not isinstance(urgent, bool):
            raise InvalidMessageError(f"urgent must be True, False or None, not {urgent!r}.")
        return urgent
    if template_name and template_name in checked_urgent_templates(get_setting("URGENT_TEMPLATES")):
        return True
    return bool(context_type) and context_type in checked_urgent_context_types(
        get_setting("URGENT_CONTEXT_TYPES")
    )


def release_time(
    channel: str,
    *,
    context_type: str = "",
    template_name: str | None = None,
    urgent: bool | None = None,
    at: datetime | None = None,
) -> datetime | None:
    """When a message created ``at`` (default: now) on ``channel`` may go out.

    None when it may go now: it is urgent (see :func:`is_urgent`), the channel has no
    quiet hours, or ``at`` is inside the channel's opening hours. Otherwise the next
    opening, an aware datetime in ``QUIET_HOURS_TIME_ZONE``, at the configured wall-clock
    time whatever the DST offset of that day.
    """
    if channel not in Channel.values:
        raise UnknownChannelError(
            f"{channel!r} is not a channel; the channels are {', '.join(Channel.values)}."
        )
    if at is None:
        at = datetime.now(UTC)
    elif at.tzinfo is None or at.utcoffset() is None:
        # A naive time cannot be placed in the day of any zone without guessing.
        raise ValueError(f"at must be an aware datetime, not {at!r}.")
    if is_urgent(context_type, template_name, urgent):
        return None
    hours = opening_hours(channel)
    if hours is None:
        return None
    local = at.astimezone(quiet_hours_time_zone())
    if hours.is_open_at(local.time()):
        return None
    return next_opening(hours.opens, local)


def next_opening(opens: time, local: datetime) -> datetime:
    """The first instant after ``local`` at which the wall clock of its zone reads ``opens``.

    Built from the date and the wall-clock time, not by adding hours to ``local``, so a
    DST change in between keeps the opening at, say, 08:00. A wall-clock time that a
    spring-forward skips is read with the offset before the change (zoneinfo's
    ``fold=0``): 01:30 on that night in London is 02:30 summer time. One that an autumn
    change repeats is its first occurrence, or the second when the first is past.
    """
    zone = local.tzinfo
    # Python compares datetimes of one zone by their wall clocks, ignoring fold, so the
    # comparison is made in UTC, where an instant has one reading.
    after = local.astimezone(UTC)
    day: date = local.date()
    for candidate_day in (day, day + timedelta(days=1)):
        for fold in (0, 1):
            wall = datetime.combine(candidate_day, opens, tzinfo=zone).replace(fold=fold)
            opening = wall.astimezone(UTC)
            if opening > after:
                # Back to the zone: this also turns a skipped wall-clock time into a
                # real one.
                return opening.astimezone(zone)
    raise AssertionError("a day always has an opening within the next two")  # pragma: no cover
