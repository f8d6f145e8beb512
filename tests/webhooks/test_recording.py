"""What recording a delivery report costs and sends: at most three queries per callback,
and each signal once per receipt or transition, on every database.

The budgets count the statements a callback runs. They are measured inside the test's
transaction on purpose: there, an ``atomic()`` that opened a savepoint would show up as
``SAVEPOINT``/``RELEASE SAVEPOINT`` queries, and the recording code opens none (its
blocks are ``savepoint=False``). ``BEGIN``/``COMMIT`` of the request's own transaction are
not statements of the budget (Django logs them on SQLite only).
"""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection, connections, transaction

from chargesol_notifications.models import DeliveryReceipt, Notification
from chargesol_notifications.signals import notification_failed, receipt_recorded
from chargesol_notifications.status import insert_receipt, record_receipt
from chargesol_notifications.webhooks.recording import claimed_elsewhere, holds

from ..factories import DeliveryReceiptFactory, NotificationFactory, UserFactory
from ..twilio_setup import WEBHOOK_BASE_URL

pytestmark = pytest.mark.django_db

MESSAGE_STATUS = "/notifications/twilio/message-status/"
#: The budget of the issue: find the notification, insert the receipt, move the status.
BUDGET = 3


def new_sid() -> str:
    return "SM" + uuid.uuid4().hex


@pytest.fixture
def sent():
    """A notification the gateway accepted, as delivery records it: (notification, sid)."""
    receipt = DeliveryReceiptFactory(notification__recipient=UserFactory())
    return receipt.notification, receipt.gateway_message_id


def callback(standin, notification: Notification | None, sid: str, status: str, **extra: str):
    query = f"?n={notification.pk}" if notification is not None else ""
    params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC" + "0" * 32}
    return standin.sign(f"{WEBHOOK_BASE_URL}{MESSAGE_STATUS}{query}", {**params, **extra})


@pytest.fixture
def signals():
    """Every receipt_recorded and notification_failed sent, as (signal, receipt status)."""
    sent: list[tuple[str, str]] = []

    def on_receipt(receipt, **kwargs):
        sent.append(("receipt_recorded", receipt.status))

    def on_failed(receipt, **kwargs):
        sent.append(("notification_failed", receipt.status))

    receipt_recorded.connect(on_receipt)
    notification_failed.connect(on_failed)
    yield sent
    receipt_recorded.disconnect(on_receipt)
    notification_failed.disconnect(on_failed)


# -- the budget ------------------------------------------------------------------------------

#: A new receipt of each kind, and the status it moves its notification to.
NEW_RECEIPTS = pytest.mark.parametrize(
    ("status", "extra", "expected"),
    [
        ("delivered", {}, "delivered"),
        ("read", {}, "delivered"),
        ("undelivered", {"ErrorCode": "30003"}, "failed"),
    ],
    ids=["delivered", "read", "failed"],
)


@NEW_RECEIPTS
def test_a_new_receipt_takes_three_queries(
    client, standin, sent, django_assert_max_num_queries, status, extra, expected
):
    n, sid = sent
    request = callback(standin, n, sid, status, **extra)
    with django_assert_max_num_queries(BUDGET):
        assert request.deliver(client).status_code == 200
    n.refresh_from_db()
    assert n.status == expected


def test_sent_before_the_send_is_recorded_takes_three_queries(
    client, standin, django_assert_max_num_queries
):
    n = NotificationFactory(recipient=UserFactory())
    sid = new_sid()
    with django_assert_max_num_queries(BUDGET):
        assert callback(standin, n, sid, "sent").deliver(client).status_code == 200
    n.refresh_from_db()
    assert (n.status, n.receipts.get().gateway_message_id) == ("sent", sid)


def test_a_duplicate_takes_one_query_and_writes_nothing(
    client, standin, sent, django_assert_num_queries
):
    n, sid = sent
    assert callback(standin, n, sid, "delivered").deliver(client).status_code == 200
    before = list(DeliveryReceipt.objects.values_list("pk", flat=True))
    with django_assert_num_queries(1):
        assert callback(standin, n, sid, "delivered").deliver(client).status_code == 200
    with django_assert_num_queries(1):  # the send's own receipt, reported again
        assert callback(standin, n, sid, "sent").deliver(client).status_code == 200
    assert list(DeliveryReceipt.objects.values_list("pk", flat=True)) == before


