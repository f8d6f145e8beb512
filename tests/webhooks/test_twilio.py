"""Twilio status webhooks, fed with callbacks signed by RequestValidator (via the stand-in)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from chargesol_notifications import notify
from chargesol_notifications.delivery import deliver
from chargesol_notifications.models import DeliveryReceipt, Notification
from chargesol_notifications.signals import notification_sent
from chargesol_notifications.status import STATUS_FOR_RECEIPT, STATUS_RANK

from ..factories import NotificationFactory, UserFactory
from ..twilio_setup import use_twilio

pytestmark = pytest.mark.django_db

MESSAGE_STATUS = "/notifications/twilio/message-status/"
CALL_STATUS = "/notifications/twilio/call-status/"


@pytest.fixture
def sent_sms(standin, django_capture_on_commit_callbacks):
    """A notification that Twilio accepted: (notification, its SM sid)."""
    with django_capture_on_commit_callbacks(execute=True):
        n = notify(UserFactory(phone="+447700900123"), "sms", body="Your survey is booked")
    (message,) = standin.messages
    return n, message.sid


def test_urls_keep_the_contract_names():
    assert reverse("chargesol_notifications:twilio-message-status") == MESSAGE_STATUS
    assert reverse("chargesol_notifications:twilio-call-status") == CALL_STATUS


def test_sent_then_delivered(client, standin, sent_sms):
    n, sid = sent_sms
    for callback in standin.callbacks(sid, ["sent", "delivered"]):
        assert callback.deliver(client).status_code == 200
    n.refresh_from_db()
    assert n.status == "delivered"
    assert [r.status for r in n.receipts.order_by("received_at")] == ["sent", "delivered"]
    assert n.sent_at <= n.delivered_at


def test_undelivered_carries_the_error_code(client, standin, sent_sms):
    n, sid = sent_sms
    (callback,) = standin.callbacks(sid, ["undelivered"], error_code=30003)
    callback.deliver(client)
    n.refresh_from_db()
    failed = n.receipts.get(status="failed")
    assert (n.status, failed.error_code, failed.gateway_message_id) == ("failed", "30003", sid)
    assert "unreachable" in failed.error_message


def test_whatsapp_read_implies_delivered_and_63016_is_explained(
    client, standin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        read = notify(UserFactory(), "whatsapp", body="Quote attached")
        refused = notify(UserFactory(), "whatsapp", body="Are you still interested?")
    first, second = standin.messages
    standin.callbacks(first.sid, ["read"])[0].deliver(client)
    standin.callbacks(second.sid, ["undelivered"], error_code=63016)[0].deliver(client)
    read.refresh_from_db()
    refused.refresh_from_db()
    assert (read.status, read.delivered_at is not None) == ("delivered", True)
    receipt = refused.receipts.get(status="failed")
    assert receipt.error_code == "63016"
    assert "24-hour" in receipt.error_message


@pytest.mark.parametrize("progress", ["queued", "accepted", "sending", "scheduled"])
def test_progress_statuses_are_acknowledged_and_recorded_nowhere(
    client, standin, sent_sms, progress
):
    n, sid = sent_sms
    (callback,) = standin.callbacks(sid, ["sent"], MessageStatus=progress, SmsStatus=progress)
    assert callback.deliver(client).status_code == 200
    assert n.receipts.count() == 1


# -- signatures ------------------------------------------------------------------------------


BAD_SIGNATURES = {
    "forged": lambda callback: callback.forged(),
    "missing": lambda callback: callback.unsigned(),
    "replayed with an altered body": lambda callback: callback.altered(MessageStatus="delivered"),
}


@pytest.mark.parametrize("tamper", list(BAD_SIGNATURES.values()), ids=list(BAD_SIGNATURES))
def test_bad_signature_on_message_status_is_403_and_writes_nothing(
    client, standin, sent_sms, tamper
):
    n, sid = sent_sms
    (callback,) = standin.callbacks(sid, ["failed"], error_code=30008)
    assert tamper(callback).deliver(client).status_code == 403
    n.refresh_from_db()
    assert n.status == "sent"
    assert n.receipts.count() == 1


@pytest.mark.parametrize("tamper", list(BAD_SIGNATURES.values()), ids=list(BAD_SIGNATURES))
def test_bad_signature_on_call_status_is_403_and_writes_nothing(
    client, standin, tamper, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        n = notify(UserFactory(), "call", body="Your installer is outside")
    (call,) = standin.calls
    (callback,) = standin.callbacks(call.sid, ["completed"], duration=12)
    if tamper is BAD_SIGNATURES["replayed with an altered body"]:
        forged = callback.altered(CallStatus="busy")
    else:
        forged = tamper(callback)
    assert forged.deliver(client).status_code == 403
    assert n.receipts.count() == 1


def test_signature_is_checked_against_the_public_url_behind_a_proxy(client, standin, sent_sms):
    """Django sees http://testserver; Twilio signed https://chargesol.example.com/...."""
    _n, sid = sent_sms
    (callback,) = standin.callbacks(sid, ["delivered"])
    assert callback.url.startswith("https://chargesol.example.com/")
    assert callback.deliver(client).status_code == 200


def test_get_is_not_allowed(client, standin):
    assert client.get(MESSAGE_STATUS).status_code == 405


# -- bodies we cannot read, sids we do not know ---------------------------------------------


