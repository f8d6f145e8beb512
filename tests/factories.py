"""factory-boy factories for the test project's user and the app's four models."""

from __future__ import annotations

import uuid

import factory
from django.contrib.auth import get_user_model

from chargesol_notifications.choices import (
    CallOutcome,
    CallType,
    Channel,
    ContextType,
    NotificationStatus,
    ReceiptStatus,
    TemplateChannel,
)
from chargesol_notifications.models import (
    CallLog,
    DeliveryReceipt,
    Notification,
    NotificationTemplate,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    # Ofcom's drama range: valid UK mobile numbers that never ring anyone.
    phone = factory.Sequence(lambda n: f"+4477009{n % 100000:05d}")


class StaffUserFactory(UserFactory):
    is_staff = True
    is_superuser = True
    password = factory.django.Password("staff-password")


class NotificationTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NotificationTemplate
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"template_{n}_sms")
    channel = TemplateChannel.SMS
    subject_template = ""
    body_template = "Hi {{ recipient.first_name }}, your survey is confirmed."
    is_active = True


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    recipient = factory.SubFactory(UserFactory)
    channel = Channel.SMS
    body = "Your installation is booked."
    context_type = ContextType.INSTALLATION
    context_id = factory.LazyFunction(uuid.uuid4)
    status = NotificationStatus.QUEUED


class DeliveryReceiptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DeliveryReceipt

    notification = factory.SubFactory(NotificationFactory, status=NotificationStatus.SENT)
    status = ReceiptStatus.SENT
    gateway_message_id = factory.Sequence(lambda n: f"SM{n:032x}")


class CallLogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CallLog

    caller = factory.SubFactory(StaffUserFactory)
    callee_phone = "+447700900123"
    call_type = CallType.SURVEY_CONFIRMATION
    context_type = "survey"
    context_id = factory.LazyFunction(uuid.uuid4)
    outcome = CallOutcome.CONNECTED
    duration_seconds = 95
    notes = ""
