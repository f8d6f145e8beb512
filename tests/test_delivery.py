"""Delivery: failures end ``failed`` with a receipt and never raise into the caller;
transient failures are retried with backoff, a bounded number of times."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command

import chargesol_notifications
from chargesol_notifications.delivery import deliver
from chargesol_notifications.signals import notification_failed, notification_sent

from . import scripted_backend
from .factories import NotificationFactory, UserFactory

pytestmark = pytest.mark.django_db

SCRIPTED = "tests.scripted_backend.ScriptedBackend"


@pytest.fixture(autouse=True)
def _reset_attempts():
    scripted_backend.attempts.clear()


@pytest.fixture
def configure(settings):
    """Point one channel at a backend, keeping the rest of the test settings."""

    def configure(channel="sms", backend=SCRIPTED, options=None, **extra):
        value = dict(settings.CHARGESOL_NOTIFICATIONS)
        value["CHANNELS"] = {
            **value["CHANNELS"],
            channel: {"BACKEND": backend, "OPTIONS": options or {}},
        }
        value.update(extra)
        settings.CHARGESOL_NOTIFICATIONS = value

    return configure


def deliver_queued(**options):
    out = StringIO()
    call_command("deliver_queued", stdout=out, **{"min_age": 0, **options})
    return out.getvalue()


def only_receipt(n):
    (receipt,) = n.receipts.all()
    return receipt


# -- delivery failures: failed + receipt, never an exception for the caller -------------


def test_no_address_for_the_channel(send):
    n = send(UserFactory(phone=""), "sms", body="x")
    receipt = only_receipt(n)
    assert (n.status, receipt.status, receipt.error_code) == ("failed", "failed", "no_address")
    assert "no address" in receipt.error_message
    assert n.sent_at is None
    assert chargesol_notifications.outbox == []


def test_phone_number_not_valid_e164(send):
    n = send(UserFactory(phone="12"), "whatsapp", body="x")
    receipt = only_receipt(n)
    assert (n.status, receipt.error_code) == ("failed", "invalid_phone")
    assert "'12'" in receipt.error_message


def test_national_number_is_read_with_the_default_region(send):
    n = send(UserFactory(phone="07700 900123"), "sms", body="x")
    assert n.status == "sent"
    assert chargesol_notifications.outbox[0].to == "+447700900123"


def test_invalid_email_address(send):
    n = send(UserFactory(email="not-an-address"), "email", subject="s", body="x")
    assert (n.status, only_receipt(n).error_code) == ("failed", "invalid_email")


def test_gateway_rejects_the_message(send, configure):
    configure(options={"SCRIPT": ["permanent"]})
    failures = []
    notification_failed.connect(receiver := lambda **kw: failures.append(kw["error"]))
    try:
        n = send(UserFactory(), "sms", body="x")
    finally:
        notification_failed.disconnect(receiver)
    receipt = only_receipt(n)
    assert (n.status, receipt.error_code, receipt.error_message) == (
        "failed",
        "21610",
        "Number opted out",
    )
    assert len(scripted_backend.attempts) == 1
    assert [f.code for f in failures] == ["21610"]
    assert deliver_queued().startswith("Delivered 0")


def test_success_records_the_gateway_id(send, configure):
    configure(options={"SCRIPT": ["ok"]})
    sent = []
    notification_sent.connect(receiver := lambda **kw: sent.append(kw["receipt"]))
    try:
        n = send(UserFactory(), "sms", body="x")
    finally:
        notification_sent.disconnect(receiver)
    receipt = only_receipt(n)
    assert (n.status, receipt.status, receipt.gateway_message_id) == ("sent", "sent", "SCRIPTED1")
    assert n.sent_at == receipt.received_at
    assert sent == [receipt]


# -- transient failures -------------------------------------------------------------------


def test_transient_then_success(send, configure):
    configure(options={"SCRIPT": ["transient", "transient", "ok"]}, RETRY_BACKOFF_SECONDS=0)
    n = send(UserFactory(), "sms", body="x")
    assert n.status == "queued"
    (first_failure,) = n.receipts.all()
    assert (first_failure.status, first_failure.error_code) == ("failed", "timeout")
    assert "Attempt 1 of 5 failed" in first_failure.error_message

    assert "1 retry" in deliver_queued()
    assert "1 sent" in deliver_queued()
    n.refresh_from_db()
    assert n.status == "sent"
    assert len(scripted_backend.attempts) == 3
    assert [r.status for r in n.receipts.order_by("received_at")] == ["failed", "failed", "sent"]
    assert deliver_queued().startswith("Delivered 0")
    assert len(scripted_backend.attempts) == 3


def test_transient_until_attempts_run_out(send, configure):
    configure(options={"SCRIPT": ["transient"]}, RETRY_BACKOFF_SECONDS=0, MAX_ATTEMPTS=3)
    n = send(UserFactory(), "sms", body="x")
    deliver_queued()
    deliver_queued()
    deliver_queued()
    n.refresh_from_db()
    assert n.status == "failed"
    assert len(scripted_backend.attempts) == 3
    receipts = list(n.receipts.order_by("received_at"))
    assert [r.status for r in receipts] == ["failed"] * 3
    assert receipts[-1].error_message.startswith("Gave up after 3 attempts.")
    assert n.sent_at is None


def test_retry_waits_for_the_backoff(send, configure):
    configure(options={"SCRIPT": ["transient", "ok"]}, RETRY_BACKOFF_SECONDS=3600)
    n = send(UserFactory(), "sms", body="x")
    assert deliver_queued().startswith("Delivered 0")
    assert deliver(n.pk).result == "not_due"
    assert len(scripted_backend.attempts) == 1
    n.refresh_from_db()
    assert n.status == "queued"


def test_a_crashing_backend_is_retried_not_lost(send, configure):
    configure(options={"SCRIPT": ["crash", "ok"]}, RETRY_BACKOFF_SECONDS=0)
    n = send(UserFactory(), "sms", body="x")
    assert n.status == "queued"
    assert only_receipt(n).error_code == "backend_error"
    deliver_queued()
    n.refresh_from_db()
    assert n.status == "sent"


def test_deliver_queued_picks_up_a_lost_task(configure):
    # A row committed whose task never ran (a crash between commit and enqueue).
    n = NotificationFactory(recipient=UserFactory(), channel="sms", body="lost")
    assert deliver_queued(min_age=3600).startswith("Delivered 0")
    assert "1 sent" in deliver_queued()
    n.refresh_from_db()
    assert n.status == "sent"
    assert [m.body for m in chargesol_notifications.outbox] == ["lost"]


def test_deliver_skips_what_is_no_longer_queued():
    n = NotificationFactory(status="sent")
    assert deliver(n.pk).result == "skipped"
    assert chargesol_notifications.outbox == []


# -- built-in backends --------------------------------------------------------------------


def test_email_backend_sends_through_django_mail(send, configure):
    configure(
        "email",
        "chargesol_notifications.backends.email.EmailBackend",
        {"FROM_EMAIL": "hello@chargesol.example"},
    )
    n = send(
        UserFactory(email="ana@example.com"), "email", subject="Your quote", body="O'Brien & Sons"
    )
    (message,) = mail.outbox
    assert (message.subject, message.body, message.to) == (
        "Your quote",
        "O'Brien & Sons",
        ["ana@example.com"],
    )
    assert message.from_email == "hello@chargesol.example"
    assert only_receipt(n).gateway_message_id == message.extra_headers["Message-ID"]
    assert n.status == "sent"


def test_console_backend_prints(send, configure, capsys):
    configure("sms", "chargesol_notifications.backends.console.ConsoleBackend")
    n = send(UserFactory(phone="+447700900123"), "sms", body="Hello from the console")
    out = capsys.readouterr().out
    assert "[sms] to +447700900123" in out
    assert "Hello from the console" in out
    assert only_receipt(n).gateway_message_id.startswith("console-")


def test_dummy_backend_marks_sent_without_an_id(send, configure):
    configure("sms", "chargesol_notifications.backends.dummy.DummyBackend")
    n = send(UserFactory(), "sms", body="x")
    assert n.status == "sent"
    assert only_receipt(n).gateway_message_id is None


def test_delivering_one_notification_takes_a_fixed_number_of_queries(
    django_assert_max_num_queries,
):
    """Lock, attempt history, load with recipient and template, the opt-out list,
    receipt, status: 11 queries here, 4 of them the savepoints of the test's own
    transaction."""
    n = NotificationFactory(recipient=UserFactory(), channel="sms")
    with django_assert_max_num_queries(11):
        assert deliver(n.pk).result == "sent"


def test_a_broken_channel_setting_does_not_stop_the_others(configure):
    configure("sms", "chargesol_notifications.backends.nope.SmsBackend")
    sms = NotificationFactory(recipient=UserFactory(), channel="sms", body="stuck")
    email = NotificationFactory(recipient=UserFactory(), channel="email", subject="s", body="ok")
    out = deliver_queued()
    assert "1 sent" in out
    assert "1 retry" in out
    sms.refresh_from_db()
    email.refresh_from_db()
    assert (sms.status, email.status) == ("queued", "sent")
    receipt = sms.receipts.get()
    assert receipt.error_code == "improperly_configured"
    assert "['sms']['BACKEND']" in receipt.error_message


def test_a_crashing_recipient_resolver_is_retried_and_logged(send, settings, caplog):
    def resolver(user, channel):
        raise RuntimeError("resolver bug")

    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "RECIPIENT_RESOLVER": resolver,
    }
    n = send(UserFactory(), "sms", body="x")
    receipt = only_receipt(n)
    assert (n.status, receipt.error_code) == ("queued", "backend_error")
    assert "RuntimeError: resolver bug" in receipt.error_message
    assert "building the message of notification" in caplog.text
    assert chargesol_notifications.outbox == []
