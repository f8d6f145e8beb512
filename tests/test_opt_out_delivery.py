"""Delivery keeps to the opt-out list: no request for an opted-out address, Twilio's 21610
and an email hard bounce put an address on it, lifting it lets messages through again.

The Twilio channels talk to the loopback stand-in through the real ``twilio`` client, so
"no request" is what the stand-in did not receive.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chargesol_notifications import outbox
from chargesol_notifications.delivery import deliver_batch
from chargesol_notifications.failure_reasons import failure_reason
from chargesol_notifications.models import Notification, OptOut
from chargesol_notifications.opt_outs import lift_opt_out, record_opt_out
from chargesol_notifications.signals import notification_failed

from .factories import NotificationFactory, UserFactory

pytestmark = pytest.mark.django_db

NUMBER = "+447700900102"


@pytest.fixture
def customer():
    return UserFactory(phone="07700 900102", email="Freya.Khan@Example.com")


def posts(standin) -> list:
    """The requests that would have sent something (creates), not lookups."""
    return [request for request in standin.requests if request.method == "POST"]


def only_receipt(notification):
    (receipt,) = notification.receipts.all()
    return receipt


# -- an address on the list gets no request ----------------------------------------------


def test_after_stop_the_next_sms_fails_without_a_request_and_after_start_it_goes(
    send, standin, customer
):
    record_opt_out("sms", NUMBER, "stop_keyword", detail="Replied STOP")  # as STOP does

    refused = send(customer, "sms", body="Your survey is on Tuesday.")

    receipt = only_receipt(refused)
    assert (refused.status, receipt.status, receipt.error_code) == ("failed", "failed", "opted_out")
    assert NUMBER in receipt.error_message
    assert refused.address == NUMBER  # where it would have gone, for staff
    assert posts(standin) == []

    assert lift_opt_out("sms", NUMBER)  # as START does
    sent = send(customer, "sms", body="Your survey is on Tuesday.")

    assert sent.status == "sent"
    assert [message.to for message in standin.messages] == [NUMBER]


def test_notify_never_raises_and_failure_signals_carry_the_code(send, standin, customer):
    record_opt_out("sms", NUMBER, "staff")
    errors = []
    notification_failed.connect(receiver := lambda **kw: errors.append(kw["error"].code))
    try:
        n = send(customer, "sms", body="x")
    finally:
        notification_failed.disconnect(receiver)
    assert n.status == "failed"
    assert errors == ["opted_out"]


def test_the_opt_out_is_per_channel_and_whatsapp_is_written_with_its_prefix(
    send, standin, customer
):
    record_opt_out("whatsapp", f"whatsapp:{NUMBER}", "stop_keyword")

    on_whatsapp = send(customer, "whatsapp", body="x")
    by_sms = send(customer, "sms", body="x")

    assert (on_whatsapp.status, only_receipt(on_whatsapp).error_code) == ("failed", "opted_out")
    assert on_whatsapp.address == f"whatsapp:{NUMBER}"
    assert by_sms.status == "sent"
    assert [message.to for message in standin.messages] == [NUMBER]


def test_an_opted_out_email_address_is_matched_in_any_case(send, customer):
    record_opt_out("email", "freya.khan@example.com", "email_bounce")
    n = send(customer, "email", subject="Your quote", body="Attached.")
    assert (n.status, only_receipt(n).error_code) == ("failed", "opted_out")
    assert outbox == []


def test_failure_reason_reads_as_a_sentence():
    assert failure_reason("opted_out", "raw").startswith(
        "The customer opted out of messages on this channel"
    )


# -- the gateway's refusal (21610) puts the number on the list ---------------------------


def test_a_21610_refusal_records_an_opt_out_and_the_next_message_makes_no_request(
    send, standin, customer
):
    standin.fail_next(21610, to=NUMBER)

    first = send(customer, "sms", body="x")

    assert (first.status, only_receipt(first).error_code) == ("failed", "21610")
    opt_out = OptOut.objects.get()
    assert (opt_out.channel, opt_out.address, opt_out.reason) == ("sms", NUMBER, "gateway_refused")
    assert str(first.pk) in opt_out.detail
    assert len(posts(standin)) == 1

    second = send(customer, "sms", body="x")

    assert (second.status, only_receipt(second).error_code) == ("failed", "opted_out")
    assert len(posts(standin)) == 1  # still only the refused one


def test_a_21610_on_whatsapp_opts_out_the_whatsapp_address(send, standin, customer):
    standin.fail_next(21610)
    n = send(customer, "whatsapp", body="x")
    assert n.status == "failed"
    assert list(OptOut.objects.values_list("channel", "address", "reason")) == [
        ("whatsapp", f"whatsapp:{NUMBER}", "gateway_refused")
    ]


def test_a_21610_keeps_the_reason_of_an_earlier_stop(send, standin, customer):
    """A STOP the app recorded and then lifted by mistake: Twilio still refuses, and the
    number goes back on the list as the gateway's refusal."""
    record_opt_out("sms", NUMBER, "stop_keyword")
    lift_opt_out("sms", NUMBER)
    standin.fail_next(21610, to=NUMBER)
    send(customer, "sms", body="x")
    opt_out = OptOut.objects.get()
    assert (opt_out.reason, opt_out.is_active) == ("gateway_refused", True)


