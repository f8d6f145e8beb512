"""The incoming message webhook: customers' SMS and WhatsApp replies, signed for real by the
stand-in (RequestValidator with the account's auth token), as Twilio sends them."""

from __future__ import annotations

import threading
import uuid
import xml.etree.ElementTree as ElementTree
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core import checks
from django.db import connection
from django.dispatch import receiver
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone
from twilio.request_validator import RequestValidator

from chargesol_notifications import notify
from chargesol_notifications.models import InboundMessage, Notification, OptOut
from chargesol_notifications.recipients import written_forms
from chargesol_notifications.signals import reply_received
from tests.testapp.models import Lead, Survey

from ..factories import NotificationFactory, UserFactory
from ..twilio_setup import SMS_FROM, WEBHOOK_BASE_URL, WHATSAPP_FROM, use_twilio

pytestmark = pytest.mark.django_db

INBOUND = "/notifications/twilio/inbound-message/"
URL = f"{WEBHOOK_BASE_URL}{INBOUND}"
CUSTOMER = "+447700900102"
FORM = "application/x-www-form-urlencoded"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def database_state():
    """Everything the webhook could write, to compare before and after a request."""
    return (
        sorted(InboundMessage.objects.values_list("gateway_message_id", "body", "user_id")),
        sorted(OptOut.objects.values_list("channel", "address", "reason", "lifted_at")),
    )


@pytest.fixture
def replies():
    """Every ``reply_received`` sent, as (inbound_message, notification, user)."""
    sent = []

    def record(sender, inbound_message, notification, user, **kwargs):
        assert sender is InboundMessage
        sent.append((inbound_message, notification, user))

    reply_received.connect(record)
    yield sent
    reply_received.disconnect(record)


@pytest.fixture
def deliver(client, standin, django_capture_on_commit_callbacks):
    """Deliver a customer's message as Twilio would; on-commit callbacks run."""

    def deliver(body: str = "", *, from_: str = CUSTOMER, to: str = SMS_FROM, **options):
        request = options.pop("request", None) or standin.inbound_message(
            URL, from_=from_, to=to, body=body, **options
        )
        with django_capture_on_commit_callbacks(execute=True):
            response = request.deliver(client)
        response.twilio_request = request
        return response

    return deliver


@pytest.fixture
def customer():
    # Written the way people type it: national format, with a space.
    return UserFactory(username="amelia", first_name="Amelia", phone="07700 900102")


@pytest.fixture
def survey(customer):
    lead = Lead.objects.create(customer=customer, postcode="BS1 4DJ")
    return Survey.objects.create(lead=lead, scheduled_for=timezone.now() + timedelta(days=2))


@pytest.fixture
def confirmation(standin, customer, survey, django_capture_on_commit_callbacks):
    """The survey confirmation SMS Twilio accepted for the customer."""
    with django_capture_on_commit_callbacks(execute=True):
        n = notify(
            customer,
            "sms",
            body="Your survey is booked for Tuesday 10am. Reply YES to confirm.",
            context_type="survey",
            context_id=survey.pk,
        )
    n.refresh_from_db()
    assert (n.status, n.address) == ("sent", CUSTOMER)
    return n


# The receiver that docs/replies.rst shows.
def confirm_survey_slot(sender, inbound_message, notification, user, **kwargs):
    """A "YES" to a survey confirmation confirms the slot."""
    if notification is None or notification.context_type != "survey":
        return
    if inbound_message.body.strip().upper() == "YES":
        Survey.objects.filter(pk=notification.context_id).update(confirmed=True)


@pytest.fixture
def survey_receiver():
    reply_received.connect(confirm_survey_slot)
    yield
    reply_received.disconnect(confirm_survey_slot)


def test_url_name():
    assert reverse("chargesol_notifications:twilio-inbound-message") == INBOUND


# -- (1) a YES to a survey confirmation ---------------------------------------------------------


def test_yes_is_stored_once_linked_and_announced_once(
    deliver, customer, confirmation, survey, replies, survey_receiver
):
    response = deliver("Yes ")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml"
    assert response.content.decode() == EMPTY_TWIML

    message = InboundMessage.objects.get()
    assert (message.channel, message.from_address, message.to_address) == ("sms", CUSTOMER, SMS_FROM)
    assert (message.body, message.media_count, message.opt_out_type) == ("Yes ", 0, "")
    assert message.gateway_message_id == response.twilio_request.params["MessageSid"]
    assert (message.user, message.in_reply_to) == (customer, confirmation)
    assert replies == [(message, confirmation, customer)]
    survey.refresh_from_db()
    assert survey.confirmed
    assert not OptOut.objects.exists()  # YES is not an opt-in word here

    # Twilio delivers the same message again: nothing is written, nothing announced.
    before = database_state()
    again = deliver(request=response.twilio_request)
    assert (again.status_code, again.content.decode()) == (200, EMPTY_TWIML)
    assert database_state() == before
    assert len(replies) == 1
