"""Data retention: ``manage.py purge_notifications`` and ``chargesol_notifications.retention``."""

from __future__ import annotations

import re
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chargesol_notifications import retention
from chargesol_notifications.choices import NotificationStatus, ReceiptStatus
from chargesol_notifications.management.commands.purge_notifications import when
from chargesol_notifications.models import (
    CallLog,
    DeliveryReceipt,
    InboundMessage,
    Notification,
)
from chargesol_notifications.row_insert import insert_values

from .factories import CallLogFactory, DeliveryReceiptFactory, NotificationFactory, UserFactory

pytestmark = pytest.mark.django_db

OLD = timedelta(days=400)
SUMMARY_30 = re.compile(
    r"Deleted 30 notifications and 0 receipts older than \d{4}-\d\d-\d\d \d\d:\d\d \w+\.\n"
)
NEW = timedelta(days=10)
CHUNK = 10_000
SEND = 250


class TtyStringIO(StringIO):
    """What the command sees when its output is a terminal."""

    def isatty(self) -> bool:
        return True


def notification(age, *, status=NotificationStatus.SENT, receipts=0, **fields):
    n = NotificationFactory(status=status, **fields)
    Notification.objects.filter(pk=n.pk).update(created_at=timezone.now() - age)
    for _ in range(receipts):
        DeliveryReceiptFactory(notification=n)
    return n


def call_log(age):
    log = CallLogFactory()
    CallLog.objects.filter(pk=log.pk).update(called_at=timezone.now() - age)
    return log


