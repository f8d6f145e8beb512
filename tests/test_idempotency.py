"""idempotency_key: one notification and one send per (recipient, channel, key)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction

import chargesol_notifications
from chargesol_notifications import notify, notify_many
from chargesol_notifications.models import Notification

from .factories import UserFactory


@pytest.mark.django_db
def test_second_call_returns_the_first_and_sends_nothing(django_capture_on_commit_callbacks):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        first = notify(user, "sms", body="Survey booked", idempotency_key="survey-42-confirmation")
    with django_capture_on_commit_callbacks(execute=True):
        second = notify(
            user, "sms", body="Survey booked again", idempotency_key="survey-42-confirmation"
        )
    assert second.pk == first.pk
    assert second.body == "Survey booked"
    assert second.status == "sent"
    assert len(chargesol_notifications.outbox) == 1
    assert Notification.objects.count() == 1


@pytest.mark.django_db
def test_the_key_is_per_recipient_and_channel():
    ana, ben = UserFactory(), UserFactory()
    ids = {
        notify(ana, "sms", body="x", idempotency_key="k").pk,
        notify(ben, "sms", body="x", idempotency_key="k").pk,
        notify(ana, "whatsapp", body="x", idempotency_key="k").pk,
        notify(ana, "sms", body="x", idempotency_key="other").pk,
    }
    assert len(ids) == 4
    assert Notification.objects.count() == 4


@pytest.mark.django_db
def test_notify_many_skips_recipients_already_notified_with_the_key(
    django_capture_on_commit_callbacks,
):
    users = UserFactory.create_batch(3)
    with django_capture_on_commit_callbacks(execute=True):
        notify(users[0], "sms", body="Outage", idempotency_key="outage-7")
    with django_capture_on_commit_callbacks(execute=True):
        result = notify_many(users, "sms", body="Outage", idempotency_key="outage-7")
    assert len(result) == 3
    assert Notification.objects.count() == 3
    assert len(chargesol_notifications.outbox) == 3


@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="concurrent writers need PostgreSQL or MariaDB"
)
@pytest.mark.django_db(transaction=True)
def test_racing_calls_make_one_notification_and_one_send():
    user = UserFactory()
    start = threading.Barrier(2)
    results: list[Notification] = []
    errors: list[BaseException] = []

    def lead_code() -> None:
        try:
            start.wait()
            with transaction.atomic():
                results.append(
                    notify(
                        user, "sms", body="Welcome to ChargeSol", idempotency_key="lead-9-welcome"
                    )
                )
                # Hold the transaction open so the other call's insert meets this one.
                time.sleep(0.3)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=lead_code) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(results) == 2
    assert results[0].pk == results[1].pk
    assert Notification.objects.count() == 1
    assert len(chargesol_notifications.outbox) == 1
    assert Notification.objects.get().status == "sent"


@pytest.mark.django_db
def test_a_repeated_key_does_not_announce_or_send_again(django_capture_on_commit_callbacks):
    from chargesol_notifications.signals import notification_queued

    user = UserFactory()
    queued = []
    notification_queued.connect(
        receiver := lambda notifications, **kw: queued.extend(notifications)
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            notify(user, "sms", body="x", idempotency_key="once")
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            notify(user, "sms", body="x", idempotency_key="once")
    finally:
        notification_queued.disconnect(receiver)
    assert len(queued) == 1
    assert callbacks == []  # the first was sent: nothing left to hand over
    assert len(chargesol_notifications.outbox) == 1
