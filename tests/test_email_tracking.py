"""Email delivery reports through django-anymail's own webhook views.

An email notification is sent through the app's email backend with anymail's test ESP as
the mail backend, so anymail's pipeline puts its message id on the message; then the ESP's
webhook is posted to anymail's real view, signed as the ESP signs it (Mailgun: HMAC-SHA256
of timestamp and token with the webhook signing key; Postmark: basic auth). Nothing is
patched: anymail validates, parses and sends ``tracking``, and the app's receiver records.

This module is also the URLconf of its tests (``pytest.mark.urls``): anymail's URLs only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid

import pytest

pytest.importorskip(
    "anymail", reason="django-anymail is not installed (pip install django-anymail)"
)

from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.signals import AnymailTrackingEvent, EventType, tracking
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from django.core import mail
from django.urls import include, path, reverse

from chargesol_notifications import email_tracking
from chargesol_notifications.models import DeliveryReceipt
from chargesol_notifications.signals import notification_failed

from .factories import UserFactory

urlpatterns = [path("anymail/", include("anymail.urls"))]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

SIGNING_KEY = "key-0123456789abcdef0123456789abcdef"
WEBHOOK_SECRET = "chargesol:s3cret-for-postmark"
ADDRESS = "siobhan@example.com"


class MailgunShapedEsp(AnymailTestBackend):
    """anymail's test ESP, answering with a message id shaped as Mailgun's API answers it
    (``<...@domain>``; Mailgun's webhooks give it without the brackets and anymail adds
    them back). Only the id's shape differs from the test ESP's own."""

    def get_esp_message_id(self, message):
        index = super().get_esp_message_id(message)
        return f"<20250612101500.{index}.{uuid.uuid4().hex[:12]}@mg.chargesol.example.com>"


def use_esp(settings, backend: str) -> None:
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "CHANNELS": {
            **settings.CHARGESOL_NOTIFICATIONS["CHANNELS"],
            "email": {
                "BACKEND": "chargesol_notifications.backends.email.EmailBackend",
                "OPTIONS": {"EMAIL_BACKEND": backend, "FROM_EMAIL": "hello@chargesol.example.com"},
            },
        },
    }


@pytest.fixture
def mailgun(settings):
    use_esp(settings, f"{__name__}.MailgunShapedEsp")
    settings.ANYMAIL = {"MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}


@pytest.fixture
def email_sent(mailgun, send):
    """An email notification sent through the ESP; its ``sent`` receipt has anymail's id."""
    return send(UserFactory(email=ADDRESS), "email", subject="Your quote", body="Attached.")


def message_id_of(notification) -> str:
    return notification.receipts.get(status="sent").gateway_message_id


def mailgun_event(event: str, message_id: str, **fields) -> dict:
    """Mailgun's ``event-data``, as its webhooks post it (the message id without brackets)."""
    return {
        "id": secrets.token_urlsafe(16),
        "timestamp": time.time(),
        "log-level": "info",
        "event": event,
        "recipient": ADDRESS,
        "recipient-domain": "example.com",
        "envelope": {"transport": "smtp", "sender": "hello@chargesol.example.com"},
        "message": {
            "headers": {
                "to": f"Siobhan <{ADDRESS}>",
                "message-id": message_id.strip("<>"),
                "from": "ChargeSol <hello@chargesol.example.com>",
                "subject": "Your quote",
            },
            "attachments": [],
            "size": 1402,
        },
        "tags": [],
        "user-variables": {},
        **fields,
    }


DELIVERED = {
    "delivery-status": {
        "tls": True,
        "mx-host": "mx.example.com",
        "code": 250,
        "description": "",
        "attempt-no": 1,
        "message": "OK",
        "certificate-verified": True,
    }
}
BOUNCED = {
    "severity": "permanent",
    "reason": "bounce",
    "delivery-status": {
        "attempt-no": 1,
        "code": 550,
        "description": "",
        "message": "5.1.1 The email account that you tried to reach does not exist.",
    },
}
DEFERRED = {
    "severity": "temporary",
    "reason": "generic",
    "delivery-status": {
        "attempt-no": 1,
        "code": 452,
        "description": "",
        "message": "4.2.2 The email account that you tried to reach is over quota.",
    },
}
OPENED = {"client-info": {"client-type": "browser", "user-agent": "Mozilla/5.0"}, "ip": "::1"}
CLICKED = {**OPENED, "url": "https://chargesol.example.com/quotes/42"}


