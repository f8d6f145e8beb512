"""The email backend over Django's real SMTP backend, against a loopback SMTP server."""

from __future__ import annotations

import pytest
from django.core import mail

from chargesol_notifications import notify

from ..factories import UserFactory
from ..smtp_server import LoopbackSmtpServer

pytestmark = pytest.mark.django_db

SMTP = "django.core.mail.backends.smtp.EmailBackend"


@pytest.fixture
def smtp(settings):
    """A loopback SMTP server behind Django's SMTP backend: a MAILERS alias on Django
    6.1+, the EMAIL_BACKEND option with the EMAIL_* settings before."""
    with LoopbackSmtpServer() as server:
        if hasattr(mail, "mailers"):
            settings.MAILERS = {
                **settings.MAILERS,
                "smtp": {
                    "BACKEND": SMTP,
                    "OPTIONS": {"host": "127.0.0.1", "port": server.port, "timeout": 5},
                },
            }
            options = {"MAILER": "smtp"}
        else:
            settings.EMAIL_HOST = "127.0.0.1"
            settings.EMAIL_PORT = server.port
            settings.EMAIL_TIMEOUT = 5
            options = {"EMAIL_BACKEND": SMTP}
        settings.CHARGESOL_NOTIFICATIONS = {
            **settings.CHARGESOL_NOTIFICATIONS,
            "CHANNELS": {
                "email": {
                    "BACKEND": "chargesol_notifications.backends.email.EmailBackend",
                    "OPTIONS": {**options, "FROM_EMAIL": "survey@chargesol.example"},
                }
            },
            "RETRY_BACKOFF_SECONDS": 0,
        }
        yield server


@pytest.fixture
def send(django_capture_on_commit_callbacks):
    def send(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            n = notify(UserFactory(email="ana@example.com"), "email", **kwargs)
        n.refresh_from_db()
        return n

    return send


def test_email_goes_out_over_smtp_with_its_message_id(smtp, send):
    n = send(subject="Your survey", body="O'Brien & Sons will visit on Tuesday.")
    (raw,) = smtp.script.received
    assert b"Subject: Your survey" in raw
    assert b"From: survey@chargesol.example" in raw
    receipt = n.receipts.get()
    assert (n.status, receipt.status) == ("sent", "sent")
    assert receipt.gateway_message_id.encode() in raw
    assert mail.outbox == []  # it went over SMTP, not to Django's test outbox


def test_refused_recipient_is_a_permanent_failure(smtp, send):
    smtp.script.rcpt_reply = "550 5.1.1 No such user"
    n = send(subject="s", body="b")
    receipt = n.receipts.get()
    assert (n.status, receipt.error_code) == ("failed", "smtp_refused")


def test_temporary_smtp_failure_is_retried(smtp, send):
    smtp.script.data_reply = "451 4.3.0 Try again later"
    n = send(subject="s", body="b")
    assert (n.status, n.receipts.get().error_code) == ("queued", "smtp_451")


def test_permanent_smtp_failure_after_data(smtp, send):
    smtp.script.data_reply = "554 5.7.1 Message rejected as spam"
    n = send(subject="s", body="b")
    receipt = n.receipts.get()
    assert (n.status, receipt.error_code) == ("failed", "smtp_554")
    assert "spam" in receipt.error_message


def test_unreachable_smtp_server_is_transient(smtp, send, settings):
    smtp.shutdown()
    smtp.server_close()
    n = send(subject="s", body="b")
    assert (n.status, n.receipts.get().error_code) == ("queued", "smtp_connection")


def test_mailer_option_is_checked():
    from django.core.exceptions import ImproperlyConfigured

    from chargesol_notifications.backends.email import EmailBackend

    if hasattr(mail, "mailers"):  # Django 6.1+: MAILER or EMAIL_BACKEND, not both
        options, error = {"MAILER": "transactional", "EMAIL_BACKEND": SMTP}, "not both"
    else:
        options, error = {"MAILER": "transactional"}, "needs Django 6.1"
    with pytest.raises(ImproperlyConfigured, match=error):
        EmailBackend(channel="email", options=options)