def test_an_unknown_sid_takes_one_query(client, standin, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert callback(standin, None, new_sid(), "delivered").deliver(client).status_code == 200
    assert not DeliveryReceipt.objects.exists()


def test_an_unknown_notification_takes_one_query(client, standin, django_assert_num_queries):
    ghost = Notification(pk=uuid.uuid4())
    with django_assert_num_queries(1):
        assert callback(standin, ghost, new_sid(), "delivered").deliver(client).status_code == 200
    assert not DeliveryReceipt.objects.exists()


def test_a_callback_without_its_notification_in_the_url_takes_three_queries(
    client, standin, sent, django_assert_max_num_queries
):
    n, sid = sent
    with django_assert_max_num_queries(BUDGET):
        assert callback(standin, None, sid, "delivered").deliver(client).status_code == 200
    n.refresh_from_db()
    assert n.status == "delivered"


def test_a_mismatched_sid_takes_one_query_and_is_recorded_nowhere(
    client, standin, sent, django_assert_num_queries, caplog
):
    n, _sid = sent
    other_sid = DeliveryReceiptFactory(notification__recipient=UserFactory()).gateway_message_id
    with django_assert_num_queries(1):
        assert callback(standin, n, other_sid, "delivered").deliver(client).status_code == 200
    assert DeliveryReceipt.objects.count() == 2
    assert set(Notification.objects.values_list("status", flat=True)) == {"sent"}
    assert "recorded nowhere" in caplog.text


# -- on PostgreSQL, the lookup writes a new receipt itself ------------------------------------

only_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the lookup writes on PostgreSQL only"
)


@only_postgresql
@NEW_RECEIPTS
def test_on_postgresql_a_new_receipt_takes_one_query_while_nobody_listens(
    client, standin, sent, django_assert_num_queries, status, extra, expected
):
    n, sid = sent
    sent_at = Notification.objects.values_list("sent_at", flat=True).get(pk=n.pk)
    with django_assert_num_queries(1):
        assert callback(standin, n, sid, status, **extra).deliver(client).status_code == 200
    n.refresh_from_db()
    receipt = n.receipts.exclude(status="sent").get()
    assert (n.status, receipt.gateway_message_id) == (expected, sid)
    # Set once, when first reached: a receipt with a gateway id proves the message sent.
    assert n.sent_at == (sent_at or receipt.received_at)
    assert n.delivered_at == (receipt.received_at if expected == "delivered" else None)
    if expected == "failed":
        assert receipt.error_code == "30003"
        assert receipt.error_message.startswith("The handset is unreachable")


@only_postgresql
def test_on_postgresql_a_receiver_keeps_the_write_in_the_views_transaction(
    client, standin, sent, django_assert_num_queries, signals
):
    """A receiver may fail and roll the receipt back: the lookup leaves the writing to the
    view's transaction (lookup, INSERT, UPDATE)."""
    n, sid = sent
    with django_assert_num_queries(3):
        assert callback(standin, n, sid, "delivered").deliver(client).status_code == 200
    assert signals == [("receipt_recorded", "delivered")]


@only_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_duplicate_racing_the_lookups_insert_is_written_once(client, standin, sent):
    """The same receipt, written by another transaction after the lookup read but before
    it committed: the lookup's INSERT waits for it and writes nothing."""
    n, sid = sent
    inserted, done = threading.Event(), threading.Event()

    def other_callback() -> None:
        try:
            with transaction.atomic():
                record_receipt(n, "delivered", gateway_message_id=sid)
                inserted.set()
                done.wait(timeout=0.5)  # the callback below is waiting on this row by now
        finally:
            inserted.set()
            connections.close_all()

    thread = threading.Thread(target=other_callback)
    thread.start()
    assert inserted.wait(timeout=10)
    response = callback(standin, n, sid, "delivered").deliver(client)
    done.set()
    thread.join(timeout=10)
    assert response.status_code == 200
    assert list(n.receipts.order_by("status").values_list("status", flat=True)) == [
        "delivered",
        "sent",
    ]
    n.refresh_from_db()
    assert n.status == "delivered"


