"""Quiet hours (quiet_hours.py): when a non-urgent message waits, and until when.

Every time is a fixed datetime; nothing reads the clock. The test settings' TIME_ZONE is
Europe/London, so the defaults are read there unless a test says otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from chargesol_notifications.exceptions import (
    InvalidMessageError,
    NotificationError,
    UnknownChannelError,
)
from chargesol_notifications.quiet_hours import is_urgent, release_time

pytestmark = pytest.mark.usefixtures("default_quiet_hours")

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = timedelta(hours=1)


def london(month: int, day: int, hour: int, minute: int = 0, *, fold: int = 0) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=LONDON, fold=fold)


def elapsed(start: datetime, end: datetime) -> timedelta:
    # Real time: Python subtracts two datetimes of one zone by their wall clocks.
    return end.astimezone(UTC) - start.astimezone(UTC)


def utc(moment: datetime) -> datetime:
    # An instant in the repeated hour of an autumn change is never == to a datetime of
    # another zone (PEP 495), so instants are compared in UTC.
    return moment.astimezone(UTC)


@pytest.fixture
def quiet(settings):
    """Set keys of CHARGESOL_NOTIFICATIONS for one test, keeping the others."""

    def configure(**keys: object) -> None:
        settings.CHARGESOL_NOTIFICATIONS = {**settings.CHARGESOL_NOTIFICATIONS, **keys}

    return configure


# -- the default opening hours, 08:00-21:00 (calls 09:00-20:00) ------------------------


def test_late_evening_waits_for_eight_the_next_morning():
    released = release_time("sms", at=london(1, 15, 23, 30))
    assert released == london(1, 16, 8, 0)
    assert released.tzinfo == LONDON


def test_just_before_opening_waits_for_eight_the_same_day():
    assert release_time("sms", at=london(1, 15, 7, 0)) == london(1, 15, 8, 0)
    assert release_time("sms", at=london(1, 15, 7, 59)) == london(1, 15, 8, 0)


def test_after_midnight_waits_for_eight_the_same_day():
    assert release_time("email", at=london(1, 15, 0, 0)) == london(1, 15, 8, 0)


def test_the_opening_minute_is_open_and_the_closing_minute_is_closed():
    # Half-open [08:00, 21:00): "until 21:00" means nothing goes at 21:00.
    assert release_time("sms", at=london(1, 15, 8, 0)) is None
    assert release_time("sms", at=london(1, 15, 20, 59)) is None
    assert release_time("sms", at=london(1, 15, 21, 0)) == london(1, 16, 8, 0)


def test_the_last_second_before_closing_is_open():
    assert release_time("sms", at=london(1, 15, 20, 59).replace(second=59)) is None


@pytest.mark.parametrize("channel", ["sms", "email", "whatsapp", "push"])
def test_every_channel_but_calls_has_the_default_hours(channel):
    assert release_time(channel, at=london(1, 15, 8, 30)) is None
    assert release_time(channel, at=london(1, 15, 20, 30)) is None
    assert release_time(channel, at=london(1, 15, 21, 30)) == london(1, 16, 8, 0)


def test_calls_are_stricter():
    assert release_time("call", at=london(1, 15, 8, 30)) == london(1, 15, 9, 0)
    assert release_time("call", at=london(1, 15, 9, 0)) is None
    assert release_time("call", at=london(1, 15, 19, 59)) is None
    assert release_time("call", at=london(1, 15, 20, 0)) == london(1, 16, 9, 0)


def test_at_may_be_given_in_any_zone():
    # 23:30 UTC in January is 23:30 in London; in July it is 00:30 summer time.
    assert release_time("sms", at=datetime(2025, 1, 15, 23, 30, tzinfo=UTC)) == london(1, 16, 8)
    assert release_time("sms", at=datetime(2025, 7, 15, 23, 30, tzinfo=UTC)) == london(7, 16, 8)
    assert release_time("sms", at=datetime(2025, 7, 15, 19, 59, tzinfo=UTC)) is None  # 20:59


def test_an_urgent_message_needs_no_clock_reading():
    # Without ``at`` the clock is read only for non-urgent messages; this one is urgent.
    assert release_time("sms", urgent=True) is None


# -- what is urgent ------------------------------------------------------------------------


NIGHT = london(1, 15, 3, 0)
MORNING = london(1, 15, 8, 0)


def test_emergency_is_urgent_by_default():
    assert is_urgent("emergency") is True
    assert release_time("sms", context_type="emergency", at=NIGHT) is None
    assert release_time("call", context_type="emergency", at=NIGHT) is None


@pytest.mark.parametrize("context_type", ["", "lead", "survey", "installation", "payment"])
def test_other_context_types_are_not_urgent(context_type):
    assert is_urgent(context_type) is False
    assert release_time("sms", context_type=context_type, at=NIGHT) == MORNING


def test_urgent_context_types_are_configurable(quiet):
    quiet(URGENT_CONTEXT_TYPES=["payment"])
    assert release_time("sms", context_type="payment", at=NIGHT) is None
    assert release_time("sms", context_type="emergency", at=NIGHT) == MORNING


def test_an_urgent_template_is_sent_at_any_hour(quiet):
    quiet(URGENT_TEMPLATES=["outage_update_sms"])
    assert is_urgent("lead", "outage_update_sms") is True
    assert release_time("sms", template_name="outage_update_sms", at=NIGHT) is None
    assert release_time("sms", template_name="survey_reminder_sms", at=NIGHT) == MORNING


def test_urgent_true_from_the_call_wins():
    assert is_urgent("lead", None, True) is True
    assert release_time("sms", context_type="lead", urgent=True, at=NIGHT) is None


def test_urgent_false_from_the_call_wins_over_context_type_and_template(quiet):
    quiet(URGENT_TEMPLATES=["outage_update_sms"])
    assert is_urgent("emergency", "outage_update_sms", False) is False
    released = release_time(
        "sms",
        context_type="emergency",
        template_name="outage_update_sms",
        urgent=False,
        at=NIGHT,
    )
    assert released == MORNING


def test_urgent_must_be_a_boolean_or_none():
    with pytest.raises(InvalidMessageError) as raised:
        release_time("sms", urgent="yes", at=NIGHT)
    assert isinstance(raised.value, NotificationError | ValueError)


def test_an_unknown_channel_is_the_callers_error():
    with pytest.raises(UnknownChannelError):
        release_time("fax", at=NIGHT)


def test_a_naive_at_is_refused():
    with pytest.raises(ValueError, match="aware"):
        release_time("sms", at=datetime(2025, 1, 15, 3, 0))


# -- configuring the hours -------------------------------------------------------------------


def test_the_project_dict_is_merged_over_the_default(quiet):
    quiet(QUIET_HOURS={"sms": ("07:00", "22:00")})
    assert release_time("sms", at=london(1, 15, 7, 0)) is None
    assert release_time("sms", at=london(1, 15, 21, 59)) is None
    assert release_time("email", at=london(1, 15, 7, 0)) == london(1, 15, 8, 0)
    assert release_time("call", at=london(1, 15, 8, 30)) == london(1, 15, 9, 0)


def test_none_for_a_channel_means_no_quiet_hours_on_it(quiet):
    quiet(QUIET_HOURS={"push": None})
    assert release_time("push", at=NIGHT) is None
    assert release_time("sms", at=NIGHT) == MORNING


def test_none_for_default_leaves_the_channels_named_alone(quiet):
    # Calls keep their own default window: it is a key of the default dict.
    quiet(QUIET_HOURS={"default": None})
    assert release_time("sms", at=NIGHT) is None
    assert release_time("call", at=NIGHT) == london(1, 15, 9, 0)


def test_none_switches_quiet_hours_off(quiet):
    quiet(QUIET_HOURS=None)
    for channel in ("sms", "email", "whatsapp", "push", "call"):
        assert release_time(channel, at=NIGHT) is None
    assert release_time("sms") is None  # no ``at``: nothing to wait for, whatever the hour


def test_times_may_be_time_objects(quiet):
    quiet(QUIET_HOURS={"default": [time(7, 30), time(20)]})
    assert release_time("sms", at=london(1, 15, 7, 0)) == london(1, 15, 7, 30)
    assert release_time("sms", at=london(1, 15, 20, 0)) == london(1, 16, 7, 30)


def test_a_window_may_cross_midnight(quiet):
    # A night-shift channel: open from 22:00 until 06:00 the next morning.
    quiet(QUIET_HOURS={"default": ("22:00", "06:00")})
    assert release_time("sms", at=london(1, 15, 22, 0)) is None
    assert release_time("sms", at=london(1, 15, 23, 30)) is None
    assert release_time("sms", at=london(1, 16, 0, 0)) is None
    assert release_time("sms", at=london(1, 16, 5, 59)) is None
    assert release_time("sms", at=london(1, 16, 6, 0)) == london(1, 16, 22, 0)
    assert release_time("sms", at=london(1, 16, 12, 0)) == london(1, 16, 22, 0)


def test_closing_at_midnight_is_written_00_00(quiet):
    quiet(QUIET_HOURS={"default": ("08:00", "00:00")})
    assert release_time("sms", at=london(1, 15, 23, 59)) is None
    assert release_time("sms", at=london(1, 16, 0, 0)) == london(1, 16, 8, 0)


def test_a_broken_setting_fails_loudly_at_runtime_too(quiet):
    quiet(QUIET_HOURS={"sms": ("8am", "9pm")})
    with pytest.raises(ImproperlyConfigured, match=r"QUIET_HOURS'\]\['sms'\]"):
        release_time("sms", at=NIGHT)


# -- time zones and daylight saving ----------------------------------------------------------


def test_spring_forward_keeps_the_wall_clock_opening():
    # Sunday 30 March 2025: London goes from 01:00 GMT to 02:00 BST overnight.
    before = london(3, 29, 22, 0)
    released = release_time("sms", at=before)
    assert released == london(3, 30, 8, 0)
    assert released.utcoffset() == HOUR
    assert elapsed(before, released) == 9 * HOUR  # not 10: the night was an hour shorter


def test_fall_back_keeps_the_wall_clock_opening():
    # Sunday 26 October 2025: London goes from 02:00 BST back to 01:00 GMT.
    before = london(10, 25, 22, 0)
    released = release_time("sms", at=before)
    assert released == london(10, 26, 8, 0)
    assert released.utcoffset() == timedelta(0)
    assert elapsed(before, released) == 11 * HOUR


def test_calls_across_a_dst_change():
    assert release_time("call", at=london(3, 29, 20, 30)) == london(3, 30, 9, 0)
    assert release_time("call", at=london(10, 25, 20, 30)) == london(10, 26, 9, 0)


def test_an_opening_inside_the_skipped_hour(quiet):
    # 01:30 does not exist on 30 March; read with the winter offset it is 02:30 BST.
    quiet(QUIET_HOURS={"default": ("01:30", "21:00")})
    released = release_time("sms", at=london(3, 30, 0, 30))
    assert released == datetime(2025, 3, 30, 1, 30, tzinfo=UTC)
    assert (released.hour, released.minute) == (2, 30)


def test_an_opening_inside_the_repeated_hour(quiet):
    # 01:00-02:00 happens twice on 26 October: first in BST, then again in GMT.
    quiet(QUIET_HOURS={"default": ("01:30", "21:00")})
    first = london(10, 26, 1, 30)
    assert utc(release_time("sms", at=london(10, 26, 0, 45))) == utc(first)
    assert release_time("sms", at=london(10, 26, 1, 40)) is None
    # Back at 01:10 on the clock after the change: the first 01:30 has passed, so the
    # second one, an hour later in real time, is the next opening.
    released = release_time("sms", at=london(10, 26, 1, 10, fold=1))
    assert utc(released) == datetime(2025, 10, 26, 1, 30, tzinfo=UTC)
    assert (released.hour, released.minute, released.fold) == (1, 30, 1)


def test_another_time_zone(quiet):
    quiet(QUIET_HOURS_TIME_ZONE="America/New_York")
    # 12:30 UTC in January is 07:30 in New York (EST, UTC-5).
    released = release_time("sms", at=datetime(2025, 1, 15, 12, 30, tzinfo=UTC))
    assert released == datetime(2025, 1, 15, 8, 0, tzinfo=NEW_YORK)
    assert released == datetime(2025, 1, 15, 13, 0, tzinfo=UTC)
    assert released.tzinfo == NEW_YORK
    # 02:30 UTC is 21:30 in New York: closed until 08:00 there (13:00 UTC).
    assert release_time("sms", at=datetime(2025, 1, 16, 2, 30, tzinfo=UTC)) == datetime(
        2025, 1, 16, 8, 0, tzinfo=NEW_YORK
    )
    # 21:30 UTC is closed in London but 16:30 in New York: open.
    assert release_time("sms", at=datetime(2025, 1, 15, 21, 30, tzinfo=UTC)) is None


def test_new_york_changes_on_its_own_date(quiet):
    # The US springs forward on 9 March 2025, three weeks before London.
    quiet(QUIET_HOURS_TIME_ZONE="America/New_York")
    released = release_time("sms", at=datetime(2025, 3, 9, 3, 0, tzinfo=UTC))  # 22:00 EST
    assert released == datetime(2025, 3, 9, 8, 0, tzinfo=NEW_YORK)
    assert released.utcoffset() == -4 * HOUR


def test_without_its_own_zone_quiet_hours_follow_time_zone(settings):
    settings.TIME_ZONE = "Australia/Sydney"
    # 22:00 UTC on 15 January is 09:00 on the 16th in Sydney (AEDT, UTC+11): open.
    assert release_time("sms", at=datetime(2025, 1, 15, 22, 0, tzinfo=UTC)) is None
    assert release_time("sms", at=datetime(2025, 1, 15, 10, 0, tzinfo=UTC)) == datetime(
        2025, 1, 16, 8, 0, tzinfo=ZoneInfo("Australia/Sydney")
    )


# -- system checks ---------------------------------------------------------------------------

QUIET_HOURS_CHECKS = {f"chargesol_notifications.E04{n}" for n in (6, 7, 8, 9)}


def quiet_hours_messages() -> list[checks.CheckMessage]:
    return [
        message
        for message in checks.run_checks(tags=["chargesol_notifications"])
        if message.id in QUIET_HOURS_CHECKS
    ]


def test_the_defaults_pass_the_checks():
    assert quiet_hours_messages() == []


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("QUIET_HOURS", {"sms": None, "default": [time(8), time(21)], "call": ("22:00", "06:00")}),
        ("QUIET_HOURS", None),
        ("QUIET_HOURS", {}),
        ("QUIET_HOURS_TIME_ZONE", "America/New_York"),
        ("QUIET_HOURS_TIME_ZONE", ZoneInfo("Asia/Kolkata")),
        ("URGENT_CONTEXT_TYPES", []),
        ("URGENT_CONTEXT_TYPES", ("emergency", "payment")),
        ("URGENT_TEMPLATES", ["outage_update_sms"]),
    ],
)
def test_valid_settings_pass_the_checks(quiet, key, value):
    quiet(**{key: value})
    assert quiet_hours_messages() == []


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("QUIET_HOURS", "08:00-21:00", "E046"),
        ("QUIET_HOURS", [("08:00", "21:00")], "E046"),
        ("QUIET_HOURS", {"sms": "08:00"}, "E046"),
        ("QUIET_HOURS", {"sms": ("08:00",)}, "E046"),
        ("QUIET_HOURS", {"sms": ("08:00", "21:00", "22:00")}, "E046"),
        ("QUIET_HOURS", {"sms": ("8:00", "21:00")}, "E046"),
        ("QUIET_HOURS", {"sms": ("08:00", "24:00")}, "E046"),
        ("QUIET_HOURS", {"sms": ("08:00", "21:60")}, "E046"),
        ("QUIET_HOURS", {"sms": (8, 21)}, "E046"),
        ("QUIET_HOURS", {"default": ("08:00", "08:00")}, "E046"),
        ("QUIET_HOURS", {"default": (time(8, 0, 30), time(21))}, "E046"),
        ("QUIET_HOURS", {"default": (time(8, tzinfo=UTC), time(21))}, "E046"),
        ("QUIET_HOURS", {"fax": ("08:00", "21:00")}, "E047"),
        ("QUIET_HOURS", {"SMS": ("08:00", "21:00")}, "E047"),
        ("URGENT_CONTEXT_TYPES", ["emergancy"], "E048"),
        ("URGENT_CONTEXT_TYPES", "emergency", "E048"),
        ("URGENT_CONTEXT_TYPES", None, "E048"),
        ("URGENT_TEMPLATES", "outage_update_sms", "E048"),
        ("URGENT_TEMPLATES", [""], "E048"),
        ("URGENT_TEMPLATES", [42], "E048"),
        ("QUIET_HOURS_TIME_ZONE", "Europe/Londn", "E049"),
        ("QUIET_HOURS_TIME_ZONE", "BST", "E049"),
        ("QUIET_HOURS_TIME_ZONE", "../../etc/passwd", "E049"),
        ("QUIET_HOURS_TIME_ZONE", 1, "E049"),
    ],
)
def test_malformed_settings_are_reported_naming_the_setting(quiet, key, value, error):
    quiet(**{key: value})
    messages = quiet_hours_messages()
    assert [message.id for message in messages] == [f"chargesol_notifications.{error}"]
    assert isinstance(messages[0], checks.Error)
    assert f"CHARGESOL_NOTIFICATIONS['{key}']" in messages[0].msg


def test_every_problem_is_reported_not_only_the_first(quiet):
    quiet(
        QUIET_HOURS={"fax": ("08:00", "21:00"), "sms": ("9", "5"), "call": ("21:00", "21:00")},
        URGENT_CONTEXT_TYPES=["outage"],
        URGENT_TEMPLATES="outage_sms",
        QUIET_HOURS_TIME_ZONE="Mars/Olympus_Mons",
    )
    ids = sorted(message.id.rsplit(".", 1)[1] for message in quiet_hours_messages())
    assert ids == ["E046", "E046", "E047", "E048", "E048", "E049"]
    messages = {message.msg for message in quiet_hours_messages()}
    assert any("['QUIET_HOURS']['sms']" in msg and "'9'" in msg for msg in messages)
    assert any("['QUIET_HOURS']['fax']" in msg for msg in messages)
