"""What delivery reads from the failed receipts before an attempt (``AttemptHistory``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chargesol_notifications.attempts import AttemptHistory

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_no_failures():
    history = AttemptHistory(())
    assert (history.count, history.last_failure_at, history.uncertain()) == (0, None, None)


def test_refusals_only_are_not_uncertain():
    history = AttemptHistory((("20500", at(1)), ("20429", at(2))))
    assert (history.count, history.last_failure_at, history.uncertain()) == (2, at(2), None)


def test_a_first_attempt_that_timed_out_is_uncertain_since_the_notification():
    assert AttemptHistory((("timeout", at(1)),)).uncertain() == ("timeout", None)


def test_the_window_starts_after_the_failure_before_the_first_uncertain_attempt():
    history = AttemptHistory(
        (
            ("20500", at(1)),
            ("connection_error", at(2)),
            ("20500", at(3)),
            ("lookup_failed", at(4)),
            ("20429", at(5)),
        )
    )
    assert history.uncertain() == ("lookup_failed", at(1))