def seed(count, *, age=OLD, receipt_every=0):
    """``count`` sent notifications, ``age`` old and older, in sends of ``SEND`` rows that
    share a timestamp (as notify_many() writes them) a minute apart, and a receipt for
    every ``receipt_every``-th; inserted in chunks, fast."""
    recipient = UserFactory()
    oldest = timezone.now() - age - timedelta(minutes=count // SEND + 1)
    fields = Notification._meta.local_concrete_fields
    receipt_fields = DeliveryReceipt._meta.local_concrete_fields
    for start in range(0, count, CHUNK):
        rows = []
        for index in range(start, min(start + CHUNK, count)):
            created = oldest + timedelta(minutes=index // SEND)
            values = {
                "id": uuid.uuid4(),
                "recipient_id": recipient.pk,
                "channel": "sms",
                "body": "Your installation is booked.",
                "status": NotificationStatus.SENT,
                "sent_at": created,
                "created_at": created,
            }
            rows.append([values.get(f.attname, f.get_default()) for f in fields])
        insert_values(Notification, rows)
        if receipt_every:
            receipts = [
                {
                    "id": uuid.uuid4(),
                    "notification_id": row[0],  # the id, the first field
                    "status": ReceiptStatus.SENT,
                    "received_at": oldest,
                }
                for row in rows[::receipt_every]
            ]
            insert_values(
                DeliveryReceipt,
                [[r.get(f.attname, f.get_default()) for f in receipt_fields] for r in receipts],
            )
    if connection.vendor == "postgresql":
        # Statistics, as autovacuum keeps them: planning for a table it believes nearly
        # empty, PostgreSQL would sort the whole range for every batch.
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Notification._meta.db_table}")


def purge(*args, stdout=None):
    out = stdout if stdout is not None else StringIO()
    call_command("purge_notifications", *args, stdout=out)
    return out.getvalue()


# -- what is deleted --------------------------------------------------------------------


def test_deletes_older_notifications_and_their_receipts_only():
    old = [notification(OLD, receipts=2) for _ in range(3)]
    new = [notification(NEW, receipts=2) for _ in range(2)]

    output = purge("--older-than", "365d")

    assert not Notification.objects.filter(pk__in=[n.pk for n in old]).exists()
    assert not DeliveryReceipt.objects.filter(notification_id__in=[n.pk for n in old]).exists()
    assert set(Notification.objects.values_list("pk", flat=True)) == {n.pk for n in new}
    assert DeliveryReceipt.objects.filter(notification__in=new).count() == 4
    cutoff = retention.cutoff_for(timedelta(days=365), timezone.now())
    assert output.startswith("Deleted 3 notifications and 6 receipts older than ")
    assert timezone.localtime(cutoff).strftime("%Y-%m-%d") in output


def test_the_cutoff_itself_is_kept():
    cutoff = timezone.now() - timedelta(days=365)
    at_cutoff = NotificationFactory(status=NotificationStatus.SENT)
    before = NotificationFactory(status=NotificationStatus.SENT)
    Notification.objects.filter(pk=at_cutoff.pk).update(created_at=cutoff)
    Notification.objects.filter(pk=before.pk).update(created_at=cutoff - timedelta(seconds=1))

    purged = retention.purge_notifications(cutoff)

    assert purged == retention.Purged(rows=1, receipts=0, batches=1)
    assert list(Notification.objects.values_list("pk", flat=True)) == [at_cutoff.pk]


def test_queued_notifications_are_kept_unless_asked():
    queued = [notification(OLD, status=NotificationStatus.QUEUED) for _ in range(3)]
    # Interleaved with the queued ones, so that small batches have to step over them.
    sent = [notification(OLD, status=status) for status in ("sent", "delivered", "failed")] * 2

    output = purge("--older-than", "365d", "--batch-size", "2")

    assert set(Notification.objects.values_list("pk", flat=True)) == {n.pk for n in queued}
    assert f"Deleted {len(sent) // 2} notifications" in output
    assert "Kept 3 notifications older than" in output
    assert "--include-queued" in output

    output = purge("--older-than", "365d", "--include-queued")

    assert not Notification.objects.exists()
    assert "Deleted 3 notifications" in output
    assert "Kept" not in output


def test_include_queued_keeps_a_notification_scheduled_for_later():
    now = timezone.now()
    # Made long ago, due next month: waiting, not old.
    waiting = notification(OLD, status=NotificationStatus.QUEUED, scheduled_for=now + NEW)
    # Made long ago and due long ago (or never scheduled): stuck, deleted when asked.
    overdue = notification(OLD, status=NotificationStatus.QUEUED, scheduled_for=now - OLD)
    stuck = notification(OLD, status=NotificationStatus.QUEUED)

    dry = purge("--older-than", "365d", "--include-queued", "--dry-run")
    assert dry.startswith("Dry run: would delete 2 notifications")
    output = purge("--older-than", "365d", "--include-queued")

    assert list(Notification.objects.values_list("pk", flat=True)) == [waiting.pk]
    assert not Notification.objects.filter(pk__in=[overdue.pk, stuck.pk]).exists()
    assert output.startswith("Deleted 2 notifications")
    # Without the option nothing queued goes, and the one waiting is not "kept" as stuck.
    notification(OLD, status=NotificationStatus.QUEUED)
    output = purge("--older-than", "365d")
    assert "Kept 1 notifications older than" in output
    assert Notification.objects.count() == 2


def test_a_resend_of_a_deleted_notification_loses_the_link_only():
    original = notification(OLD, status=NotificationStatus.FAILED, receipts=1)
    old_resend = notification(OLD, resent_from=original)
    new_resend = notification(NEW, resent_from=old_resend)

    purge("--older-than", "365d", "--batch-size", "1")

    # The foreign key is SET_NULL in Python only: the database would refuse the delete
    # (PostgreSQL when it checks its deferred constraints, at commit: check them now).
    connection.check_constraints()
    assert list(Notification.objects.all()) == [new_resend]
    new_resend.refresh_from_db()
    assert new_resend.resent_from is None


def test_a_step_after_a_deleted_escalation_step_loses_the_link_only():
    first = notification(OLD, status=NotificationStatus.FAILED, receipts=1)
    second = notification(NEW, escalated_from=first)

    purge("--older-than", "365d", "--batch-size", "1")

    connection.check_constraints()
    assert list(Notification.objects.all()) == [second]
    second.refresh_from_db()
    assert second.escalated_from is None


def test_the_purge_knows_every_relation_to_the_tables_it_deletes_from():
    """A new foreign key to Notification or CallLog needs handling in retention.py (the
    rows are deleted by SQL, not collected by Django): this fails until it is."""
    relations = {
        (rel.related_model, rel.field.name, rel.on_delete.__name__)
        for rel in Notification._meta.related_objects
    }
    assert relations == {
        (DeliveryReceipt, "notification", "CASCADE"),
        (Notification, "resent_from", "SET_NULL"),
        (Notification, "escalated_from", "SET_NULL"),
        (InboundMessage, "in_reply_to", "SET_NULL"),
    }
    assert CallLog._meta.related_objects == ()


# -- dry run ----------------------------------------------------------------------------


def test_dry_run_counts_and_deletes_nothing():
    for _ in range(3):
        notification(OLD, receipts=2)
    notification(OLD, status=NotificationStatus.QUEUED, receipts=1)
    notification(NEW, receipts=1)
    call_log(timedelta(days=800))
    call_log(NEW)

    with CaptureQueriesContext(connection) as queries:
        output = purge("--older-than", "365d", "--call-logs-older-than", "730d", "--dry-run")

    assert "Dry run: would delete 3 notifications and 6 receipts older than" in output
    assert "Dry run: would keep 1 notifications older than" in output
    assert "Dry run: would delete 1 call logs older than" in output
    assert not [q for q in queries if q["sql"].lstrip().upper().startswith(("DELETE", "UPDATE"))]
    assert Notification.objects.count() == 5
    assert DeliveryReceipt.objects.count() == 8
    assert CallLog.objects.count() == 2


# -- batches ----------------------------------------------------------------------------


def statements(queries, verb, model):
    table = model._meta.db_table
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith(verb) and table in q["sql"].split("WHERE")[0]
    ]