# -- signals: once per receipt, once per transition -------------------------------------------


def test_each_signal_fires_once_however_often_twilio_repeats_itself(client, standin, sent, signals):
    n, sid = sent
    for status in ["delivered", "delivered", "sent", "read", "read"]:
        assert callback(standin, n, sid, status).deliver(client).status_code == 200
    assert signals == [("receipt_recorded", "delivered"), ("receipt_recorded", "read")]


def test_a_failure_is_announced_once(client, standin, sent, signals):
    n, sid = sent
    for _ in range(3):
        request = callback(standin, n, sid, "undelivered", ErrorCode="30003")
        assert request.deliver(client).status_code == 200
    assert signals == [("receipt_recorded", "failed"), ("notification_failed", "failed")]


def test_a_failure_after_delivery_is_recorded_but_announces_no_failure(
    client, standin, sent, signals
):
    n, sid = sent
    callback(standin, n, sid, "delivered").deliver(client)
    callback(standin, n, sid, "undelivered", ErrorCode="30003").deliver(client)
    n.refresh_from_db()
    assert n.status == "delivered"
    assert signals == [("receipt_recorded", "delivered"), ("receipt_recorded", "failed")]


# -- the INSERT itself ---------------------------------------------------------------------------


def test_insert_receipt_says_whether_it_wrote_and_saves_the_instance():
    n = NotificationFactory(recipient=UserFactory())
    first = DeliveryReceipt(notification=n, status="sent", gateway_message_id=new_sid())
    again = DeliveryReceipt(
        notification=n, status="sent", gateway_message_id=first.gateway_message_id
    )
    assert insert_receipt(first) is True
    assert insert_receipt(again) is False
    stored = DeliveryReceipt.objects.get()
    assert (stored.pk, stored.received_at) == (first.pk, first.received_at)
    assert not first._state.adding
    assert again._state.adding


def test_insert_receipt_writes_nothing_while_its_condition_holds(sent):
    n, sid = sent
    receipt = DeliveryReceipt(notification=n, status="delivered", gateway_message_id=sid)
    assert insert_receipt(receipt, unless=claimed_elsewhere(n.pk, new_sid())) is False
    assert insert_receipt(receipt, unless=claimed_elsewhere(n.pk, sid)) is True


def test_the_sid_rule():
    n, other = NotificationFactory(recipient=UserFactory()), NotificationFactory()
    sid = DeliveryReceiptFactory(notification=n).gateway_message_id
    assert not holds(claimed_elsewhere(n.pk, sid))
    assert holds(claimed_elsewhere(n.pk, new_sid()))  # n was sent under another sid
    assert holds(claimed_elsewhere(other.pk, sid))  # the sid is n's
    assert not holds(claimed_elsewhere(other.pk, new_sid()))  # other has no sid yet


def test_insert_receipt_for_a_deleted_notification_writes_nothing():
    n = NotificationFactory(recipient=UserFactory())
    receipt = DeliveryReceipt(notification=n, status="sent", gateway_message_id=new_sid())
    Notification.objects.filter(pk=n.pk).delete()
    assert insert_receipt(receipt) is False


def test_receipts_without_a_gateway_id_never_collide():
    """NULL ids are distinct: every failure before the gateway took the message is kept."""
    n = NotificationFactory(recipient=UserFactory())
    for _ in range(2):
        outcome = record_receipt(n, "failed", error_code="21211", error_message="Bad number")
        assert outcome.receipt is not None
    assert n.receipts.filter(gateway_message_id=None).count() == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's parameter types")
def test_every_value_of_the_insert_is_typed_on_postgresql():
    """A bare parameter in a SELECT list has no type when psycopg binds on the server."""
    n = NotificationFactory(recipient=UserFactory())
    captured: list[str] = []

    def capture(execute, sql, params, many, context):
        captured.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        insert_receipt(DeliveryReceipt(notification=n, status="sent", gateway_message_id=new_sid()))
    (sql,) = captured
    assert "%s::uuid" in sql
    assert "%s::varchar(20)" in sql
    assert sql.endswith("ON CONFLICT DO NOTHING")
