"""Fixtures of the documentation's examples; the pages show them as they are here."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from chargesol_notifications.models import NotificationTemplate
from tests.testapp.models import Lead

HERE = Path(__file__).resolve().parent


@pytest.fixture
def twilio_channels(twilio_standin, settings):
    # ACCOUNT_SID, AUTH_TOKEN and HTTP_CLIENT=twilio_standin.http_client(), plus FROM
    options = twilio_standin.backend_options(FROM="+15005550006")
    backends = "chargesol_notifications.backends.twilio"
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "CHANNELS": {
            "sms": {"BACKEND": f"{backends}.SmsBackend", "OPTIONS": options},
            "call": {"BACKEND": f"{backends}.CallBackend", "OPTIONS": options},
        },
        # The Twilio backends build their status callback URLs on it, and the webhooks
        # check the callbacks' signatures against it.
        "WEBHOOK_BASE_URL": "https://chargesol.example.com",
    }
    return twilio_standin


# The people, lead and template that the examples use.


@pytest.fixture
def customer(db, django_user_model):
    return django_user_model.objects.create(
        username="amelia", first_name="Amelia", email="amelia@example.com", phone="07700 900123"
    )


@pytest.fixture
def surveyor(db, django_user_model):
    return django_user_model.objects.create(
        username="sam", first_name="Sam", is_staff=True, phone="+447700900100"
    )


@pytest.fixture
def lead(customer):
    return Lead.objects.create(customer=customer, postcode="BS1 4DJ")


@pytest.fixture
def tuesday_10am():
    return datetime(2026, 6, 2, 10, 0, tzinfo=ZoneInfo("Europe/London"))


@pytest.fixture
def survey_confirmation_sms(db):
    return NotificationTemplate.objects.create(
        name="survey_confirmation_sms",
        channel="sms",
        # The template the quickstart shows, as a file beside this one.
        body_template=(HERE / "survey_confirmation_sms.txt").read_text().strip(),
    )
