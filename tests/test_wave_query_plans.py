"""How SQLite plans a wave's statements.

SQLite plans without statistics unless the project runs ANALYZE; given a choice it
takes the index matching more equality terms. A wave's claim and status UPDATE must
find their rows by primary key, not by the status index (which holds every queued row
of the table), and "has it failed before?" must look up the notification's own
receipts, not every failure the table holds.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chargesol_notifications import outbox
from chargesol_notifications.delivery import deliver_batch
from chargesol_notifications.models import Notification

from .factories import DeliveryReceiptFactory, NotificationFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's planner only"),
]


@pytest.fixture
def locmem_sms(settings):
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "CHANNELS": {
            **settings.CHARGESOL_NOTIFICATIONS["CHANNELS"],
            "sms": {
                "BACKEND": "chargesol_notifications.backends.locmem.LocmemBackend",
                "CONCURRENCY": 16,
            },
        },
    }
    outbox.clear()


def delivered_wave_statements() -> list[str]:
    """The statements of one wave of 16, with a backlog of queued rows and receipts of
    failures before any gateway in the table."""
    NotificationFactory.create_batch(40, channel="sms")  # the backlog, not in the wave
    for failed in NotificationFactory.create_batch(5, channel="sms", status="failed"):
        DeliveryReceiptFactory(notification=failed, status="failed", gateway_message_id=None)
    wave = [n.pk for n in NotificationFactory.create_batch(16, channel="sms")]
    with CaptureQueriesContext(connection) as captured:
        deliver_batch(wave, channel="sms")
    assert Notification.objects.filter(pk__in=wave, status="sent").count() == 16
    return [query["sql"] for query in captured.captured_queries]


def plan_of(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return "\n".join(row[-1] for row in cursor.fetchall())


def test_the_claim_finds_its_rows_by_primary_key(locmem_sms):
    claim = next(s for s in delivered_wave_statements() if "has_failed_before" in s)
    plan = plan_of(claim)
    table = Notification._meta.db_table
    assert f"SEARCH {table} USING INDEX sqlite_autoindex_{table}" in plan
    assert "csn_notification_status_idx" not in plan
    # The earlier failures: by the receipt's notification, one row's receipts.
    assert "notification_id" in next(line for line in plan.splitlines() if " U0 " in line)


def test_the_wave_update_joins_its_ids_and_addresses(locmem_sms):
    update = next(s for s in delivered_wave_statements() if s.startswith("UPDATE"))
    assert "FROM (SELECT column1 AS id, column2 AS address FROM (VALUES" in update
    plan = plan_of(update)
    assert "csn_notification_status_idx" not in plan
    table = Notification._meta.db_table
    assert f"SEARCH {table} USING INDEX sqlite_autoindex_{table}" in plan
