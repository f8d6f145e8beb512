"""Twilio's status callbacks for messages and calls, and the answer URL of click-to-call.

What each Twilio status means here is decided by the tables below; statuses that are only
progress reports are acknowledged and recorded nowhere.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import transaction
from django.http import HttpResponse

from ..backends import get_backend
from ..calls import note_on
from ..choices import CallOutcome, Channel, NotificationStatus, ReceiptStatus
from ..exceptions import InvalidPhoneNumberError
from ..models import CallLog, DeliveryReceipt, Notification
from ..recipients import normalise_phone, resolve_address
from ..signals import call_status_recorded, notification_failed
from ..status import record_receipt
from .base import MalformedWebhook, TwilioWebhookView, required

logger = logging.getLogger("chargesol_notifications.webhooks")

#: Twilio MessageStatus -> the receipt it becomes.
MESSAGE_STATUS_RECEIPTS: dict[str, str] = {
    "sent": ReceiptStatus.SENT,
    "delivered": ReceiptStatus.DELIVERED,
    "read": ReceiptStatus.READ,
    "undelivered": ReceiptStatus.FAILED,
    "failed": ReceiptStatus.FAILED,
    "canceled": ReceiptStatus.FAILED,
}
#: MessageStatus values that only report progress.
MESSAGE_PROGRESS = frozenset(
    {"queued", "accepted", "scheduled", "sending", "receiving", "received", "partially_delivered"}
)

#: Twilio CallStatus -> the receipt a ``call`` notification gets.
CALL_STATUS_RECEIPTS: dict[str, str] = {
    "completed": ReceiptStatus.DELIVERED,
    "no-answer": ReceiptStatus.FAILED,
    "busy": ReceiptStatus.FAILED,
    "failed": ReceiptStatus.FAILED,
    "canceled": ReceiptStatus.FAILED,
}
CALL_PROGRESS = frozenset({"queued", "initiated", "ringing", "in-progress"})
#: Why a call did not reach anyone, for the receipt and the call's notes.
CALL_FAILURE_REASONS: dict[str, str] = {
    "no-answer": "Nobody answered the call.",
    "busy": "The line was busy.",
    "failed": "Twilio could not place the call (the number may be invalid or unreachable).",
    "canceled": "The call was canceled before it was answered.",
}
#: Twilio CallStatus -> CallLog outcome, where the status alone decides.
CALL_OUTCOMES: dict[str, str] = {
    "no-answer": CallOutcome.NO_ANSWER,
    "busy": CallOutcome.BUSY,
}

#: Delivery error codes of message callbacks, explained for staff.
MESSAGE_ERRORS: dict[str, str] = {
    "30003": "The handset is unreachable (switched off or out of coverage).",
    "30004": "The message was blocked by the recipient or the carrier.",
    "30005": "The number is unknown or no longer in service.",
    "30006": "The number is a landline or cannot receive SMS.",
    "30007": "The carrier filtered the message as spam.",
    "30008": "The carrier reported an unknown error.",
    "63016": (
        "WhatsApp refused a free-form message outside the 24-hour customer service "
        "window; map this template to an approved Content SID in WHATSAPP_CONTENT_TEMPLATES."
    ),
}


def answered_by_machine(form: Any) -> bool:
    answered_by = str(form.get("AnsweredBy", ""))
    return answered_by.startswith("machine") or answered_by == "fax"


def query_uuid(query: Any, name: str) -> uuid.UUID | None:
    value = query.get(name)
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise MalformedWebhook(f"{name}={value!r} is not a UUID.") from exc


def locked_notification(notification_id: uuid.UUID | None, sid: str) -> Notification | None:
    """The notification a callback is about, locked; by the URL's id, else by its sid."""
    if notification_id is None:
        notification_id = (
            DeliveryReceipt.objects.filter(gateway_message_id=sid)
            .values_list("notification_id", flat=True)
            .first()
        )
        if notification_id is None:
            return None
    return Notification.objects.select_for_update().filter(pk=notification_id).first()


def record_callback(
    notification_id: uuid.UUID | None,
    sid: str,
    receipt_status: str,
    *,
    error_code: str | None,
    error_message: str,
) -> None:
    with transaction.atomic():
        notification = locked_notification(notification_id, sid)
        if notification is None:
            # Answered 200 all the same: Twilio would otherwise retry it for hours.
            logger.warning("Status callback for unknown %s (%s)", sid, notification_id)
            return
        outcome = record_receipt(
            notification,
            receipt_status,
            gateway_message_id=sid,
            error_code=error_code,
            error_message=error_message,
        )
        if outcome.advanced and notification.status == NotificationStatus.FAILED:
            notification_failed.send(
                sender=Notification, notification=notification, receipt=outcome.receipt, error=None
            )


