"""Notifications, delivery receipts and call logs for the demo: what staff see in the admin.

For now the rows are written directly with the ORM, with the states a real week of
ChargeSol traffic leaves behind (delivered, sent, queued, failed before and after the
gateway, read on WhatsApp, calls with every outcome). This module is the one to change
when the demo sends through :func:`chargesol_notifications.notify` instead.

Each row's primary key comes from :func:`~leads.seed.demo_uuid`, so running the seeding
again updates the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from chargesol_notifications.models import (
    CallLog,
    DeliveryReceipt,
    Notification,
    NotificationTemplate,
)
from chargesol_notifications.rendering import render_message

from .seed import DemoPeople, demo_uuid


@dataclass
class Message:
    """One notification of the demo and the receipts its gateway sent back."""

    label: str
    customer: int
    channel: str
    context_type: str
    status: str
    hours_ago: float
    #: A NotificationTemplate name, rendered with the recipient, the customer's lead and
    #: survey and ``context``; or None and a literal ``body``.
    template: str | None = None
    body: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    #: "lead" or "survey": the customer's lead or survey becomes ``context_id``.
    context_object: str | None = None
    #: (receipt status, error code, error message), oldest first.
    receipts: list[tuple[str, str | None, str]] = field(default_factory=list)


FAILED_UNREACHABLE = ("failed", "30003", "Unreachable destination handset.")
FAILED_NO_PHONE = ("failed", None, "The recipient has no phone number for this channel.")
SENT = ("sent", None, "")
DELIVERED = ("delivered", None, "")

INSTALLATION = {"installation_date": "Thursday 4 December"}
OUTAGE = {"area": "Leeds city centre"}

# Tables of demo rows, one a line; kept out of the formatter so they stay readable.
# fmt: off
MESSAGES = [
    Message("survey-0", 0, "sms", "survey", "delivered", 70, "survey_confirmation_sms",
            context_object="survey", receipts=[SENT, DELIVERED]),
    Message("survey-1", 1, "sms", "survey", "delivered", 52, "survey_confirmation_sms",
            context_object="survey", receipts=[SENT, DELIVERED]),
    Message("survey-2", 2, "sms", "survey", "sent", 3, "survey_confirmation_sms",
            context_object="survey", receipts=[SENT]),
    Message("survey-3", 3, "sms", "survey", "queued", 0.1, "survey_confirmation_sms",
            context_object="survey"),
    Message("survey-reminder-0", 0, "whatsapp", "survey", "delivered", 20,
            "survey_reminder_whatsapp", context_object="survey",
            receipts=[SENT, DELIVERED, ("read", None, "")]),
    Message("survey-reminder-1", 1, "whatsapp", "survey", "failed", 18,
            "survey_reminder_whatsapp", context_object="survey",
            receipts=[SENT, ("failed", "63016", "Outside the 24-hour WhatsApp session window.")]),
    Message("installation-0", 0, "email", "installation", "sent", 30,
            "installation_reminder_email", context=INSTALLATION, context_object="lead",
            receipts=[SENT]),
    Message("installation-1", 1, "email", "installation", "queued", 0.2,
            "installation_reminder_email", context=INSTALLATION, context_object="lead"),
    Message("installation-push-2", 2, "push", "installation", "sent", 26,
            "installation_update_push", context=INSTALLATION, context_object="lead",
            receipts=[SENT]),
    Message("payment-3", 3, "sms", "payment", "delivered", 96, context_object="lead",
            body="Thanks George, we have received your £250 deposit. Ref CS-1043.",
            receipts=[SENT, DELIVERED]),
    Message("lead-4", 4, "email", "lead", "sent", 120, context_object="lead",
            body="Thanks for your enquiry, Freya. A ChargeSol adviser will call you today.",
            receipts=[SENT]),
    Message("intro-call-4", 4, "call", "lead", "delivered", 118, context_object="lead",
            body="Introductory call from ChargeSol.", receipts=[SENT, DELIVERED]),
    Message("lead-5", 5, "sms", "lead", "failed", 8, context_object="lead",
            body="Thanks for your enquiry, Harry. We will call you shortly.",
            receipts=[FAILED_NO_PHONE]),
    Message("outage-0", 0, "sms", "emergency", "delivered", 1.5, "emergency_outage_sms",
            context=OUTAGE, receipts=[SENT, DELIVERED]),
    Message("outage-1", 1, "sms", "emergency", "delivered", 1.5, "emergency_outage_sms",
            context=OUTAGE, receipts=[SENT, DELIVERED]),
    Message("outage-2", 2, "sms", "emergency", "sent", 1.5, "emergency_outage_sms",
            context=OUTAGE, receipts=[SENT]),
    Message("outage-3", 3, "sms", "emergency", "failed", 1.5, "emergency_outage_sms",
            context=OUTAGE, receipts=[SENT, FAILED_UNREACHABLE]),
    Message("outage-4", 4, "sms", "emergency", "delivered", 1.5, "emergency_outage_sms",
            context=OUTAGE, receipts=[SENT, DELIVERED]),
]


@dataclass
class Call:
    label: str
    customer: int
    call_type: str
    context_object: str
    outcome: str
    hours_ago: float
    duration_seconds: int | None = None
    notes: str = ""


CALLS = [
    Call("intro-4", 4, "introductory", "lead", "connected", 118, 312,
         "Wants a tethered charger on the driveway side."),
    Call("intro-1", 1, "introductory", "lead", "no_answer", 75),
    Call("survey-confirm-0", 0, "survey_confirmation", "survey", "connected", 69, 95,
         "Confirmed Tuesday 10am."),
    Call("survey-confirm-2", 2, "survey_confirmation", "survey", "voicemail", 2.5, 31),
    Call("install-confirm-1", 1, "installation_confirmation", "lead", "busy", 28),
    Call("reschedule-3", 3, "reschedule", "survey", "callback_requested", 5, 48,
         "Away until the 12th; call back then."),
    Call("post-install-0", 0, "post_install", "lead", "connected", 150, 204,
         "Charging fine, happy with the install."),
    # Placed a moment ago by click-to-call: no outcome until the call-status webhook.
    Call("emergency-3", 3, "emergency", "lead", "", 0.05),
]
# fmt: on


def seed_notifications(people: DemoPeople) -> None:
    """Write the notifications, their receipts and the call logs of the demo."""
    now = timezone.now()
    templates = {template.name: template for template in NotificationTemplate.objects.all()}
    for message in MESSAGES:
        _seed_message(message, people, templates, now)
    for call in CALLS:
        _seed_call(call, people, now)


def _context_id(people: DemoPeople, customer: int, context_object: str | None) -> Any:
    if context_object == "survey":
        return people.surveys[customer].pk
    if context_object == "lead":
        return people.leads[customer].pk
    return None


def _seed_message(
    message: Message,
    people: DemoPeople,
    templates: dict[str, NotificationTemplate],
    now: datetime,
) -> None:
    recipient = people.customers[message.customer]
    template = templates[message.template] if message.template else None
    subject, body = "", message.body
    if template:
        context = {"recipient": recipient, "lead": people.leads[message.customer]}
        if message.customer < len(people.surveys):
            context["survey"] = people.surveys[message.customer]
        # The app's own renderer, as notify() uses: plain text, strict placeholders.
        rendered = render_message(template, {**context, **message.context})
        subject, body = rendered.subject, rendered.body

    created_at = now - timedelta(hours=message.hours_ago)
    gateway_accepted = any(status == "sent" for status, _, _ in message.receipts)
    reached = message.status == "delivered"
    notification, _ = Notification.objects.update_or_create(
        id=demo_uuid(f"notification:{message.label}"),
        defaults={
            "recipient": recipient,
            "channel": message.channel,
            "template": template,
            "subject": subject,
            "body": body,
            "context_type": message.context_type,
            "context_id": _context_id(people, message.customer, message.context_object),
            "status": message.status,
            "sent_at": created_at + timedelta(seconds=4) if gateway_accepted else None,
            "delivered_at": created_at + timedelta(seconds=40) if reached else None,
        },
    )
    # auto_now_add stamps "now" on insert; spread the demo over the past days instead.
    Notification.objects.filter(pk=notification.pk).update(created_at=created_at)

    gateway_id = _gateway_message_id(message) if gateway_accepted else None
    for step, (status, error_code, error_message) in enumerate(message.receipts):
        receipt, _ = DeliveryReceipt.objects.update_or_create(
            id=demo_uuid(f"receipt:{message.label}:{status}"),
            defaults={
                "notification": notification,
                "status": status,
                "gateway_message_id": gateway_id,
                "error_code": error_code,
                "error_message": error_message,
            },
        )
        received_at = created_at + timedelta(seconds=4 + 30 * step)
        DeliveryReceipt.objects.filter(pk=receipt.pk).update(received_at=received_at)


def _gateway_message_id(message: Message) -> str:
    """An id shaped like the one each channel's gateway hands back."""
    token = demo_uuid(f"gateway:{message.label}").hex
    if message.channel == "call":
        return f"CA{token}"
    if message.channel == "email":
        return f"<{token}@mail.chargesol.example.com>"
    if message.channel == "push":
        return f"projects/chargesol-demo/messages/{int(token[:15], 16)}"
    return f"SM{token}"


def _seed_call(call: Call, people: DemoPeople, now: datetime) -> None:
    call_log, _ = CallLog.objects.update_or_create(
        id=demo_uuid(f"call:{call.label}"),
        defaults={
            "caller": people.staff,
            "callee_phone": people.customers[call.customer].phone,
            "call_type": call.call_type,
            "context_type": call.context_object,
            "context_id": _context_id(people, call.customer, call.context_object),
            "outcome": call.outcome,
            "duration_seconds": call.duration_seconds,
            "notes": call.notes,
        },
    )
    called_at = now - timedelta(hours=call.hours_ago)
    CallLog.objects.filter(pk=call_log.pk).update(called_at=called_at)
