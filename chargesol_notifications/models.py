"""The four tables of ChargeSol's notifications data model (``spec/models.rst``).

Fields, choices, ``on_delete`` rules and indexes follow the specification exactly; the
conformance test in ``tests/test_models_spec.py`` fails on any drift. The additions made
here (a default status, a blank outcome for a call still ringing, the receipt lookup index
and uniqueness) are explained where they are declared.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .choices import (
    CallOutcome,
    CallType,
    Channel,
    ContextType,
    InboundChannel,
    NotificationStatus,
    OptOutReason,
    ReceiptStatus,
    TemplateChannel,
)


class NotificationTemplate(models.Model):
    """A reusable message with Django template placeholders, edited by staff."""

    name = models.CharField(
        _("name"),
        max_length=100,
        unique=True,
        help_text=_("Template identifier used by code, e.g. survey_confirmation_sms."),
    )
    channel = models.CharField(_("channel"), max_length=20, choices=TemplateChannel.choices)
    subject_template = models.CharField(
        _("subject template"),
        max_length=255,
        blank=True,
        help_text=_("Subject with {{ placeholders }}; email templates only."),
    )
    body_template = models.TextField(
        _("body template"),
        help_text=_("Message body in Django template syntax, sent as plain text."),
    )
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Inactive templates cannot be used to send.")
    )

    class Meta:
        verbose_name = _("notification template")
        verbose_name_plural = _("notification templates")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_channel_display()})"

    def clean(self) -> None:
        # Imported here: rendering imports the models module for type hints.
        from .rendering import validate_template

        validate_template(self)


class Notification(models.Model):
    """One message to one user over one channel, and its delivery state."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("recipient"),
    )
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    template = models.ForeignKey(
        NotificationTemplate,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notifications",
        verbose_name=_("template"),
    )
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    body = models.TextField(_("body"))
    # Blank allowed: notify() without a context_type (a one-off message) stores "".
    context_type = models.CharField(
        _("context type"), max_length=30, choices=ContextType.choices, blank=True
    )
    context_id = models.UUIDField(_("context id"), null=True, blank=True)
    # The default is what notify() writes; the spec leaves the column without one.
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=NotificationStatus.choices,
        default=NotificationStatus.QUEUED,
    )
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # An addition to the spec (issue: staff admin): where the message actually went, so
    # that staff can answer "I never got the text" and search by the number used even
    # after the customer changed theirs. Written at delivery; blank until then, and for
    # a message that failed before an address was known.
    address = models.CharField(
        _("address"),
        max_length=255,
        blank=True,
        default="",
        help_text=_(
            "Where the message was sent: E.164 phone, whatsapp:+…, email, or push token "
            "reference. Written at delivery."
        ),
    )

    # An addition (issue: staff admin): a resend made in the admin points at the
    # notification it repeats, so each page links to the other.
    resent_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="resends",
        verbose_name=_("resent from"),
    )

    # An addition (issue: scheduled reminders): when a scheduled notification is due,
    # set by notify(send_at=...) or by quiet hours. Delivery never sends the row before
    # it; the row, not a task, is the truth, so deliver_queued finds it after a restart.
    scheduled_for = models.DateTimeField(
        _("scheduled for"),
        null=True,
        blank=True,
        help_text=_(
            "When the notification goes out: the time asked for with send_at, or the end "
            "of quiet hours. Empty: at once."
        ),
    )

    # Additions (issue: channel escalation): a step of an escalation chain points at the
    # step it follows, and a step still to escalate holds the channels left to try.
    escalated_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="escalations",
        verbose_name=_("escalated from"),
    )
    fallback_channels = models.CharField(
        _("fallback channels"),
        max_length=100,
        blank=True,
        default="",
        help_text=_(
            "The channels still to try, in order (e.g. sms,call), when this message fails "
            "or is not delivered in time. Emptied once it escalates."
        ),
    )

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at"]
        # ``recipient`` is indexed by its ForeignKey (db_index=True).
        indexes = [
            models.Index(fields=["status"], name="csn_notification_status_idx"),
            models.Index(fields=["context_type"], name="csn_notification_ctx_type_idx"),
            models.Index(fields=["created_at"], name="csn_notification_created_idx"),
            # Additions: the admin's searches by the address used and by context id.
            models.Index(fields=["address"], name="csn_notification_address_idx"),
            models.Index(fields=["context_id"], name="csn_notification_ctx_id_idx"),
            # Addition: deliver_queued and the admin's "scheduled" filter look rows up by it.
            models.Index(fields=["scheduled_for"], name="csn_notification_sched_idx"),
        ]
        permissions = [
            ("resend_notification", _("Can resend failed notifications")),
            ("requeue_notification", _("Can requeue notifications stuck in queued")),
            ("cancel_notification", _("Can cancel scheduled notifications")),
        ]

    def __str__(self) -> str:
        return _("%(channel)s to %(recipient)s, %(status)s") % {
            "channel": self.get_channel_display(),
            "recipient": display_name(self.recipient) if self.recipient_id else "?",
            "status": self.get_status_display().lower(),
        }


