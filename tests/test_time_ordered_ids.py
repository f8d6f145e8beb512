"""Time-ordered notification ids (UUID version 7): their layout, their order, and which
rows get them."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chargesol_notifications import notify_many
from chargesol_notifications.delivery import deliver_batch
from chargesol_notifications.escalation import escalate
from chargesol_notifications.models import Notification
from chargesol_notifications.resending import resend
from chargesol_notifications.time_ordered_ids import TimeOrderedIds, new_id

from .factories import NotificationFactory, NotificationTemplateFactory, UserFactory


def unix_milliseconds(value: uuid.UUID) -> int:
    return value.int >> 80


def test_an_id_is_a_version_7_uuid_stamped_with_the_time():
    before = time.time_ns() // 1_000_000
    value = new_id()
    after = time.time_ns() // 1_000_000
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before <= unix_milliseconds(value) <= after
    assert uuid.UUID(str(value)) == value


def test_ids_made_in_a_row_increase_even_within_one_millisecond():
    # Far more than the 4,096 steps of one millisecond's fraction.
    ids = [new_id() for _ in range(20_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert len({unix_milliseconds(value) for value in ids}) < len(ids)


def test_ids_keep_increasing_when_the_clock_goes_back():
    readings = iter([5_000_000_000_000_000, 4_000_000_000_000_000, 4_000_000_000_000_000])
    ids = TimeOrderedIds(clock=lambda: next(readings))
    first, second, third = ids(), ids(), ids()
    assert first < second < third
    # The later ones run ahead of the clock, by one step (1/4096 ms) each.
    assert unix_milliseconds(second) == unix_milliseconds(first) == 5_000_000_000
    assert (second.int >> 64) & 0xFFF == ((first.int >> 64) & 0xFFF) + 1


def test_ids_of_many_threads_are_unique_and_each_threads_increase():
    made: list[list[uuid.UUID]] = [[] for _ in range(8)]

    def make(into: list[uuid.UUID]) -> None:
        for _ in range(3_000):
            into.append(new_id())

    threads = [threading.Thread(target=make, args=(into,)) for into in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [value for ids in made for value in ids]
    assert len(set(every)) == len(every) == 24_000
    assert all(ids == sorted(ids) for ids in made)


def test_the_random_part_differs_between_ids_of_one_step():
    ids = TimeOrderedIds(clock=lambda: 1_700_000_000_000_000_000)
    tails = {ids().int & ((1 << 62) - 1) for _ in range(100)}
    assert len(tails) == 100


@pytest.mark.django_db
def test_notify_many_gives_time_ordered_ids_in_the_order_of_its_recipients():
    template = NotificationTemplateFactory(
        name="meter_reading", channel="email", subject_template="Reading", body_template="Hi"
    )
    users = UserFactory.create_batch(50)
    notifications = notify_many(users, "email", template=template.name)
    ids = [notification.pk for notification in notifications]
    assert all(value.version == 7 for value in ids)
    assert ids == sorted(ids)
    stored = list(Notification.objects.order_by("pk").values_list("pk", flat=True))
    assert stored == ids


@pytest.mark.django_db
def test_a_resend_and_an_escalation_step_get_time_ordered_ids():
    failed = NotificationFactory(status="failed")
    (copy,) = resend([failed])
    assert copy.pk.version == 7
    sent_long_ago = NotificationFactory(
        channel="email",
        status="sent",
        sent_at=timezone.now() - timedelta(days=2),
        fallback_channels="sms",
    )
    step = escalate(sent_long_ago.pk)
    assert step is not None
    assert step.pk.version == 7
    assert Notification.objects.get(pk=step.pk).escalated_from_id == sent_long_ago.pk


@pytest.mark.django_db
def test_the_fields_default_stays_uuid4_for_rows_made_elsewhere():
    # The specification's default: the admin and a project's own code get version 4.
    assert Notification._meta.pk.default is uuid.uuid4
    assert NotificationFactory().pk.version == 4


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner")
def test_postgresql_reads_a_waves_rows_by_primary_key(settings):
    """With 10,000 queued rows analyzed in a new table, a wave's claim and status UPDATE
    go through the primary key: the planner sees the keys follow the rows' order on disk.
    With random (version 4) keys it scanned the whole table for each wave instead."""
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "CHANNELS": {
            **settings.CHARGESOL_NOTIFICATIONS["CHANNELS"],
            "email": {
                "BACKEND": "chargesol_notifications.backends.locmem.LocmemBackend",
                "CONCURRENCY": 250,
            },
        },
    }
    # A table as new: earlier tests' rolled-back rows leave free space that new rows would
    # fill out of order (TRUNCATE is undone with the test's transaction).
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Notification._meta.db_table} CASCADE")
    user_model = get_user_model()
    user_model.objects.bulk_create(
        user_model(username=f"customer{i}", email=f"customer{i}@example.com") for i in range(10_000)
    )
    NotificationTemplateFactory(
        name="outage", channel="email", subject_template="Outage", body_template="Power is off."
    )
    # Queued: their tasks would run when the test's transaction commits, which it never does.
    notify_many(list(user_model.objects.all()), "email", template="outage")
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Notification._meta.db_table}")
    queued = Notification.objects.order_by("created_at", "pk").values_list("pk", flat=True)
    wave = list(queued[:250])
    with CaptureQueriesContext(connection) as captured:
        deliver_batch(wave, channel="email")
    assert Notification.objects.filter(pk__in=wave, status="sent").count() == 250
    statements = [
        query["sql"]
        for query in captured.captured_queries
        if "FOR UPDATE" in query["sql"] or query["sql"].startswith("UPDATE")
    ]
    assert len(statements) == 2  # the claim and the status UPDATE
    for sql in statements:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "Seq Scan" not in plan, plan
        assert f"{Notification._meta.db_table}_pkey" in plan, plan
