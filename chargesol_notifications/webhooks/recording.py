"""What each webhook event does to the database, for every provider alike.

:func:`record_event` applies one :mod:`event <.events>` and returns what changed (or
``None`` when nothing did), for :meth:`~.base.WebhookView.signal` to announce and
:meth:`~.base.WebhookView.answer` to answer with. Every function runs inside the
transaction the webhook view opens for its event. A delivery report costs at most three
queries (:func:`record_delivery`); one that names its notification locks that row first,
so a callback racing the send it reports on waits for that send to be recorded.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Exists, Q, QuerySet, Subquery
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


def notification_for(event: DeliveryEvent) -> Notification | None:
    """The notification a callback is about, in one query, with two answers attached.

    By the URL's id, locked (``SELECT ... FOR UPDATE``): a send still being recorded holds
    that row, so this waits until the send has committed its own receipt, and the receipt
    written next sees it. By the gateway id otherwise, unlocked: a notification found by
    its ``sent`` receipt has no send of its own left to wait for.

    ``already_recorded`` says the receipt is a duplicate; ``claimed_elsewhere`` that the
    gateway id belongs to another notification (only asked with an id in the URL). Both
    can only turn true over time (receipts are not deleted while their gateway still
    calls), so a true answer is final, even one read before the lock was granted; a
    false one is checked again by the INSERT itself.
    """
    sid = event.gateway_message_id
    duplicates = DeliveryReceipt.objects.filter(gateway_message_id=sid, status=event.receipt_status)
    notifications = Notification.objects.annotate(already_recorded=Exists(duplicates))
    if event.notification_id is None:
        by_sid = DeliveryReceipt.objects.filter(gateway_message_id=sid).values("notification_id")
        return notifications.filter(pk=Subquery(by_sid[:1])).first()
    elsewhere = receipts_claiming_elsewhere(event.notification_id, sid)
    return (
        notifications.select_for_update()
        .annotate(claimed_elsewhere=Exists(elsewhere))
        .filter(pk=event.notification_id)
        .first()
    )


def receipts_claiming_elsewhere(notification_id: uuid.UUID, sid: str) -> QuerySet[DeliveryReceipt]:
    """Receipts that make ``sid`` wrong for the notification: its receipts elsewhere, or
    the notification's ``sent`` receipt for another gateway id."""
    of_another = Q(gateway_message_id=sid) & ~Q(notification_id=notification_id)
    another_sent = Q(
        notification_id=notification_id,
        status=ReceiptStatus.SENT,
        gateway_message_id__isnull=False,
    ) & ~Q(gateway_message_id=sid)
    return DeliveryReceipt.objects.filter(of_another | another_sent)


def record_delivery(event: DeliveryEvent) -> ReceiptRecorded | None:
    """Write the receipt ``event`` reports, unless it is for no notification or a wrong one.

    At most three queries: find the notification (:func:`notification_for`, which also
    tells a duplicate or a misrouted callback: then that one query is all), INSERT the
    receipt unless it is a duplicate or its gateway id belongs elsewhere (one statement,
    :func:`~chargesol_notifications.status.insert_receipt`), then the conditional status
    UPDATE. Only when the INSERT writes nothing that the first query did not foresee (a
    callback racing the send, or its own duplicate) is the third query a look at why.
    """
    sid = event.gateway_message_id
    # No savepoint when nested (the view's own transaction, ATOMIC_REQUESTS, a test
    # case): an error escaping this block is answered 500, so it is right that the
    # enclosing transaction is rolled back with it.
    with transaction.atomic(savepoint=False):
        notification = notification_for(event)
        if notification is None:
            # Answered 200 all the same: the gateway would otherwise retry it for hours.
            logger.warning("Status callback for unknown %s (%s)", sid, event.notification_id)
            return None
        # Only with an ?n=: a notification found by its gateway id is that id's by definition.
        elsewhere = (
            None
            if event.notification_id is None
            else receipts_claiming_elsewhere(notification.pk, sid)
        )
        if getattr(notification, "claimed_elsewhere", False):
            return misrouted(event)
        if getattr(notification, "already_recorded", False):
            outcome = ReceiptOutcome(receipt=None, advanced=False)
        else:
            outcome = record_receipt(
                notification,
                event.receipt_status,
                gateway_message_id=sid,
                error_code=event.error_code,
                error_message=event.error_message,
                unless=elsewhere,
            )
            if outcome.receipt is None and elsewhere is not None and elsewhere.exists():
                return misrouted(event)
    if outcome.receipt is None:
        logger.debug("Duplicate status callback %s %s", sid, event.receipt_status)
    return ReceiptRecorded(notification, outcome)


def misrouted(event: DeliveryEvent) -> None:
    """A sid and an ?n= that do not go together: a misrouted or replayed callback.

    Recorded on neither notification; answered 200 so that it is not retried.
    """
    logger.warning(
        "Status callback for %s does not belong to notification %s; recorded nowhere",
        event.gateway_message_id,
        event.notification_id,
    )


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
