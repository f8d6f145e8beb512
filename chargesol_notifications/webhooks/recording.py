"""What each webhook event does to the database, for every provider alike.

:func:`record_event` applies one :mod:`event <.events>` and returns what changed (or
``None`` when nothing did), for :meth:`~.base.WebhookView.signal` to announce and
:meth:`~.base.WebhookView.answer` to answer with. Every function runs inside the
transaction the webhook view opens for its event, after :func:`locate` has read, outside
it, what a delivery report is about. A delivery report costs at most three queries
(:func:`record_delivery`); one that names its notification waits for that row's lock
first, so a callback racing the send it reports on waits for that send to be recorded.
"""

from __future__ import annotations

import functools
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

from django.db import connections, router, transaction
from django.utils import timezone

from ..choices import Channel, NotificationStatus, ReceiptStatus
from ..exceptions import InvalidPhoneNumberError
from ..models import CallLog, DeliveryReceipt, Notification
from ..recipients import normalise_phone, resolve_address
from ..status import Condition, ReceiptOutcome, column_of, prepared_pk, record_receipt
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
    """A delivery report and its notification (``None``: unknown), found by :func:`locate`."""

    event: DeliveryEvent
    notification: Notification | None


def locate(event: WebhookEvent) -> WebhookEvent | Located:
    """Read what recording ``event`` needs before its transaction opens: one query at most.

    A delivery report's notification (:func:`notification_for`), whose lookup may wait
    for a send still being recorded: run before the transaction, it waits holding
    nothing, and a duplicate or misrouted report, which it recognises, opens no
    transaction at all. Other events are returned as they are.
    """
    if isinstance(event, DeliveryEvent):
        return Located(event, notification_for(event))
    return event


def record_event(event: WebhookEvent | Located) -> Recorded | None:
    """Apply ``event``; return what changed, or ``None`` when nothing did."""
    match event:
        case Located():
            return record_delivery(event.event, event.notification)
        case DeliveryEvent():
            return record_delivery(event, notification_for(event))
        case CallLogEvent():
            return record_call_log(event)
        case CallAnsweredEvent():
            return connect_answered_call(event)
    raise TypeError(f"No way to record {type(event).__name__}.")


# -- delivery reports ------------------------------------------------------------------------


