"""The quickstart's examples (docs/quickstart.rst), run as they are shown there."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core import checks
from django.db import transaction

import chargesol_notifications
from chargesol_notifications import notify, notify_many
from chargesol_notifications.exceptions import TemplateRenderError
from chargesol_notifications.models import Notification, NotificationTemplate
from tests.testapp.models import Lead

from . import locmem_settings
from .booking import book_survey
from .confirmations import confirm_survey
from .errors import confirm_survey_or_log
from .outage import warn_about_outage
from .quotes import email_quote


def test_booking_a_survey_texts_the_customer(
    survey_confirmation_sms, lead, surveyor, tuesday_10am, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        survey = book_survey(lead, when=tuesday_10am, surveyor=surveyor)
        assert chargesol_notifications.outbox == []  # nothing before the commit

    [message] = chargesol_notifications.outbox
    assert message.channel == "sms"
    assert message.to == "+447700900123"  # E.164, resolved and checked
    assert "Tuesday 2 June at 10:00" in message.body

    [notification] = survey.lead.customer.notifications.all()
    assert (notification.context_type, notification.context_id) == ("survey", survey.pk)
    assert notification.status == "sent"


def test_a_template_sees_no_relations_of_the_survey(lead, surveyor, tuesday_10am):
    NotificationTemplate.objects.create(
        name="survey_confirmation_sms",
        channel="sms",
        body_template="Your survey in {{ survey.lead.postcode }} is booked.",
    )
    with pytest.raises(TemplateRenderError, match="lead"):
        book_survey(lead, when=tuesday_10am, surveyor=surveyor)


@pytest.mark.django_db(transaction=True)
def test_a_committed_booking_is_delivered(survey_confirmation_sms, lead, surveyor, tuesday_10am):
    # No test transaction around this one: book_survey() commits for real, and the
    # ImmediateBackend delivers right after the commit.
    survey = book_survey(lead, when=tuesday_10am, surveyor=surveyor)

    [message] = chargesol_notifications.outbox
    assert message.body == "Hi Amelia, your home survey is booked for Tuesday 2 June at 10:00."
    assert survey.lead.customer.notifications.get().status == "sent"


def test_a_rolled_back_booking_sends_nothing(
    survey_confirmation_sms, lead, surveyor, tuesday_10am, django_capture_on_commit_callbacks
):
    def book_then_fail():
        with transaction.atomic():
            book_survey(lead, when=tuesday_10am, surveyor=surveyor)
            raise RuntimeError("the lead code failed after booking the survey")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        book_then_fail()

    assert chargesol_notifications.outbox == []
    assert not Notification.objects.exists()


def test_a_literal_email_is_sent_as_written(lead, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notification = email_quote(lead)

    [message] = chargesol_notifications.outbox
    assert (message.channel, message.to) == ("email", "amelia@example.com")
    assert message.subject == "Your ChargeSol quote"
    assert message.body.startswith("Hello Amelia,\n\nYour quote for a home charger")
    assert notification.context_type == "lead"


@pytest.fixture
def emergency_outage_sms(db):
    return NotificationTemplate.objects.create(
        name="emergency_outage_sms",
        channel="sms",
        body_template=(
            "ChargeSol: a power cut in {{ area }} stops home chargers until about "
            '{{ until|time:"H:i" }}.'
        ),
    )


def test_an_outage_warns_every_customer_in_the_area_once(
    emergency_outage_sms, django_capture_on_commit_callbacks
):
    User = get_user_model()
    bristol = [
        User.objects.create(username=f"bristol{i}", phone=f"+44770090010{i}") for i in (1, 2)
    ]
    leeds = User.objects.create(username="leeds", phone="+447700900109")
    for user, postcode in [(bristol[0], "BS1 4DJ"), (bristol[1], "BS8 1TH"), (leeds, "LS1 4AP")]:
        Lead.objects.create(customer=user, postcode=postcode)
    Lead.objects.create(customer=bristol[0], postcode="BS2 0JA")  # two leads, one message
    until = datetime(2026, 6, 2, 18, 30, tzinfo=ZoneInfo("Europe/London"))

    with django_capture_on_commit_callbacks(execute=True):
        notifications = warn_about_outage("BS", "Bristol", until)
    again = warn_about_outage("BS", "Bristol", until)  # the script started a second time

    assert {n.recipient for n in notifications} == set(bristol)
    assert {n.pk for n in again} == {n.pk for n in notifications}
    assert sorted(m.to for m in chargesol_notifications.outbox) == [u.phone for u in bristol]
    assert chargesol_notifications.outbox[0].body == (
        "ChargeSol: a power cut in Bristol stops home chargers until about 18:30."
    )


def test_a_confirmation_is_sent_once(
    survey_confirmation_sms, lead, surveyor, tuesday_10am, django_capture_on_commit_callbacks
):
    survey = lead.surveys.create(scheduled_for=tuesday_10am, surveyor=surveyor)

    with django_capture_on_commit_callbacks(execute=True):
        first = confirm_survey(survey)
    with django_capture_on_commit_callbacks(execute=True):
        second = confirm_survey(survey)  # a retried view, a task run again

    assert second.pk == first.pk
    assert len(chargesol_notifications.outbox) == 1


def test_a_confirmation_that_cannot_be_queued_is_logged(
    lead, surveyor, tuesday_10am, survey_confirmation_sms, caplog
):
    survey = lead.surveys.create(scheduled_for=tuesday_10am, surveyor=surveyor)
    survey_confirmation_sms.is_active = False
    survey_confirmation_sms.save()

    with caplog.at_level(logging.ERROR):
        confirm_survey_or_log(survey)  # does not raise

    [record] = caplog.records
    assert record.getMessage() == f"Could not queue the survey confirmation for {survey.pk}"
    assert record.exc_info[0].__name__ == "TemplateNotFoundError"
    assert not Notification.objects.exists()


def test_reading_the_status_and_receipts(
    survey_confirmation_sms,
    lead,
    customer,
    surveyor,
    tuesday_10am,
    django_capture_on_commit_callbacks,
    capsys,
):
    with django_capture_on_commit_callbacks(execute=True):
        survey = book_survey(lead, when=tuesday_10am, surveyor=surveyor)
    notification = customer.notifications.get()

    # [reading the status]
    from chargesol_notifications.models import Notification

    notification.refresh_from_db()
    status = notification.status  # "queued", "sent", "delivered" or "failed"
    sent_at, delivered_at = notification.sent_at, notification.delivered_at

    for receipt in notification.receipts.all():  # oldest first
        print(
            receipt.received_at,
            receipt.status,
            receipt.gateway_message_id,
            receipt.error_code,
            receipt.error_message,
        )

    # Everything sent about one survey, and what went wrong with it:
    about_survey = Notification.objects.filter(context_type="survey", context_id=survey.pk)
    failed = about_survey.filter(status="failed").prefetch_related("receipts")

    # A user's notifications, newest first:
    latest = customer.notifications.order_by("-created_at")
    # [end]

    assert (status, delivered_at) == ("sent", None)
    assert sent_at is not None
    [receipt] = notification.receipts.all()
    assert f" sent {receipt.gateway_message_id} " in capsys.readouterr().out
    assert list(about_survey) == [notification]
    assert list(failed) == []
    assert list(latest) == [notification]


def test_the_test_settings_send_to_the_outbox(
    settings, customer, django_capture_on_commit_callbacks
):
    settings.CHARGESOL_NOTIFICATIONS = locmem_settings.CHARGESOL_NOTIFICATIONS
    settings.SILENCED_SYSTEM_CHECKS = locmem_settings.SILENCED_SYSTEM_CHECKS
    settings.DEBUG = False

    warnings = [
        message
        for message in checks.run_checks()
        if message.is_serious(checks.WARNING) and not message.is_silenced()
    ]
    assert warnings == []

    with django_capture_on_commit_callbacks(execute=True):
        for channel in ("sms", "whatsapp", "call"):
            notify(customer, channel, body="Hello")
        notify_many([customer], "email", subject="Hello", body="Hello")

    assert [(m.channel, m.to) for m in chargesol_notifications.outbox] == [
        ("sms", "+447700900123"),
        ("whatsapp", "+447700900123"),
        ("call", "+447700900123"),
        ("email", "amelia@example.com"),
    ]