class CallLog(models.Model):
    """A phone call made within a ChargeSol workflow, by hand or click-to-call."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    caller = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="call_logs",
        verbose_name=_("caller"),
    )
    # The spec says CharField(15); E.164 is "+" and up to 15 digits, so 16 characters.
    callee_phone = models.CharField(
        _("callee phone"),
        max_length=16,
        help_text=_(
            "E.164 number, e.g. +447700900123. Sixteen characters: the '+' that Twilio "
            "needs plus up to fifteen digits."
        ),
    )
    call_type = models.CharField(_("call type"), max_length=30, choices=CallType.choices)
    context_type = models.CharField(
        _("context type"),
        max_length=30,
        help_text=_("Related entity type: lead, survey, installation."),
    )
    context_id = models.UUIDField(_("context id"))
    # Blank while a click-to-call is still ringing; the call-status webhook fills it in.
    outcome = models.CharField(
        _("outcome"),
        max_length=30,
        choices=CallOutcome.choices,
        blank=True,
        help_text=_("Empty until the outcome is known."),
    )
    duration_seconds = models.IntegerField(_("duration (seconds)"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    called_at = models.DateTimeField(_("called at"), auto_now_add=True)

    class Meta:
        verbose_name = _("call log")
        verbose_name_plural = _("call logs")
        ordering = ["-called_at"]
        indexes = [
            models.Index(fields=["call_type"], name="csn_calllog_call_type_idx"),
            models.Index(fields=["context_type"], name="csn_calllog_ctx_type_idx"),
            models.Index(fields=["called_at"], name="csn_calllog_called_at_idx"),
            # Additions: the admin's searches by number (any format, normalised to E.164)
            # and by context id.
            models.Index(fields=["callee_phone"], name="csn_calllog_callee_phone_idx"),
            models.Index(fields=["context_id"], name="csn_calllog_ctx_id_idx"),
        ]
        permissions = [("place_call", _("Can place calls from the admin (click-to-call)"))]

    def __str__(self) -> str:
        return _("%(call_type)s call to %(phone)s") % {
            "call_type": self.get_call_type_display(),
            "phone": self.callee_phone,
        }

    def append_note(self, line: str, *, save: bool = True) -> bool:
        """Add ``line`` to the notes, after what staff wrote; the one way the app does.

        A line already there is not added again (callbacks arrive twice). With ``save``
        only the notes column is written; without it the caller saves. Returns whether
        the notes changed.
        """
        if line in self.notes.splitlines():
            return False
        self.notes = f"{self.notes}\n{line}".strip()
        if save:
            type(self).objects.filter(pk=self.pk).update(notes=self.notes)
        return True


class DeliveryReceipt(models.Model):
    """A gateway's word on a notification: its answer to the send, or a status callback."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    notification = models.ForeignKey(
        Notification,
        on_delete=models.CASCADE,
        related_name="receipts",
        verbose_name=_("notification"),
    )
    status = models.CharField(_("status"), max_length=20, choices=ReceiptStatus.choices)
    gateway_message_id = models.CharField(
        _("gateway message id"), max_length=100, null=True, blank=True
    )
    error_code = models.CharField(_("error code"), max_length=50, null=True, blank=True)
    error_message = models.TextField(_("error message"), blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("delivery receipt")
        verbose_name_plural = _("delivery receipts")
        ordering = ["received_at"]
        # Addition: the receipts list in the admin is newest first.
        indexes = [models.Index(fields=["received_at"], name="csn_receipt_received_idx")]
        constraints = [
            # A gateway reports each status of a message once; retried or duplicated
            # callbacks must not add rows. NULL ids (failures before the gateway
            # accepted anything) are distinct on every supported database. Its index
            # also serves the webhooks' and the admin's lookups by gateway id.
            models.UniqueConstraint(
                fields=["gateway_message_id", "status"], name="csn_receipt_once_per_status"
            ),
        ]

    def __str__(self) -> str:
        text = _("%(status)s receipt") % {"status": self.get_status_display()}
        if self.gateway_message_id:
            return f"{text} ({self.gateway_message_id})"
        return text


class InboundMessage(models.Model):
    """A customer's message to ChargeSol: an SMS or WhatsApp reply (addition).

    Written by the inbound webhook, once per gateway message (Twilio retries a webhook it
    got no answer to). ``in_reply_to`` is the latest notification sent to the sender on
    that channel within ``REPLY_WINDOW``, which says which lead or survey it is about.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    channel = models.CharField(_("channel"), max_length=20, choices=InboundChannel.choices)
    from_address = models.CharField(
        _("from"), max_length=64, help_text=_("E.164, or whatsapp:+… for WhatsApp.")
    )
    to_address = models.CharField(_("to"), max_length=64)
    body = models.TextField(_("body"), blank=True)
    gateway_message_id = models.CharField(_("gateway message id"), max_length=100, unique=True)
    media_count = models.PositiveSmallIntegerField(_("media attached"), default=0)
    #: Twilio's reading of an opt-out keyword (``STOP``, ``START``, ``HELP``), if any.
    opt_out_type = models.CharField(_("opt-out keyword"), max_length=20, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="inbound_messages",
        verbose_name=_("from user"),
    )
    in_reply_to = models.ForeignKey(
        Notification,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="replies",
        verbose_name=_("in reply to"),
    )

    class Meta:
        verbose_name = _("inbound message")
        verbose_name_plural = _("inbound messages")
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["from_address"], name="csn_inbound_from_idx"),
            models.Index(fields=["received_at"], name="csn_inbound_received_idx"),
        ]

    def __str__(self) -> str:
        return _("%(channel)s from %(sender)s") % {
            "channel": self.get_channel_display(),
            "sender": display_name(self.user) if self.user_id else self.from_address,
        }


class OptOut(models.Model):
    """An address that must not be sent to on a channel, and why (addition).

    One row per (channel, address), addresses written as ``Notification.address`` writes
    them (E.164, ``whatsapp:+…``, an email address). START lifts an opt-out by setting
    ``lifted_at``; the row stays as the record of both. Delivery checks the active rows
    before it talks to a gateway.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    address = models.CharField(_("address"), max_length=255)
    reason = models.CharField(_("reason"), max_length=30, choices=OptOutReason.choices)
    detail = models.TextField(_("detail"), blank=True)
    created_at = models.DateTimeField(_("opted out at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("added by"),
    )
    inbound_message = models.ForeignKey(
        InboundMessage,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("message that asked"),
    )
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("opt-out")
        verbose_name_plural = _("opt-outs")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "address"], name="csn_optout_once"),
        ]

    def __str__(self) -> str:
        return _("%(channel)s opt-out of %(address)s") % {
            "channel": self.get_channel_display(),
            "address": self.address,
        }

    @property
    def is_active(self) -> bool:
        return self.lifted_at is None


def display_name(user: Any) -> str:
    """How staff read a user's name: the full name, else the login name."""
    full_name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return full_name.strip() or str(user.get_username())
