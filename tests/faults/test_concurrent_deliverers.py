"""Eight ``deliver_queued`` processes over the same 1,000 queued SMS, all at once.

Every process reads the same queued rows, oldest first, and races the seven others for
each of them. The row lock (``SELECT ... FOR UPDATE SKIP LOCKED``, re-checked as still
``queued``) must let exactly one of them send each message: measured at the gateway (the
Twilio stand-in, in this process) and in the database.
"""

from __future__ import annotations

import re
import time

import pytest
from django.db import connection

from chargesol_notifications import notify_many

from .conftest import (
    BODY,
    Tally,
    deliverer_env,
    held_notifications_table,
    make_recipients,
    report,
    start_deliverer,
    wait_until_waiting,
)

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(
        connection.vendor == "sqlite", reason="several processes need a shared database server"
    ),
]

NOTIFICATIONS = 1000
PROCESSES = 8


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("parked_tasks")
def test_eight_deliverers_at_once_send_each_notification_exactly_once(twilio_standin, tmp_path):
    notifications = notify_many(make_recipients(NOTIFICATIONS), "sms", body=BODY)
    assert len(notifications) == NOTIFICATIONS
    env = deliverer_env(twilio_standin)

    with held_notifications_table():
        deliverers = [
            start_deliverer(
                env, tmp_path, f"deliverer{i}", "--min-age", "0", "--limit", str(NOTIFICATIONS)
            )
            for i in range(PROCESSES)
        ]
        waiting = wait_until_waiting(deliverers)
        started = time.monotonic()
    outputs = [deliverer.wait(timeout=150) for deliverer in deliverers]
    elapsed = time.monotonic() - started

    tally = Tally.take(twilio_standin)
    report(
        f"{PROCESSES} deliver_queued processes, {NOTIFICATIONS} queued SMS",
        processes_released_together=f"{waiting} of {PROCESSES}",
        sends_per_notification=tally.sends_per_notification(),
        duplicates=tally.duplicates(),
        statuses=tally.status_counts(),
        sent_by_each_process=[sent_count(output) for output in outputs],
        elapsed_seconds=f"{elapsed:.1f}",
    )
    assert tally.duplicates() == 0, tally.summary()
    assert tally.sends_per_notification() == {1: NOTIFICATIONS}, tally.summary()
    assert tally.strangers() == []
    assert tally.status_counts() == {"sent": NOTIFICATIONS}
    assert set(tally.sent_receipts.values()) == {1}
    assert len(tally.sent_receipts) == NOTIFICATIONS
    assert tally.misrecorded() == []


def sent_count(output: str) -> int | str:
    """The ``N sent`` of a deliver_queued summary, or its last line if it has none."""
    found = re.search(r"(\d+) sent\b", output)
    if found:
        return int(found[1])
    return output.strip().splitlines()[-1] if output.strip() else "no output"