def test_unknown_sid_is_acknowledged_and_logged(client, standin, caplog):
    url = "https://chargesol.example.com" + MESSAGE_STATUS
    params = {"MessageSid": "SM" + "f" * 32, "MessageStatus": "delivered"}
    response = standin.sign(url, params).deliver(client)
    assert response.status_code == 200
    assert DeliveryReceipt.objects.count() == 0
    assert "unknown" in caplog.text


MALFORMED = {
    "no MessageStatus": {"MessageStatus": None},
    "unknown MessageStatus": {"MessageStatus": "teleported"},
    "no MessageSid": {"MessageSid": None},
}


@pytest.mark.parametrize("changes", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_payload_is_400(client, standin, sent_sms, changes):
    n, sid = sent_sms
    (callback,) = standin.callbacks(sid, ["delivered"], **changes)
    assert callback.deliver(client).status_code == 400
    assert n.receipts.count() == 1


def test_malformed_notification_id_in_the_url_is_400(client, standin, sent_sms):
    _n, sid = sent_sms
    url = "https://chargesol.example.com" + MESSAGE_STATUS + "?n=not-a-uuid"
    (callback,) = standin.callbacks(sid, ["delivered"], url=url)
    assert callback.deliver(client).status_code == 400


# -- a callback that beats the send's commit ---------------------------------------------------


def test_callback_before_the_send_is_recorded_lands_on_its_notification(client, standin):
    n = NotificationFactory(recipient=UserFactory(), channel="sms", status="queued")
    url = f"https://chargesol.example.com{MESSAGE_STATUS}?n={n.pk}"
    params = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered", "AccountSid": "AC"}
    standin.sign(url, params).deliver(client)
    n.refresh_from_db()
    assert (n.status, n.receipts.get().gateway_message_id) == ("delivered", "SM" + "1" * 32)
    assert deliver(n.pk).result == "skipped"  # no second send after the fact


@pytest.mark.skipif(connection.vendor == "sqlite", reason="needs concurrent transactions")
@pytest.mark.django_db(transaction=True)
def test_callback_racing_the_send_commit_waits_and_lands(live_server, settings, twilio_standin):
    use_twilio(settings, twilio_standin)
    responses = []

    def twilio_calls_back_before_our_commit(notification, receipt, **kwargs):
        (callback,) = twilio_standin.callbacks(receipt.gateway_message_id, ["delivered"])
        thread = threading.Thread(
            target=lambda: responses.append(callback.deliver_http(live_server.url))
        )
        thread.start()
        time.sleep(0.5)  # the webhook is now waiting on the notification's row lock
        threads.append(thread)

    threads: list[threading.Thread] = []
    notification_sent.connect(twilio_calls_back_before_our_commit)
    try:
        n = notify(UserFactory(phone="+447700900123"), "sms", body="Racing")
    finally:
        notification_sent.disconnect(twilio_calls_back_before_our_commit)
    threads[0].join(timeout=30)
    assert [r.status for r in responses] == [200]
    n.refresh_from_db()
    assert n.status == "delivered"
    assert sorted(n.receipts.values_list("status", flat=True)) == ["delivered", "sent"]


# -- any order, any duplication ------------------------------------------------------------------

DELIVERED_PATH = ["sent", "delivered", "read"]
FAILED_PATH = ["sent", "undelivered"]
RECEIPT_OF = {"sent": "sent", "delivered": "delivered", "read": "read", "undelivered": "failed"}


@st.composite
def callback_sequences(draw):
    path = draw(st.sampled_from([DELIVERED_PATH, FAILED_PATH]))
    reached = path[: draw(st.integers(1, len(path)))]
    sequence = draw(st.lists(st.sampled_from(reached), min_size=len(reached), max_size=8))
    # Every status reached is reported at least once, in whatever order.
    return draw(st.permutations(sequence + reached))


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sequence=callback_sequences())
def test_any_order_and_duplication_ends_at_the_furthest_state(client, standin, sequence):
    n = NotificationFactory(recipient=UserFactory(), channel="sms", status="queued")
    sid = f"SM{n.pk.hex}"
    url = f"https://chargesol.example.com{MESSAGE_STATUS}?n={n.pk}"
    seen = {"sent_at": None, "delivered_at": None}
    for status in sequence:
        params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC" + "0" * 32}
        if status == "undelivered":
            params["ErrorCode"] = "30003"
        response = standin.sign(url, params).deliver(client)
        assert response.status_code == 200
        n.refresh_from_db()
        for field in seen:  # once set, a timestamp never moves
            value = getattr(n, field)
            assert seen[field] is None or value == seen[field]
            seen[field] = value
    furthest = max((STATUS_FOR_RECEIPT[RECEIPT_OF[s]] for s in sequence), key=STATUS_RANK.get)
    assert n.status == furthest
    receipts = list(n.receipts.values_list("gateway_message_id", "status"))
    assert len(receipts) == len(set(receipts)) == len({RECEIPT_OF[s] for s in sequence})
    if n.delivered_at:
        assert n.sent_at <= n.delivered_at
    assert Notification.objects.filter(pk=n.pk, sent_at__isnull=False).exists()


def test_a_status_callback_takes_a_fixed_number_of_queries(
    client, standin, sent_sms, django_assert_max_num_queries
):
    _n, sid = sent_sms
    (callback,) = standin.callbacks(sid, ["delivered"])
    with django_assert_max_num_queries(3):  # find, insert, update (test_recording.py)
        assert callback.deliver(client).status_code == 200