def post_to_mailgun(client, event_data: dict, *, key: str = SIGNING_KEY):
    """POST ``event_data`` to anymail's Mailgun tracking webhook, signed with ``key`` as
    Mailgun signs: HMAC-SHA256 of timestamp + token, hex."""
    timestamp, token = str(int(time.time())), secrets.token_hex(25)
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    body = {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": event_data,
    }
    return client.post(
        reverse("anymail:mailgun_tracking_webhook"),
        data=json.dumps(body),
        content_type="application/json",
    )


def receipts_of(notification) -> list[tuple[str, str | None]]:
    return list(notification.receipts.order_by("status").values_list("status", "error_code"))


def test_the_sent_receipt_carries_anymails_message_id(email_sent):
    assert email_sent.status == "sent"
    assert message_id_of(email_sent) == mail.outbox[-1].anymail_status.message_id


def test_delivered_moves_the_email_to_delivered(client, email_sent):
    message_id = message_id_of(email_sent)

    response = post_to_mailgun(client, mailgun_event("delivered", message_id, **DELIVERED))

    assert response.status_code == 200
    email_sent.refresh_from_db()
    assert email_sent.status == "delivered"
    assert email_sent.delivered_at is not None
    delivered = email_sent.receipts.get(status="delivered")
    assert (delivered.gateway_message_id, delivered.error_code) == (message_id, None)


def test_a_bounce_fails_the_email_with_the_esps_reason(client, email_sent):
    failures = []

    def on_failed(sender, notification, receipt, error, **kwargs):
        failures.append((notification.pk, receipt.status))

    notification_failed.connect(on_failed)
    try:
        response = post_to_mailgun(
            client, mailgun_event("failed", message_id_of(email_sent), **BOUNCED)
        )
    finally:
        notification_failed.disconnect(on_failed)

    assert response.status_code == 200
    email_sent.refresh_from_db()
    assert email_sent.status == "failed"
    receipt = email_sent.receipts.get(status="failed")
    assert receipt.error_code == "email_bounced"
    assert receipt.error_message == (
        "Mailgun reported bounced: 5.1.1 The email account that you tried to reach does not exist."
    )
    assert failures == [(email_sent.pk, "failed")]


def test_a_rejection_names_the_esps_reason(client, email_sent):
    rejected = {"reject": {"reason": "Not delivering to previously bounced address"}}
    post_to_mailgun(client, mailgun_event("rejected", message_id_of(email_sent), **rejected))

    receipt = email_sent.receipts.get(status="failed")
    assert receipt.error_code == "email_other"
    assert receipt.error_message == (
        "Mailgun reported rejected (reason: other): Not delivering to previously bounced address"
    )


def test_opened_is_a_read_receipt_and_implies_delivered(client, email_sent):
    post_to_mailgun(client, mailgun_event("opened", message_id_of(email_sent), **OPENED))

    email_sent.refresh_from_db()
    assert (email_sent.status, email_sent.delivered_at is not None) == ("delivered", True)
    assert receipts_of(email_sent) == [("read", None), ("sent", None)]


def test_a_click_after_the_open_is_the_same_read_receipt(client, email_sent):
    message_id = message_id_of(email_sent)
    post_to_mailgun(client, mailgun_event("opened", message_id, **OPENED))
    post_to_mailgun(client, mailgun_event("clicked", message_id, **CLICKED))

    assert receipts_of(email_sent) == [("read", None), ("sent", None)]


def test_a_duplicate_event_writes_one_receipt(client, email_sent):
    event = mailgun_event("delivered", message_id_of(email_sent), **DELIVERED)
    first, again = post_to_mailgun(client, event), post_to_mailgun(client, event)

    assert (first.status_code, again.status_code) == (200, 200)
    assert receipts_of(email_sent) == [("delivered", None), ("sent", None)]


def test_a_bounce_after_delivery_is_kept_but_never_moves_the_status_back(client, email_sent):
    message_id = message_id_of(email_sent)
    post_to_mailgun(client, mailgun_event("delivered", message_id, **DELIVERED))
    post_to_mailgun(client, mailgun_event("failed", message_id, **BOUNCED))

    email_sent.refresh_from_db()
    # status.py: proof of delivery outranks a report that it failed; the report stays
    # in the receipts for staff to read.
    assert email_sent.status == "delivered"
    assert receipts_of(email_sent) == [
        ("delivered", None),
        ("failed", "email_bounced"),
        ("sent", None),
    ]


def test_delivery_after_a_bounce_moves_forward_to_delivered(client, email_sent):
    message_id = message_id_of(email_sent)
    post_to_mailgun(client, mailgun_event("failed", message_id, **BOUNCED))
    post_to_mailgun(client, mailgun_event("delivered", message_id, **DELIVERED))

    email_sent.refresh_from_db()
    assert email_sent.status == "delivered"