@pytest.mark.parametrize(("count", "batch_size"), [(25, 10), (30, 10), (7, 100), (250, 100)])
def test_one_delete_per_table_per_batch(count, batch_size):
    seed(count, receipt_every=1)

    with CaptureQueriesContext(connection) as queries:
        purge("--older-than", "365d", "--batch-size", str(batch_size), "-v", "0")

    batches = -(-count // batch_size)
    assert len(statements(queries, "DELETE", Notification)) == batches
    assert len(statements(queries, "DELETE", DeliveryReceipt)) == batches
    assert not Notification.objects.exists()
    assert not DeliveryReceipt.objects.exists()


def test_queries_per_batch_do_not_grow_with_the_batch():
    """Per batch: SELECT the keys, UPDATE the resends, the escalation steps and the
    replies, two DELETEs (transaction control aside); an empty SELECT ends a run whose
    last batch was full."""

    def counted(count, batch_size):
        seed(count, receipt_every=2)
        with CaptureQueriesContext(connection) as queries:
            purged = retention.purge_notifications(
                timezone.now() - timedelta(days=365), batch_size=batch_size
            )
        work = [q for q in queries if not q["sql"].upper().startswith(("SAVEPOINT", "RELEASE"))]
        return purged.batches, len(work)

    assert counted(25, 10) == (3, 3 * 6)
    assert counted(250, 100) == (3, 3 * 6)
    assert counted(20, 10) == (2, 2 * 6 + 1)


# -- memory -----------------------------------------------------------------------------


def purge_peak(count, batch_size=1000):
    """Seed ``count`` old notifications, purge them under tracemalloc: (peak bytes,
    seconds, batches)."""
    seed(count, receipt_every=10)
    cutoff = timezone.now() - timedelta(days=365)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        purged = retention.purge_notifications(cutoff, batch_size=batch_size)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert purged.rows == count
    assert purged.receipts == -(-count // 10)
    assert not Notification.objects.exists()
    return peak, time.perf_counter() - started, purged.batches


def test_memory_does_not_grow_with_the_rows():
    small, _, _ = purge_peak(2_000, batch_size=500)
    large, _, batches = purge_peak(20_000, batch_size=500)

    assert batches == 40
    # Loading every id of 20,000 rows alone would take ~2 MB more than 2,000 do.
    assert large < small * 1.5 + 256 * 1024, (small, large)
    assert large < 2 * 1024 * 1024, large


@pytest.mark.faults
def test_memory_at_200_000_notifications():
    small, _, _ = purge_peak(20_000)
    large, seconds, batches = purge_peak(200_000)
    print(f"peak {small:,} B at 20,000; {large:,} B at 200,000 in {seconds:.1f} s")

    assert batches == 200
    assert large < small * 1.5 + 256 * 1024, (small, large)
    assert large < 4 * 1024 * 1024, large


REFUSED = r"is not an age|would delete everything|longer than the calendar|before year 1"


# -- arguments --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "age", ["0d", "-1d", "abc", "365", "12m", "1y", "d", "1.5d", "", "365 days", "9" * 30 + "d"]
)
def test_nonsense_ages_are_refused_and_nothing_is_deleted(age):
    notification(OLD, receipts=1)
    call_log(timedelta(days=800))

    # "=": as an operator would have to write "-1d", which argparse takes for an option.
    with pytest.raises(CommandError, match=REFUSED):
        purge(f"--older-than={age}")
    with pytest.raises(CommandError, match=REFUSED):
        purge("--older-than", "365d", f"--call-logs-older-than={age}")

    assert Notification.objects.count() == 1
    assert DeliveryReceipt.objects.count() == 1
    assert CallLog.objects.count() == 1


@pytest.mark.parametrize("size", ["0", "-5", "10000000"])
def test_a_batch_size_out_of_range_is_refused(size):
    notification(OLD)

    with pytest.raises(CommandError, match="batch size must be from 1 to"):
        purge("--older-than", "365d", "--batch-size", size)

    assert Notification.objects.count() == 1


@pytest.mark.parametrize(
    ("age", "expected"),
    [("1h", timedelta(hours=1)), ("365d", timedelta(days=365)), ("2w", timedelta(days=14))],
)
def test_ages(age, expected):
    assert retention.parse_age(age) == expected


def test_older_than_is_required():
    with pytest.raises(CommandError, match="--older-than"):
        purge()


# -- call logs --------------------------------------------------------------------------


def test_call_logs_are_kept_unless_asked():
    old_log = call_log(timedelta(days=800))
    recent_log = call_log(timedelta(days=400))

    output = purge("--older-than", "365d")

    assert CallLog.objects.count() == 2
    assert "call logs" not in output

    output = purge("--older-than", "365d", "--call-logs-older-than", "730d", "--batch-size", "1")

    assert list(CallLog.objects.all()) == [recent_log]
    assert not CallLog.objects.filter(pk=old_log.pk).exists()
    assert "Deleted 1 call logs older than" in output


# -- output -----------------------------------------------------------------------------


def test_a_progress_bar_on_a_terminal():
    seed(30)

    output = purge("--older-than", "365d", "--batch-size", "10", stdout=TtyStringIO())

    frames = output.split("\r")[1:]
    assert len(frames) == 3
    assert frames[0].startswith("Deleting notifications [##########")
    assert " 33% 10/30" in frames[0]
    assert "[" + "#" * 30 + "] 100% 30/30\n" in frames[2]
    assert SUMMARY_30.fullmatch(frames[2].split("\n", 1)[1])


def test_plain_output_is_the_summary_or_a_line_per_batch():
    seed(30)
    output = purge("--older-than", "365d", "--batch-size", "10")

    assert "\r" not in output
    assert SUMMARY_30.fullmatch(output)

    seed(30)
    output = purge("--older-than", "365d", "--batch-size", "10", "-v", "2")

    assert output.splitlines()[:3] == [
        "Batch 1: 10 notifications deleted so far.",
        "Batch 2: 20 notifications deleted so far.",
        "Batch 3: 30 notifications deleted so far.",
    ]
    assert SUMMARY_30.fullmatch(output.split("\n", 3)[3])

    seed(5)
    assert purge("--older-than", "365d", "-v", "0", stdout=TtyStringIO()) == ""
    assert not Notification.objects.exists()


def test_the_cutoff_is_shown_in_local_time_to_the_minute(settings):
    settings.TIME_ZONE = "Europe/London"
    cutoff = datetime(2025, 7, 1, 8, 30, 59, tzinfo=UTC)

    assert when(cutoff) == "2025-07-01 09:30 BST"
