"""What each webhook event does to the database, for every provider alike.

:func:`record_event` applies one :mod:`event <.events>` and returns what changed (or
``None`` when nothing did), for :meth:`~.base.WebhookView.signal` to announce and
:meth:`~.base.WebhookView.answer` to answer with. Every function runs inside the
transaction the webhook view opens for its event, and locks the row it changes, so a
callback racing the send it reports on waits for that send to be recorded.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..choices import Channel, ReceiptStatus
from ..exceptions import InvalidPhoneNumberError
from ..models import CallLog, DeliveryReceipt, Notification
from ..recipients import normalise_phone, resolve_address
from ..status import ReceiptOutcome, record_receipt
from .events import CallAnsweredEvent, CallLogEvent, DeliveryEvent, WebhookEvent

logger = logging.getLogger("chargesol_notifications.webhooks")

#: How long after dialling a click-to-call its answer request is honoured. The gateway
#: asks when the callee picks up, within the ring timeout (a minute or so) plus
#: answering-machine detection; a request after this window is a replay.
CALL_ANSWER_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class ReceiptRecorded:
    """A :class:`~.events.DeliveryEvent` reached its notification (maybe as a duplicate)."""

    notification: Notification
    outcome: ReceiptOutcome


@dataclass(frozen=True)
class CallLogRecorded:
    """A :class:`~.events.CallLogEvent` changed its ``CallLog``."""

    call_log: CallLog
    gateway_status: str


@dataclass(frozen=True)
class CallConnection:
    """What to do with an answered click-to-call: bridge ``phone`` (E.164), or hang up."""

    phone: str | None


#: What recording an event can come to.
Recorded = ReceiptRecorded | CallLogRecorded | CallConnection


def record_event(event: WebhookEvent) -> Recorded | None:
    """Apply ``event``; return what changed, or ``None`` when nothing did."""
    match event:
        case DeliveryEvent():
            return record_delivery(event)
        case CallLogEvent():
            return record_call_log(event)
        case CallAnsweredEvent():
            return connect_answered_call(event)
    raise TypeError(f"No way to record {type(event).__name__}.")


# -- delivery reports ------------------------------------------------------------------------


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


def record_delivery(event: DeliveryEvent) -> ReceiptRecorded | None:
    """Write the receipt ``event`` reports, unless it is for no notification or a wrong one."""
    sid = event.gateway_message_id
    # No savepoint when nested (the view's own transaction, ATOMIC_REQUESTS, a test
    # case): two round trips fewer per callback. An error escaping this block is
    # answered 500, so it is right that the enclosing transaction is rolled back with it.
    with transaction.atomic(savepoint=False):
        notification = locked_notification(event.notification_id, sid)
        if notification is None:
            # Answered 200 all the same: the gateway would otherwise retry it for hours.
            logger.warning("Status callback for unknown %s (%s)", sid, event.notification_id)
            return None
        if event.notification_id is not None and sid_belongs_elsewhere(notification, sid):
            # A sid and an ?n= that do not go together: a misrouted or replayed callback.
            # Recorded on neither notification; answered 200 so it is not retried.
            logger.warning(
                "Status callback for %s does not belong to notification %s; recorded nowhere",
                sid,
                event.notification_id,
            )
            return None
        outcome = record_receipt(
            notification,
            event.receipt_status,
            gateway_message_id=sid,
            error_code=event.error_code,
            error_message=event.error_message,
        )
    return ReceiptRecorded(notification, outcome)


# -- click-to-call ----------------------------------------------------------------------------


def record_call_log(event: CallLogEvent) -> CallLogRecorded | None:
    """Fill in what ``event`` tells of its call; what is already known is never rewritten."""
    with transaction.atomic(savepoint=False):
        call_log = CallLog.objects.select_for_update().filter(pk=event.call_log_id).first()
        if call_log is None:
            logger.warning("Call status for unknown call log %s", event.call_log_id)
            return None
        # Set once: a duplicate or late callback never rewrites what is known.
        changed = []
        if event.outcome and not call_log.outcome:
            call_log.outcome = event.outcome
            changed.append("outcome")
        if event.duration_seconds is not None and call_log.duration_seconds is None:
            call_log.duration_seconds = event.duration_seconds
            changed.append("duration_seconds")
        if event.note and call_log.append_note(event.note, save=False):
            changed.append("notes")
        if not changed:
            return None
        call_log.save(update_fields=changed)
    return CallLogRecorded(call_log, event.gateway_status)


def call_is_over(call_log: CallLog) -> bool:
    """Whether a click-to-call can no longer be waiting for its answer request.

    Its outcome or duration is known (the call-status webhook recorded its end), or it
    was dialled longer than :data:`CALL_ANSWER_WINDOW` ago.
    """
    return (
        bool(call_log.outcome)
        or call_log.duration_seconds is not None
        or call_log.called_at < timezone.now() - CALL_ANSWER_WINDOW
    )


def connect_answered_call(event: CallAnsweredEvent) -> CallConnection:
    """Whom to connect to an answered click-to-call: the staff caller's phone, or nobody.

    A person answered: the caller's phone. A machine answered, the call is unknown, or
    it is over (:func:`call_is_over`, so the request is a replay): nobody. A caller whose
    phone cannot be read by now: nobody, and the call's notes say why.
    """
    call_log = (
        CallLog.objects.select_related("caller").filter(pk=event.call_log_id).first()
        if event.call_log_id
        else None
    )
    if call_log is None or event.by_machine:
        return CallConnection(None)
    if call_is_over(call_log):
        logger.warning("Answer request for call log %s after the call was over", call_log.pk)
        return CallConnection(None)
    try:
        phone = normalise_phone(str(resolve_address(call_log.caller, Channel.CALL) or ""))
    except InvalidPhoneNumberError as exc:
        # The caller's phone went away between dialling and answering: hang up rather
        # than let the gateway play an application error to the customer.
        call_log.append_note(f"Answered, but the caller could not be connected: {exc}")
        return CallConnection(None)
    return CallConnection(phone)
