"""Twilio's status callbacks for messages and calls, and the answer URL of click-to-call.

What each Twilio status means here is decided by the tables below; statuses that are only
progress reports are acknowledged and recorded nowhere.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.http import HttpResponse, QueryDict
from django.utils import timezone

from ..backends import get_backend
from ..choices import CallOutcome, Channel, NotificationStatus, ReceiptStatus
from ..exceptions import InvalidPhoneNumberError
from ..models import CallLog, DeliveryReceipt, Notification
from ..recipients import normalise_phone, resolve_address
from ..signals import call_status_recorded, notification_failed
from ..status import record_receipt
from ..twilio_codes import explain
from .base import (
    ASCII_DIGITS,
    TWILIO_SID,
    IntegerParam,
    TextParam,
    TwilioWebhookView,
    UUIDParam,
)

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

GATEWAY_ID_LENGTH: int = DeliveryReceipt._meta.get_field("gateway_message_id").max_length or 0
ERROR_CODE_LENGTH: int = DeliveryReceipt._meta.get_field("error_code").max_length or 0
#: Twilio's ``ErrorMessage`` is a sentence; a longer one is cut to this many characters
#: rather than refused, so the failure it reports is still recorded.
ERROR_MESSAGE_LENGTH = 500

# The parameters the views read, and the rule each value must follow (see base.Param).
MESSAGE_SID = TextParam("MessageSid", max_length=GATEWAY_ID_LENGTH, pattern=TWILIO_SID)
MESSAGE_STATUS = TextParam(
    "MessageStatus", max_length=30, choices=MESSAGE_PROGRESS | frozenset(MESSAGE_STATUS_RECEIPTS)
)
ERROR_CODE = TextParam("ErrorCode", max_length=ERROR_CODE_LENGTH, pattern=ASCII_DIGITS)
ERROR_MESSAGE = TextParam("ErrorMessage", max_length=ERROR_MESSAGE_LENGTH, truncate=True)
CALL_SID = TextParam("CallSid", max_length=GATEWAY_ID_LENGTH, pattern=TWILIO_SID)
CALL_STATUS = TextParam(
    "CallStatus", max_length=30, choices=CALL_PROGRESS | frozenset(CALL_STATUS_RECEIPTS)
)
CALL_DURATION = IntegerParam("CallDuration")
ANSWERED_BY = TextParam("AnsweredBy", max_length=50)
NOTIFICATION = UUIDParam("n")
CALL_LOG = UUIDParam("call")

#: How long after dialling a click-to-call its answer URL is honoured. Twilio asks for it
#: when the callee picks up, within the ring timeout (60 s unless set otherwise) plus
#: answering-machine detection; a request after this window is a replay.
CALL_ANSWER_WINDOW = timedelta(minutes=10)


def answered_by_machine(answered_by: str | None) -> bool:
    if answered_by is None:
        return False
    return answered_by.startswith("machine") or answered_by == "fax"


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


def sid_belongs_elsewhere(notification: Notification, sid: str) -> bool:
    """Whether ``sid`` is another notification's, or ``notification`` already has another.

    Asked after the notification's row is locked: a send still being recorded holds that
    lock, so its ``sent`` receipt is visible here once the lock is granted.
    """
    of_another = Q(gateway_message_id=sid) & ~Q(notification_id=notification.pk)
    another_sent = Q(
        notification_id=notification.pk, status=ReceiptStatus.SENT, gateway_message_id__isnull=False
    ) & ~Q(gateway_message_id=sid)
    return DeliveryReceipt.objects.filter(of_another | another_sent).exists()


def record_callback(
    notification_id: uuid.UUID | None,
    sid: str,
    receipt_status: str,
    *,
    error_code: str | None,
    error_message: str,
) -> None:
    # No savepoint when nested (ATOMIC_REQUESTS, a test case): two round trips fewer per
    # callback. An error escaping this block is answered 500, so it is right that the
    # enclosing transaction is rolled back with it.
    with transaction.atomic(savepoint=False):
        notification = locked_notification(notification_id, sid)
        if notification is None:
            # Answered 200 all the same: Twilio would otherwise retry it for hours.
            logger.warning("Status callback for unknown %s (%s)", sid, notification_id)
            return
        if notification_id is not None and sid_belongs_elsewhere(notification, sid):
            # A sid and an ?n= that do not go together: a misrouted or replayed callback.
            # Recorded on neither notification; answered 200 so it is not retried.
            logger.warning(
                "Status callback for %s does not belong to notification %s; recorded nowhere",
                sid,
                notification_id,
            )
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

    def handle(self, form: QueryDict, query: QueryDict) -> HttpResponse:
        sid = MESSAGE_SID.require(form)
        status = MESSAGE_STATUS.require(form)
        twilio_code = ERROR_CODE.read(form)
        twilio_message = ERROR_MESSAGE.read(form)
        notification_id = NOTIFICATION.read(query)
        if status in MESSAGE_PROGRESS:
            return HttpResponse(status=200)
        receipt_status = MESSAGE_STATUS_RECEIPTS[status]
        error_code = twilio_code
        error_message = ""
        if receipt_status == ReceiptStatus.FAILED:
            error_message = explain(twilio_code) or (
                twilio_message or f"Twilio reported the message {status}."
            )
            error_code = twilio_code or status
        record_callback(
            notification_id, sid, receipt_status, error_code=error_code, error_message=error_message
        )
        return HttpResponse(status=200)


class CallStatusView(TwilioWebhookView):
    """``twilio/call-status/``: progress of spoken notifications and click-to-calls."""

    def handle(self, form: QueryDict, query: QueryDict) -> HttpResponse:
        sid = CALL_SID.require(form)
        status = CALL_STATUS.require(form)
        duration = CALL_DURATION.read(form)
        answered_by = ANSWERED_BY.read(form)
        call_log_id = CALL_LOG.read(query)
        notification_id = NOTIFICATION.read(query)
        if call_log_id is not None:
            self.record_call_log(call_log_id, status, duration, answered_by)
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
    def record_call_log(
        call_log_id: uuid.UUID, status: str, duration: int | None, answered_by: str | None
    ) -> None:
        if answered_by_machine(answered_by):
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
            if duration is not None and call_log.duration_seconds is None:
                call_log.duration_seconds = duration
                changed.append("duration_seconds")
            reason = CALL_FAILURE_REASONS.get(status) if status in ("failed", "canceled") else None
            if reason and call_log.append_note(reason, save=False):
                changed.append("notes")
            if changed:
                call_log.save(update_fields=changed)
                call_status_recorded.send(sender=CallLog, call_log=call_log, call_status=status)


def call_is_over(call_log: CallLog) -> bool:
    """Whether a click-to-call can no longer be waiting for its answer URL.

    Its outcome or duration is known (the call-status webhook recorded its end), or it
    was dialled longer than :data:`CALL_ANSWER_WINDOW` ago.
    """
    return (
        bool(call_log.outcome)
        or call_log.duration_seconds is not None
        or call_log.called_at < timezone.now() - CALL_ANSWER_WINDOW
    )


class CallAnswerView(TwilioWebhookView):
    """``twilio/call-answer/``: TwiML for an answered click-to-call.

    A person answered: bridge the staff caller's phone. A machine answered: hang up, so
    staff are not connected to a voicemail greeting. A request for a call that is over
    (:func:`call_is_over`) is a replay: hang up, never dial the staff phone.
    """

    def handle(self, form: QueryDict, query: QueryDict) -> HttpResponse:
        CALL_SID.require(form)
        answered_by = ANSWERED_BY.read(form)
        call_log_id = CALL_LOG.read(query)
        backend = get_backend(Channel.CALL)
        call_log = (
            CallLog.objects.select_related("caller").filter(pk=call_log_id).first()
            if call_log_id
            else None
        )
        if call_log is None or answered_by_machine(answered_by):
            return twiml_response(backend.hang_up())  # type: ignore[attr-defined]
        if call_is_over(call_log):
            logger.warning("Answer request for call log %s after the call was over", call_log.pk)
            return twiml_response(backend.hang_up())  # type: ignore[attr-defined]
        try:
            phone = normalise_phone(str(resolve_address(call_log.caller, Channel.CALL) or ""))
        except InvalidPhoneNumberError as exc:
            # The caller's phone went away between dialling and answering: hang up
            # rather than let Twilio play an application error to the customer.
            call_log.append_note(f"Answered, but the caller could not be connected: {exc}")
            return twiml_response(backend.hang_up())  # type: ignore[attr-defined]
        return twiml_response(backend.connect(phone))  # type: ignore[attr-defined]


def twiml_response(twiml: str) -> HttpResponse:
    return HttpResponse(twiml, content_type="text/xml")
