"""Lists handed to PostgreSQL as one array literal (chargesol_notifications.pg_arrays):
the same rows as Django's IN on every database, every text back as it was written, and
on PostgreSQL one parameter per list where a wave used to bind hundreds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from chargesol_notifications import outbox
from chargesol_notifications.delivery import deliver_batch
from chargesol_notifications.models import DeliveryReceipt, Notification
from chargesol_notifications.pg_arrays import (
    AnyOf,
    array_literal,
    datetime_element,
    integer_element,
    text_element,
    uuid_element,
)
from chargesol_notifications.row_insert import insert_values

from .factories import NotificationFactory, UserFactory

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="array literals are PostgreSQL's"
)

#: Texts that an array literal must quote or escape to keep: its separators, its
#: quoting characters, its NULL, blanks, and what is not ASCII.
AWKWARD_TEXTS = [
    'say "hi"',
    "back\\slash",
    "trailing\\",
    "a,b",
    "{braces}",
    "NULL",
    "null",
    "",
    " padded ",
    "line\nbreak\ttab",
    "Zoë ☀ 日本",
    "'single'",
]


@on_postgresql
@pytest.mark.parametrize(
    ("values", "write", "cast"),
    [
        ([*AWKWARD_TEXTS, None], text_element, "text[]"),
        ([uuid.uuid4(), None, uuid.UUID(int=0)], uuid_element, "uuid[]"),
        ([0, -7, 2**62, None], integer_element, "bigint[]"),
        (
            [datetime(2026, 11, 26, 9, 30, 5, 123456, tzinfo=UTC), None],
            datetime_element,
            "timestamptz[]",
        ),
    ],
)
def test_a_literal_reads_back_as_the_values_it_was_written_from(values, write, cast):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT %s::{cast}", [array_literal(values, write)])
        (read,) = cursor.fetchone()
    assert read == values


def test_a_uuid_written_as_text_is_the_same_uuid():
    value = uuid.uuid4()
    assert uuid_element(str(value)) == value.hex
    with pytest.raises(ValueError, match="hexadecimal UUID string"):
        uuid_element("not-a-uuid")


def test_any_of_finds_what_in_finds():
    users = [UserFactory(username=name or "empty-name") for name in AWKWARD_TEXTS]
    wanted = [user.username for user in users[::2]] + ["nobody", None]
    User = get_user_model()
    found = set(User.objects.filter(AnyOf(F("username"), wanted)).values_list("pk", flat=True))
    expected = set(User.objects.filter(username__in=wanted).values_list("pk", flat=True))
    assert found == expected == {user.pk for user in users[::2]}


def test_any_of_by_primary_key_and_no_values():
    notifications = NotificationFactory.create_batch(3)
    pks = [notifications[0].pk, notifications[2].pk, uuid.uuid4()]
    found = Notification.objects.filter(AnyOf(F("pk"), pks))
    assert {n.pk for n in found} == {notifications[0].pk, notifications[2].pk}
    with CaptureQueriesContext(connection) as captured:
        assert list(Notification.objects.filter(AnyOf(F("pk"), []))) == []
        assert list(Notification.objects.filter(AnyOf(F("pk"), [None]))) == []
    assert captured.captured_queries == []  # an empty list matches nothing, unasked


def test_receipts_inserted_in_bulk_keep_every_text():
    notifications = NotificationFactory.create_batch(len(AWKWARD_TEXTS))
    at = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    rows = [
        [uuid.uuid4(), n.pk, "failed", None, code[:50] or None, message, at]
        for n, code, message in zip(notifications, AWKWARD_TEXTS, AWKWARD_TEXTS, strict=True)
    ]
    insert_values(DeliveryReceipt, rows, ignore_conflicts=True)
    stored = {
        r.notification_id: (r.error_code, r.error_message, r.received_at)
        for r in DeliveryReceipt.objects.all()
    }
    assert stored == {row[1]: (row[4], row[5], at) for row in rows}


def test_a_row_of_the_wrong_width_is_refused_and_nothing_is_written():
    notification = NotificationFactory()
    at = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    good = [uuid.uuid4(), notification.pk, "failed", None, None, "", at]
    with pytest.raises(ValueError, match="columns"):
        insert_values(DeliveryReceipt, [good, good[:-1]], ignore_conflicts=True)
    # The caller's transaction is still usable, and holds no receipt.
    assert not DeliveryReceipt.objects.exists()


@on_postgresql
def test_a_wave_hands_each_list_to_postgresql_as_one_parameter(settings):
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "CHANNELS": {
            **settings.CHARGESOL_NOTIFICATIONS["CHANNELS"],
            "email": {
                "BACKEND": "chargesol_notifications.backends.locmem.LocmemBackend",
                "CONCURRENCY": 40,
            },
        },
    }
    outbox.clear()
    wave = [n.pk for n in NotificationFactory.create_batch(40, channel="email")]
    with CaptureQueriesContext(connection) as captured:
        deliver_batch(wave, channel="email")
    assert Notification.objects.filter(pk__in=wave, status="sent").count() == 40
    statements = [q["sql"] for q in captured.captured_queries]
    # Each id is written into the claim's, the receipts' and the UPDATE's literals (as
    # 32 hex digits); an IN list would have bound it as a quoted value of its own.
    for pk in wave:
        in_literals = sum(sql.count(pk.hex) for sql in statements)
        quoted = sum(sql.count(f"'{pk}'") for sql in statements)
        assert quoted == 0
        assert in_literals >= 3
    lists = [sql for sql in statements if "= ANY(" in sql]
    assert len(lists) >= 4  # claim, recipients, opt-outs, status UPDATE