class MessageStatusView(TwilioWebhookView):
    """``twilio/message-status/``: SMS and WhatsApp delivery reports."""

    def handle(self, form: Any, query: Any) -> HttpResponse:
        sid = required(form, "MessageSid")
        status = required(form, "MessageStatus")
        notification_id = query_uuid(query, "n")
        if status in MESSAGE_PROGRESS:
            return HttpResponse(status=200)
        if status not in MESSAGE_STATUS_RECEIPTS:
            raise MalformedWebhook(f"MessageStatus {status!r} is not a Twilio message status.")
        receipt_status = MESSAGE_STATUS_RECEIPTS[status]
        error_code = form.get("ErrorCode") or None
        error_message = ""
        if receipt_status == ReceiptStatus.FAILED:
            error_message = MESSAGE_ERRORS.get(str(error_code), "") or (
                form.get("ErrorMessage") or f"Twilio reported the message {status}."
            )
            error_code = error_code or status
        record_callback(
            notification_id, sid, receipt_status, error_code=error_code, error_message=error_message
        )
        return HttpResponse(status=200)


class CallStatusView(TwilioWebhookView):
    """``twilio/call-status/``: progress of spoken notifications and click-to-calls."""

    def handle(self, form: Any, query: Any) -> HttpResponse:
        sid = required(form, "CallSid")
        status = required(form, "CallStatus")
        if status not in CALL_PROGRESS and status not in CALL_STATUS_RECEIPTS:
            raise MalformedWebhook(f"CallStatus {status!r} is not a Twilio call status.")
        duration = form.get("CallDuration")
        if duration is not None and not str(duration).isdigit():
            raise MalformedWebhook(f"CallDuration {duration!r} is not a number of seconds.")
        call_log_id = query_uuid(query, "call")
        notification_id = query_uuid(query, "n")
        if call_log_id is not None:
            self.record_call_log(call_log_id, status, form)
        elif status in CALL_STATUS_RECEIPTS:
            receipt_status = CALL_STATUS_RECEIPTS[status]
            failed = receipt_status == ReceiptStatus.FAILED
            record_callback(
                notification_id,
                sid,
                receipt_status,
                error_code=status if failed else None,
                error_message=CALL_FAILURE_REASONS.get(status, "") if failed else "",
            )
        return HttpResponse(status=200)

    @staticmethod
    def record_call_log(call_log_id: uuid.UUID, status: str, form: Any) -> None:
        if answered_by_machine(form):
            outcome = CallOutcome.VOICEMAIL
        elif status == "completed":
            outcome = CallOutcome.CONNECTED
        else:
            outcome = CALL_OUTCOMES.get(status, "")
        with transaction.atomic():
            call_log = CallLog.objects.select_for_update().filter(pk=call_log_id).first()
            if call_log is None:
                logger.warning("Call status for unknown call log %s", call_log_id)
                return
            # Set once: a duplicate or late callback never rewrites what is known.
            changed = []
            if outcome and not call_log.outcome:
                call_log.outcome = outcome
                changed.append("outcome")
            duration = form.get("CallDuration")
            if duration is not None and call_log.duration_seconds is None:
                call_log.duration_seconds = int(duration)
                changed.append("duration_seconds")
            reason = CALL_FAILURE_REASONS.get(status) if status in ("failed", "canceled") else None
            if reason and reason not in call_log.notes:
                call_log.notes = f"{call_log.notes}\n{reason}".strip()
                changed.append("notes")
            if changed:
                call_log.save(update_fields=changed)
                call_status_recorded.send(sender=CallLog, call_log=call_log, call_status=status)


class CallAnswerView(TwilioWebhookView):
    """``twilio/call-answer/``: TwiML for an answered click-to-call.

    A person answered: bridge the staff caller's phone. A machine answered: hang up, so
    staff are not connected to a voicemail greeting.
    """

    def handle(self, form: Any, query: Any) -> HttpResponse:
        required(form, "CallSid")
        call_log_id = query_uuid(query, "call")
        backend = get_backend(Channel.CALL)
        call_log = (
            CallLog.objects.select_related("caller").filter(pk=call_log_id).first()
            if call_log_id
            else None
        )
        if call_log is None or answered_by_machine(form):
            return twiml_response(backend.hang_up())  # type: ignore[attr-defined]
        try:
            phone = normalise_phone(str(resolve_address(call_log.caller, Channel.CALL) or ""))
        except InvalidPhoneNumberError as exc:
            # The caller's phone went away between dialling and answering: hang up
            # rather than let Twilio play an application error to the customer.
            note_on(call_log, f"Answered, but the caller could not be connected: {exc}")
            return twiml_response(backend.hang_up())  # type: ignore[attr-defined]
        return twiml_response(backend.connect(phone))  # type: ignore[attr-defined]


def twiml_response(twiml: str) -> HttpResponse:
    return HttpResponse(twiml, content_type="text/xml")
