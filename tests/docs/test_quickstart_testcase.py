"""The quickstart's example for Django's test runner (docs/quickstart.rst)."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.test import TestCase
from django.utils import timezone

import chargesol_notifications
from chargesol_notifications.models import NotificationTemplate
from chargesol_notifications.testing.outbox import EmptyOutboxMixin
from tests.testapp.models import Lead

from .booking import book_survey


class BookingTests(EmptyOutboxMixin, TestCase):
    @classmethod
    def setUpTestData(cls):
        customer = get_user_model().objects.create(
            username="amelia", first_name="Amelia", phone="+447700900123"
        )
        cls.lead = Lead.objects.create(customer=customer, postcode="BS1 4DJ")
        NotificationTemplate.objects.create(
            name="survey_confirmation_sms",
            channel="sms",
            body_template="Hi {{ recipient.first_name }}, your survey is booked.",
        )

    def test_booking_a_survey_texts_the_customer(self):
        with self.captureOnCommitCallbacks(execute=True):
            book_survey(self.lead, when=timezone.now() + timedelta(days=1), surveyor=None)

        [message] = chargesol_notifications.outbox
        assert message.to == "+447700900123"
        assert message.body == "Hi Amelia, your survey is booked."
