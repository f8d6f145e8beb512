"""What each webhook event does to the database, for every provider alike.

:func:`record_event` applies one :mod:`event <.events>` and returns what changed (or
``None`` when nothing did), for :meth:`~.base.WebhookView.signal` to announce and
:meth:`~.base.WebhookView.answer` to answer with. Every function runs inside the
transaction the webhook view opens for its event, after :func:`locate` has read, outside
it, what a delivery report is about. A delivery report costs at most three queries
(:func:`record_delivery`); one that names its notification waits for that row's lock
first, so a callback racing the send it reports on waits for that send to be recorded.
On PostgreSQL, when no transaction around the write is needed, that lookup writes a new
receipt itself (:func:`notification_for`): one statement, and no transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.db import connections, router, transaction
from django.utils import timezone

from ..choices import Channel, NotificationStatus, ReceiptStatus
from ..escalation_due import escalate_failed_on_commit
from ..exceptions import InvalidPhoneNumberError
from ..models import CallLog, DeliveryReceipt, Notification
from ..recipients import normalise_phone, resolve_address
from ..status import (
    STATUS_FOR_RECEIPT,
    ReceiptOutcome,
    forward_update,
    prepared_pk,
    receipt_written,
    record_receipt,
)
from .delivery_sql import (
    NOTIFICATION_ATTNAMES,
    claimed_elsewhere,
    delivery_sql,
    holds,
    prepared_row,
    read_notification,
    receipt_row,
    recording_by_id,
)
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


@dataclass(frozen=True)
class Located:
    """A delivery report and what its lookup (:func:`notification_for`) found.

    ``notification`` is ``None`` when it is unknown. ``already_recorded`` says the receipt is
    a duplicate; ``claimed_elsewhere`` that its gateway id belongs to another notification.
    ``attempt`` is what the lookup wrote itself, when it was let write (see
    :func:`notification_for`): the receipt (``None`` when a unique constraint refused it) and
    whether the status moved; ``None`` when it wrote nothing, leaving the writing to
    :func:`record_delivery`.
    """

    event: DeliveryEvent
    notification: Notification | None
    already_recorded: bool = False
    claimed_elsewhere: bool = False
    attempt: ReceiptOutcome | None = None

    @property
    def settled(self) -> bool:
        """Whether nothing is left to write: the report is unknown, a duplicate or
        misrouted (as the lookup saw it), or the lookup wrote it."""
        return (
            self.notification is None
            or self.already_recorded
            or self.claimed_elsewhere
            or self.attempt is not None
        )


def locate(event: WebhookEvent, *, write: bool = False) -> WebhookEvent | Located:
    """Read what recording ``event`` needs before its transaction opens: one query at most.

    A delivery report's notification (:func:`notification_for`), whose lookup may wait
    for a send still being recorded: run before the transaction, it waits holding
    nothing, and a duplicate or misrouted report, which it recognises, opens no
    transaction at all. With ``write`` the lookup may also record the report (see
    :func:`notification_for`). Other events are returned as they are.
    """
    if isinstance(event, DeliveryEvent):
        return notification_for(event, write=write)
    return event


def record_event(event: WebhookEvent | Located) -> Recorded | None:
    """Apply ``event``; return what changed, or ``None`` when nothing did."""
    match event:
        case Located():
            return record_delivery(event)
        case DeliveryEvent():
            return record_delivery(notification_for(event))
        case CallLogEvent():
            return record_call_log(event)
        case CallAnsweredEvent():
            return connect_answered_call(event)
    raise TypeError(f"No way to record {type(event).__name__}.")


# -- delivery reports ------------------------------------------------------------------------


def notification_for(event: DeliveryEvent, *, write: bool = False) -> Located:
    """The notification a callback is about, in one query, with two answers attached.

    By the URL's id, waiting for the row's lock: a send still being recorded holds that
    row, so this waits until the send has committed its own receipt, and the receipt
    written next (in a statement of its own) sees it. The lock itself is not needed
    after that: outside a transaction (:func:`locate`) it ends with the statement. By the
    gateway id otherwise, unlocked: a notification found by its ``sent`` receipt has no
    send of its own left to wait for.

    ``already_recorded`` says the receipt is a duplicate; ``claimed_elsewhere`` that the
    gateway id belongs to another notification (:func:`claimed_elsewhere`; only asked with
    an id in the URL). Both can only turn true over time (receipts are not deleted while
    their gateway still calls), so a true answer is final, even one read before the lock
    was granted; a false one is checked again by the INSERT itself.

    With ``write``, by the URL's id, on PostgreSQL: the same statement also writes the
    receipt and moves the status (:func:`.delivery_sql.recording_by_id`) when the
    notification is past ``queued`` (no send of its own can be in flight), so that a new
    receipt costs this one statement. The caller lets it write only where no transaction
    around the write is needed: nobody listens to the signals recording sends.
    """
    using = router.db_for_write(Notification)
    connection = connections[using]
    sql = delivery_sql(using)
    sid, status = event.gateway_message_id, event.receipt_status
    new_row = None
    if event.notification_id is None:
        statement, params = sql.by_sid, [sid, status, sid]
    else:
        pk = prepared_pk(event.notification_id, connection)
        elsewhere = [sid, pk, pk, ReceiptStatus.SENT.value, sid]
        statement, params = sql.by_id, [sid, status, *elsewhere, pk, *sql.by_id_params]
        writing = recording_by_id(using, status) if write else None
        if writing is not None:
            # One time for received_at (auto_now_add), sent_at and delivered_at, as
            # record_receipt() has it.
            at = timezone.now()
            new_row = receipt_row(event, at)
            target = STATUS_FOR_RECEIPT[status]
            _update, forward = forward_update(
                connection, event.notification_id, target, at, accepted=True
            )
            statement = writing
            params += [*prepared_row(new_row, connection), NotificationStatus.QUEUED.value]
            params += forward
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        row = cursor.fetchone()
    if row is None:
        return Located(event, None)
    notification = read_notification(using, row)
    width = len(NOTIFICATION_ATTNAMES)
    answers = [bool(answer) for answer in row[width:]]
    if event.notification_id is None:
        return Located(event, notification, already_recorded=answers[0])
    already, elsewhere_now = answers[0], answers[1]
    attempt = None
    if new_row is not None and notification.status != NotificationStatus.QUEUED:
        written, moved = answers[2], answers[3]
        receipt = None
        if written:
            receipt = DeliveryReceipt.from_db(using, None, new_row)
            receipt.notification = notification  # as record_receipt() builds it
        attempt = ReceiptOutcome(receipt=receipt, advanced=moved)
    return Located(event, notification, already, elsewhere_now, attempt)


def record_delivery(located: Located) -> ReceiptRecorded | None:
    """Write the receipt ``located.event`` reports on the notification its lookup found
    (:func:`notification_for`), unless there is none or it is the wrong one.

    At most three queries with the lookup: find the notification (which also tells a
    duplicate or a misrouted callback: then that one query is all), INSERT the receipt
    unless it is a duplicate or its gateway id belongs elsewhere (one statement,
    :func:`~chargesol_notifications.status.insert_receipt`), then the conditional status
    UPDATE. Only when the INSERT writes nothing that the lookup did not foresee (a
    callback racing the send, or its own duplicate) is the third query a look at why.
    When the lookup wrote the receipt itself (``located.attempt``), only that look can
    follow it.
    """
    event, notification = located.event, located.notification
    sid = event.gateway_message_id
    if notification is None:
        # Answered 200 all the same: the gateway would otherwise retry it for hours.
        logger.warning("Status callback for unknown %s (%s)", sid, event.notification_id)
        return None
    if located.claimed_elsewhere:
        misrouted(event)
        return None
    # Only with an ?n=: a notification found by its gateway id is that id's by definition.
    elsewhere = None if event.notification_id is None else claimed_elsewhere(notification.pk, sid)
    if located.already_recorded:
        outcome = ReceiptOutcome(receipt=None, advanced=False)
    else:
        if located.attempt is None:
            # No savepoint when nested (the view's own transaction, ATOMIC_REQUESTS, a
            # test case): an error escaping this block is answered 500, so it is right
            # that the enclosing transaction is rolled back with it.
            with transaction.atomic(savepoint=False):
                outcome = record_receipt(
                    notification,
                    event.receipt_status,
                    gateway_message_id=sid,
                    error_code=event.error_code,
                    error_message=event.error_message,
                    unless=elsewhere,
                )
        elif located.attempt.receipt is not None:
            outcome = receipt_written(
                notification, located.attempt.receipt, advanced=located.attempt.advanced
            )
        else:
            outcome = located.attempt
        if outcome.receipt is None and elsewhere is not None and holds(elsewhere):
            misrouted(event)
            return None
    if outcome.receipt is None:
        logger.debug("Duplicate status callback %s %s", sid, event.receipt_status)
    elif (
        outcome.advanced
        and notification.fallback_channels
        and notification.status == NotificationStatus.FAILED
    ):
        # A step of an escalation chain failed after the send: the next channel's turn.
        escalate_failed_on_commit([notification], router.db_for_write(Notification))
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