def notification_for(event: DeliveryEvent) -> Notification | None:
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
    """
    using = router.db_for_write(Notification)
    sql, notifications = delivery_sql(using), Notification.objects.db_manager(using)
    sid, status = event.gateway_message_id, event.receipt_status
    if event.notification_id is None:
        found = notifications.raw(sql.by_sid, [sid, status, sid])
    else:
        elsewhere_sql, elsewhere_params = claimed_elsewhere(event.notification_id, sid)
        by_id = sql.by_id.format(elsewhere=elsewhere_sql)
        pk = prepared_pk(event.notification_id, connections[using])
        params = [sid, status, *elsewhere_params, pk, *sql.by_id_params]
        found = notifications.raw(by_id, params)
    return next(iter(found), None)


def claimed_elsewhere(notification_id: uuid.UUID, sid: str) -> Condition:
    """The SID rule, as SQL: ``sid`` has a receipt on another notification, or the
    notification has a ``sent`` receipt for another gateway id."""
    using = router.db_for_write(DeliveryReceipt)
    pk = prepared_pk(notification_id, connections[using])
    return delivery_sql(using).claimed_elsewhere, [sid, pk, pk, ReceiptStatus.SENT.value, sid]


@dataclass(frozen=True)
class DeliverySQL:
    """The statements :func:`record_delivery` runs besides the receipt's INSERT.

    Written in SQL and built once per database: through the ORM, building these cost more
    than running them (the benchmark in ``bench/bench_webhooks.py``). What they say:

    - ``already_recorded``: ``DeliveryReceipt(gateway_message_id=sid, status=status)``
      exists;
    - ``claimed_elsewhere``: a receipt with ``gateway_message_id=sid`` on another
      notification, or a ``sent`` receipt of the notification with another gateway id;
    - ``by_id``: the notification by pk, with both answers, waiting for a lock on its row
      (on PostgreSQL only while the row is ``queued``);
    - ``by_sid``: the notification of the first receipt with ``gateway_message_id=sid``,
      with ``already_recorded``.
    """

    claimed_elsewhere: str
    by_id: str
    #: The parameters of ``by_id`` after the notification's id.
    by_id_params: tuple[str, ...]
    by_sid: str


@functools.cache
def delivery_sql(alias: str) -> DeliverySQL:
    connection = connections[alias]
    quote = connection.ops.quote_name
    notifications, receipts = Notification._meta, DeliveryReceipt._meta
    n_table, r_table = quote(notifications.db_table), quote(receipts.db_table)

    def r(name: str) -> str:
        return f"{r_table}.{quote(column_of(DeliveryReceipt, name))}"

    sid, status, owner = r("gateway_message_id"), r("status"), r("notification")
    already = f"EXISTS (SELECT 1 FROM {r_table} WHERE {sid} = %s AND {status} = %s)"
    # Two EXISTS, not one over an OR: each is an index lookup (the unique constraint's
    # index starts with the gateway id; the foreign key has its own), where PostgreSQL
    # answered one EXISTS over the OR with a scan of the whole table.
    elsewhere = (
        f"(EXISTS (SELECT 1 FROM {r_table} WHERE {sid} = %s AND {owner} <> %s) OR "
        f"EXISTS (SELECT 1 FROM {r_table} WHERE {owner} = %s AND {status} = %s "
        f"AND {sid} IS NOT NULL AND {sid} <> %s))"
    )
    columns = ", ".join(
        f"{n_table}.{quote(str(field.column))}" for field in notifications.concrete_fields
    )
    pk_name = quote(column_of(Notification, "pk"))
    pk = f"{n_table}.{pk_name}"
    wait, wait_params = "", cast(tuple[str, ...], ())
    if connection.vendor == "postgresql":
        # A row lock writes the row on PostgreSQL (and costs a flush at commit): only a
        # notification still queued can have a send in flight, so only such a row is
        # locked. A send's transaction moves the row off queued when it commits.
        status_column = f"{n_table}.{quote(column_of(Notification, 'status'))}"
        waiting = f"SELECT 1 FROM {n_table} AS waiting WHERE waiting.{pk_name} = {pk}"
        wait = (
            f" AND CASE WHEN {status_column} = %s THEN EXISTS ({waiting} FOR UPDATE) ELSE TRUE END"
        )
        wait_params = (NotificationStatus.QUEUED.value,)
    elif connection.features.has_select_for_update:
        # InnoDB keeps row locks in memory: locking a row costs no write.
        wait = " FOR UPDATE"
    by_id = (
        f"SELECT {columns}, {already} AS already_recorded, {{elsewhere}} AS claimed_elsewhere "
        f"FROM {n_table} WHERE {pk} = %s{wait}"
    )
    first_owner = f"(SELECT {owner} FROM {r_table} WHERE {sid} = %s LIMIT 1)"
    by_sid = (
        f"SELECT {columns}, {already} AS already_recorded FROM {n_table} WHERE {pk} = {first_owner}"
    )
    return DeliverySQL(elsewhere, by_id, wait_params, by_sid)


def holds(condition: Condition) -> bool:
    """Whether ``condition`` is true now (one query)."""
    sql, params = condition
    with connections[router.db_for_read(DeliveryReceipt)].cursor() as cursor:
        cursor.execute(f"SELECT CASE WHEN {sql} THEN 1 ELSE 0 END", params)
        row = cursor.fetchone()
    return bool(row and row[0])


def record_delivery(
    event: DeliveryEvent, notification: Notification | None
) -> ReceiptRecorded | None:
    """Write the receipt ``event`` reports on ``notification`` (:func:`notification_for`),
    unless there is none or it is the wrong one.

    At most three queries with the lookup: find the notification (which also tells a
    duplicate or a misrouted callback: then that one query is all), INSERT the receipt
    unless it is a duplicate or its gateway id belongs elsewhere (one statement,
    :func:`~chargesol_notifications.status.insert_receipt`), then the conditional status
    UPDATE. Only when the INSERT writes nothing that the lookup did not foresee (a
    callback racing the send, or its own duplicate) is the third query a look at why.
    """
    sid = event.gateway_message_id
    # No savepoint when nested (the view's own transaction, ATOMIC_REQUESTS, a test
    # case): an error escaping this block is answered 500, so it is right that the
    # enclosing transaction is rolled back with it.
    with transaction.atomic(savepoint=False):
        if notification is None:
            # Answered 200 all the same: the gateway would otherwise retry it for hours.
            logger.warning("Status callback for unknown %s (%s)", sid, event.notification_id)
            return None
        # Only with an ?n=: a notification found by its gateway id is that id's by definition.
        elsewhere = (
            None if event.notification_id is None else claimed_elsewhere(notification.pk, sid)
        )
        if getattr(notification, "claimed_elsewhere", False):
            misrouted(event)
            return None
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
            if outcome.receipt is None and elsewhere is not None and holds(elsewhere):
                misrouted(event)
                return None
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