# -- the wave's queries --------------------------------------------------------------------


@pytest.fixture
def locmem_waves(settings):
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "CHANNELS": {
            **settings.CHARGESOL_NOTIFICATIONS["CHANNELS"],
            "sms": {
                "BACKEND": "chargesol_notifications.backends.locmem.LocmemBackend",
                "CONCURRENCY": 10,
            },
        },
    }
    outbox.clear()


def wave_queries(ids) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        deliver_batch(ids, channel="sms")
    return [query["sql"] for query in queries.captured_queries]


def opt_out_lookups(statements: list[str]) -> list[str]:
    return [sql for sql in statements if OptOut._meta.db_table in sql]


def test_a_wave_asks_the_list_once_and_opted_out_messages_cost_one_update(locmem_waves):
    clear = [n.pk for n in NotificationFactory.create_batch(10)]
    baseline = wave_queries(clear)

    mixed = NotificationFactory.create_batch(10)
    for notification in mixed[::3]:  # four of the ten
        record_opt_out("sms", notification.recipient.phone, "stop_keyword")
    outbox.clear()
    statements = wave_queries([n.pk for n in mixed])

    assert len(opt_out_lookups(baseline)) == 1
    assert len(opt_out_lookups(statements)) == 1
    # The same statements, and one more UPDATE for the notifications that failed.
    assert len(statements) == len(baseline) + 1
    assert len(outbox) == 6
    failed = Notification.objects.filter(pk__in=[n.pk for n in mixed], status="failed")
    assert set(failed.values_list("pk", flat=True)) == {n.pk for n in mixed[::3]}


def test_a_wave_without_a_built_message_does_not_ask_the_list(locmem_waves):
    nobody = [n.pk for n in NotificationFactory.create_batch(3, recipient__phone="")]
    statements = wave_queries(nobody)
    assert opt_out_lookups(statements) == []
    assert set(Notification.objects.values_list("status", flat=True)) == {"failed"}


# -- an email hard bounce puts the address on the list -----------------------------------


@pytest.mark.urls("tests.test_email_tracking")
def test_an_email_hard_bounce_through_anymails_webhook_records_an_opt_out(client, settings, send):
    tracking = pytest.importorskip("tests.test_email_tracking")
    tracking.use_esp(settings, "tests.test_email_tracking.MailgunShapedEsp")
    settings.ANYMAIL = {"MAILGUN_WEBHOOK_SIGNING_KEY": tracking.SIGNING_KEY}
    email = send(UserFactory(email=tracking.ADDRESS), "email", subject="Quote", body="x")
    message_id = email.receipts.get(status="sent").gateway_message_id

    event = tracking.mailgun_event("failed", message_id, **tracking.BOUNCED)
    assert tracking.post_to_mailgun(client, event).status_code == 200
    assert tracking.post_to_mailgun(client, event).status_code == 200  # a retry: no change

    opt_out = OptOut.objects.get()
    assert (opt_out.channel, opt_out.address, opt_out.reason) == (
        "email",
        tracking.ADDRESS,
        "email_bounce",
    )
    assert "does not exist" in opt_out.detail
    again = send(UserFactory(email=tracking.ADDRESS.upper()), "email", subject="s", body="x")
    assert (again.status, again.receipts.get().error_code) == ("failed", "opted_out")


@pytest.mark.urls("tests.test_email_tracking")
def test_a_soft_bounce_records_no_opt_out(client, settings, send):
    tracking = pytest.importorskip("tests.test_email_tracking")
    tracking.use_esp(settings, "tests.test_email_tracking.MailgunShapedEsp")
    settings.ANYMAIL = {"MAILGUN_WEBHOOK_SIGNING_KEY": tracking.SIGNING_KEY}
    email = send(UserFactory(email=tracking.ADDRESS), "email", subject="Quote", body="x")
    message_id = email.receipts.get(status="sent").gateway_message_id
    full_mailbox = {**tracking.DEFERRED, "severity": "permanent", "reason": "generic"}

    tracking.post_to_mailgun(client, tracking.mailgun_event("failed", message_id, **full_mailbox))

    assert email.receipts.filter(status="failed").exists()
    assert not OptOut.objects.exists()