def test_a_bad_signature_is_refused_by_anymail_and_writes_nothing(client, email_sent):
    event = mailgun_event("failed", message_id_of(email_sent), **BOUNCED)

    response = post_to_mailgun(client, event, key="key-not-the-signing-key")

    assert response.status_code == 400  # anymail's validation failure: SuspiciousOperation
    email_sent.refresh_from_db()
    assert (email_sent.status, receipts_of(email_sent)) == ("sent", [("sent", None)])


def test_an_unknown_message_id_is_answered_200_and_recorded_nowhere(client, email_sent, caplog):
    # Common: the site's other mail goes through the same ESP; so INFO, not a warning.
    caplog.set_level(logging.INFO, logger="chargesol_notifications.webhooks.email")
    unknown = "<20250612101500.99.0000@mg.chargesol.example.com>"

    response = post_to_mailgun(client, mailgun_event("delivered", unknown, **DELIVERED))

    assert response.status_code == 200
    assert DeliveryReceipt.objects.count() == 1  # the send's own
    assert f"delivered event for unknown message {unknown}" in caplog.text


@pytest.mark.parametrize(
    ("event", "fields"),
    [
        ("failed", DEFERRED),  # a temporary failure: anymail's "deferred"
        ("complained", {}),
        ("unsubscribed", {}),
        ("accepted", {}),  # anymail's "queued"
    ],
)
def test_progress_and_the_recipients_answers_are_acknowledged_not_recorded(
    client, email_sent, event, fields
):
    response = post_to_mailgun(client, mailgun_event(event, message_id_of(email_sent), **fields))

    assert response.status_code == 200
    email_sent.refresh_from_db()
    assert (email_sent.status, receipts_of(email_sent)) == ("sent", [("sent", None)])


def test_only_email_notifications_are_matched(client, mailgun, send):
    # An SMS whose gateway id an ESP event happens to carry is not the ESP's message.
    sms = send(UserFactory(), "sms", body="Your installer is on the way.")

    post_to_mailgun(client, mailgun_event("failed", message_id_of(sms), **BOUNCED))

    sms.refresh_from_db()
    assert (sms.status, receipts_of(sms)) == ("sent", [("sent", None)])


def test_postmark_with_the_plain_test_esp(client, settings, send):
    # anymail's test ESP as it is (its ids are "0", "1"...), and a second ESP: Postmark
    # passes its MessageID through unchanged and is secured by basic auth.
    use_esp(settings, "anymail.backends.test.EmailBackend")
    settings.ANYMAIL = {"WEBHOOK_SECRET": WEBHOOK_SECRET}
    n = send(UserFactory(email=ADDRESS), "email", subject="Your quote", body="Attached.")
    payload = {
        "RecordType": "Bounce",
        "ID": 4323372036854775807,
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "MessageID": message_id_of(n),
        "MessageStream": "outbound",
        "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": ADDRESS,
        "From": "hello@chargesol.example.com",
        "BouncedAt": "2025-06-12T10:15:00Z",
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Your quote",
    }
    auth = base64.b64encode(WEBHOOK_SECRET.encode()).decode()

    response = client.post(
        reverse("anymail:postmark_tracking_webhook"),
        data=json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {auth}",
    )

    assert response.status_code == 200
    n.refresh_from_db()
    receipt = n.receipts.get(status="failed")
    assert (n.status, receipt.error_code) == ("failed", "email_bounced")
    assert receipt.error_message == (
        "Postmark reported bounced: "
        "The server was unable to deliver your message (ex: unknown user).; "
        "smtp;550 5.1.1 The email account that you tried to reach does not exist."
    )


def test_every_anymail_tracking_event_type_has_a_row_in_the_table():
    inbound = {EventType.INBOUND, EventType.INBOUND_FAILED}
    event_types = {
        value for name, value in vars(EventType).items() if name.isupper() and value not in inbound
    }
    assert event_types == set(email_tracking.RECEIPT_STATUS_FOR_EVENT)


def test_the_receiver_is_connected_once():
    email_tracking.connect()  # again, as a second ready() would
    queued = AnymailTrackingEvent(event_type=EventType.QUEUED, message_id="<1@example.com>")

    answers = tracking.send(sender=MailgunTrackingWebhookView, event=queued, esp_name="Mailgun")

    assert [receiver for receiver, _ in answers].count(email_tracking.record_tracking_event) == 1
