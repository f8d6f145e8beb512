"""``Notification.address``: where each message went, written at delivery."""

from __future__ import annotations

import pytest

from chargesol_notifications import notify_many

from .factories import NotificationTemplateFactory, UserFactory

pytestmark = pytest.mark.django_db


def push_tokens(user):
    return ["device-token-aaaaaaaaaaaaaaaa", "device-token-bbbbbbbbbbbbbbbb"]


@pytest.fixture
def push_resolver(settings):
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "PUSH_TOKEN_RESOLVER": "tests.test_address.push_tokens",
    }


@pytest.mark.parametrize(
    ("channel", "address"),
    [
        ("sms", "+447700900102"),
        ("call", "+447700900102"),
        ("whatsapp", "whatsapp:+447700900102"),
        ("email", "freya@example.com"),
    ],
)
def test_the_address_used_is_recorded(send, channel, address):
    user = UserFactory(phone="07700 900102", email="freya@example.com")
    subject = "Survey" if channel == "email" else None
    n = send(user, channel, body="Your survey is booked", subject=subject)
    assert n.address == address


def test_a_push_address_shows_the_start_of_each_token(send, push_resolver):
    n = send(UserFactory(), "push", body="Charger online")
    assert n.address == "push:device-token…, device-token…"


def test_no_address_is_recorded_before_delivery(django_capture_on_commit_callbacks):
    from chargesol_notifications import notify

    n = notify(UserFactory(phone="07700 900102"), "sms", body="x")
    n.refresh_from_db()
    assert (n.status, n.address) == ("queued", "")


def test_a_message_that_could_not_be_built_has_no_address(send):
    n = send(UserFactory(phone="not a number"), "sms", body="x")
    assert (n.status, n.address) == ("failed", "")


def test_a_gateway_refusal_keeps_the_address_it_was_refused_for(send, settings):
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "CHANNELS": {
            **settings.CHARGESOL_NOTIFICATIONS["CHANNELS"],
            "sms": {
                "BACKEND": "tests.scripted_backend.ScriptedBackend",
                "OPTIONS": {"SCRIPT": ["permanent"]},
            },
        },
    }
    n = send(UserFactory(phone="+447700900103"), "sms", body="x")
    assert (n.status, n.address) == ("failed", "+447700900103")


def test_a_wave_writes_each_notifications_own_address(django_capture_on_commit_callbacks):
    template = NotificationTemplateFactory(
        channel="sms", body_template="Hi {{ recipient.first_name }}"
    )
    users = [UserFactory(phone=f"07700 90{index:04d}") for index in range(5)]
    with django_capture_on_commit_callbacks(execute=True):
        notifications = notify_many(users, "sms", template=template.name)
    for n, user in zip(notifications, users, strict=True):
        n.refresh_from_db()
        assert n.status == "sent"
        assert n.address == "+44" + user.phone.replace(" ", "")[1:]
