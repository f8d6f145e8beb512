"""A delivering process killed with SIGKILL in the middle of a run, then ``deliver_queued``.

The stand-in answers slowly, so the process always has a message in flight that the
gateway has already created but the process has not yet recorded: the window
docs/guarantees.rst leaves open. The kill lands there. Afterwards nothing may be lost,
and the duplicates stay within the documented bound: the channel's CONCURRENCY messages
per killed process.
"""

from __future__ import annotations

import signal
import time

import pytest
from django.db import connection

from chargesol_notifications import notify_many
from chargesol_notifications.models import Notification

from .conftest import (
    BODY,
    Tally,
    deliverer_env,
    make_recipients,
    report,
    start_deliverer,
)

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(
        connection.vendor == "sqlite", reason="several processes need a shared database server"
    ),
]

NOTIFICATIONS = 200
#: The gateway has created this many messages when the delivering process is killed.
KILL_AT = 24
#: How late the stand-in answers each create of the killed process (it creates first).
SLOW_ANSWER = 0.25
#: CONCURRENCY of the delivering processes' SMS channel: at most this many messages in
#: flight when the kill comes, so at most this many sent twice.
CONCURRENCY = 8


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("parked_tasks")
def test_a_killed_deliverer_loses_nothing_and_duplicates_within_the_bound(twilio_standin, tmp_path):
    notify_many(make_recipients(NOTIFICATIONS), "sms", body=BODY)
    env = deliverer_env(twilio_standin, concurrency=CONCURRENCY)
    # Every create of the killed run answers late (the message exists before the answer).
    twilio_standin.slow_next(SLOW_ANSWER, times=KILL_AT + 2 * CONCURRENCY)

    started = time.monotonic()
    victim = start_deliverer(env, tmp_path, "killed", "--min-age", "0")
    deadline = started + 90
    while len(twilio_standin.messages) < KILL_AT:
        assert victim.process.poll() is None, f"it ended before the kill:\n{victim.errors()}"
        assert time.monotonic() < deadline, "the gateway never saw enough messages"
        time.sleep(0.005)
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait(timeout=30)
    at_kill = len(twilio_standin.messages)
    sent_at_kill = Notification.objects.filter(status="sent").count()
    assert victim.process.returncode == -signal.SIGKILL
    assert sent_at_kill < NOTIFICATIONS, "the kill came after the run"

    runs = 0
    while Notification.objects.filter(status="queued").exists():
        # The database may take a moment to notice the dead session and free its rows.
        assert runs < 5, "queued notifications left after 5 runs of deliver_queued"
        start_deliverer(env, tmp_path, f"recovery{runs}", "--min-age", "0").wait(timeout=90)
        runs += 1
    elapsed = time.monotonic() - started

    tally = Tally.take(twilio_standin)
    bound = CONCURRENCY  # one killed process
    report(
        f"deliver_queued killed with SIGKILL after the gateway created {KILL_AT} messages",
        concurrency_of_the_killed_process=CONCURRENCY,
        created_at_the_kill=at_kill,
        recorded_sent_at_the_kill=sent_at_kill,
        recovery_runs=runs,
        sends_per_notification=tally.sends_per_notification(),
        duplicates=f"{tally.duplicates()} (bound {bound})",
        lost=len(tally.never_at_gateway()),
        statuses=tally.status_counts(),
        elapsed_seconds=f"{elapsed:.1f}",
    )
    assert tally.never_at_gateway() == [], "notifications lost: never reached the gateway"
    assert tally.status_counts() == {"sent": NOTIFICATIONS}, tally.summary()
    assert tally.duplicates() <= bound, tally.summary()
    assert max(tally.sends.values()) <= 2, tally.summary()
    assert tally.strangers() == []
    assert set(tally.sent_receipts.values()) == {1}
    assert len(tally.sent_receipts) == NOTIFICATIONS
    # Each notification's receipt names one of its own messages (a duplicate's first
    # message is the one the killed process never recorded).
    assert tally.misrecorded() == []
