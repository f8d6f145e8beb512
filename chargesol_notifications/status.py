"""Delivery state: receipts in, statuses forward.

Every receipt (the gateway's answer to a send, or a webhook's callback) goes through
:func:`record_receipt`, which writes the row at most once per (gateway id, status) and
moves the notification's status forward only. Callbacks arrive duplicated and out of
order; the tables below, not ``if`` chains, decide what each one means.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.db.models.constants import OnConflict

from .choices import NotificationStatus, ReceiptStatus
from .models import DeliveryReceipt, Notification
from .signals import receipt_recorded

#: The notification status a receipt implies. ``read`` (WhatsApp) implies delivered.
STATUS_FOR_RECEIPT: dict[str, str] = {
    ReceiptStatus.SENT: NotificationStatus.SENT,
    ReceiptStatus.DELIVERED: NotificationStatus.DELIVERED,
    ReceiptStatus.READ: NotificationStatus.DELIVERED,
    ReceiptStatus.FAILED: NotificationStatus.FAILED,
}

#: How far along each status is. A notification only ever moves to a higher rank.
#: ``delivered`` outranks ``failed``: proof of delivery beats a report that it failed.
STATUS_RANK: dict[str, int] = {
    NotificationStatus.QUEUED: 0,
    NotificationStatus.SENT: 1,
    NotificationStatus.FAILED: 2,
    NotificationStatus.DELIVERED: 3,
}


@dataclass(frozen=True)
class ReceiptOutcome:
    #: None when the same (gateway id, status) was already recorded.
    receipt: DeliveryReceipt | None
    #: True when the notification's status moved.
    advanced: bool


def advance(notification: Notification, status: str, at: datetime, *, accepted: bool) -> list[str]:
    """Move ``notification`` forward to ``status`` in memory; return the changed fields.

    ``accepted`` says the gateway had taken the message (the receipt carries its id), so
    even a later failure means it was sent. Timestamps are set once, when first reached,
    so they never go backwards.
    """
    changed: list[str] = []
    if STATUS_RANK[status] > STATUS_RANK[notification.status]:
        notification.status = status
        changed.append("status")
    was_sent = accepted or status in (NotificationStatus.SENT, NotificationStatus.DELIVERED)
    if was_sent and notification.sent_at is None:
        notification.sent_at = at
        changed.append("sent_at")
    if status == NotificationStatus.DELIVERED and notification.delivered_at is None:
        notification.delivered_at = at
        changed.append("delivered_at")
    return changed


def record_receipt(
    notification: Notification,
    status: str,
    *,
    gateway_message_id: str | None = None,
    error_code: str | None = None,
    error_message: str = "",
    unless: Condition | None = None,
) -> ReceiptOutcome:
    """Write a receipt for ``notification`` and move its status forward: two queries.

    A (gateway id, status) pair already recorded writes nothing and moves nothing, also
    when two callbacks race: the INSERT skips a row the unique constraint refuses (see
    :func:`insert_receipt`). ``unless`` is an SQL condition that, true when the INSERT
    runs, means the receipt must not be written either (the webhooks' rule for a gateway
    id that belongs to another notification).

    The status moves in one conditional UPDATE, and only when a receipt was written, so
    it cannot go backwards even when a webhook and the send's own bookkeeping run at the
    same time. ``receipt_recorded`` is sent once per receipt written.
    """
    receipt = DeliveryReceipt(
        notification=notification,
        status=status,
        gateway_message_id=gateway_message_id,
        error_code=error_code,
        error_message=error_message or "",
    )
    if not insert_receipt(receipt, unless=unless):
        return ReceiptOutcome(receipt=None, advanced=False)
    accepted = gateway_message_id is not None
    target = STATUS_FOR_RECEIPT[status]
    advanced = move_forward(notification.pk, target, receipt.received_at, accepted=accepted)
    return receipt_written(notification, receipt, advanced=advanced)


def receipt_written(
    notification: Notification, receipt: DeliveryReceipt, *, advanced: bool
) -> ReceiptOutcome:
    """What follows the writing of ``receipt`` and the status UPDATE that came with it
    (``advanced``: whether it moved the row): ``notification`` moved forward in memory as it
    was in the database, and ``receipt_recorded`` sent.

    :func:`record_receipt` ends here, and so does a caller that wrote both in a statement of
    its own (the webhooks' lookup on PostgreSQL).
    """
    accepted = receipt.gateway_message_id is not None
    target = STATUS_FOR_RECEIPT[receipt.status]
    advance(notification, target, receipt.received_at, accepted=accepted)
    receipt_recorded.send(sender=DeliveryReceipt, notification=notification, receipt=receipt)
    return ReceiptOutcome(receipt=receipt, advanced=advanced)


def insert_receipt(receipt: DeliveryReceipt, *, unless: Condition | None = None) -> bool:
    """INSERT ``receipt`` unless it is a duplicate or ``unless`` holds; one query.

    Returns whether the row was written; ``receipt`` is then saved (its ``received_at``
    and ``id`` are set here, as ``save()`` would set them).

    The statement is ``INSERT ... SELECT <values> FROM <notification> WHERE id = ... AND
    NOT (<unless>)`` with the database's own way of skipping a row that a unique
    constraint refuses (``ON CONFLICT DO NOTHING`` on PostgreSQL, ``INSERT IGNORE`` on
    MariaDB/MySQL, ``INSERT OR IGNORE`` on SQLite, as ``bulk_create(ignore_conflicts=True)``
    writes them). The ORM cannot say this in one statement: ``bulk_create`` neither takes a
    condition nor tells whether the row went in, and an ``exists()`` before a
    ``create()`` in a savepoint costs four round trips where this costs one.

    The condition is evaluated by the INSERT itself, so it sees every transaction that
    committed before the INSERT started (READ COMMITTED, Django's default on PostgreSQL
    and MariaDB/MySQL): after a lock the caller waited for, for instance. A notification
    that is gone by now gets no receipt (nothing is selected to insert).
    """
    using = router.db_for_write(DeliveryReceipt, instance=receipt)
    connection = connections[using]
    fields = DeliveryReceipt._meta.local_concrete_fields
    params = [field.get_db_prep_save(field.pre_save(receipt, True), connection) for field in fields]
    params.append(params[fields.index(DeliveryReceipt._meta.get_field("notification"))])
    guard = ""
    if unless is not None:
        guard_sql, guard_params = unless
        guard = f" AND NOT ({guard_sql})"
        params.extend(guard_params)
    with connection.cursor() as cursor:
        cursor.execute(insert_statement(using, guard), params)
        written = cursor.rowcount == 1
    if written:
        receipt._state.adding = False
        receipt._state.db = using
    return written


#: An SQL condition and its parameters, as ``insert_receipt`` takes ``unless``.
Condition = tuple[str, Sequence[Any]]


@functools.cache
def insert_statement(alias: str, guard: str) -> str:
    """The SQL of :func:`insert_receipt` for one database, built once from the models."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    fields = DeliveryReceipt._meta.local_concrete_fields
    notifications = Notification._meta
    return " ".join(
        part
        for part in (
            connection.ops.insert_statement(on_conflict=OnConflict.IGNORE),
            quote(DeliveryReceipt._meta.db_table),
            f"({', '.join(quote(str(field.column)) for field in fields)})",
            f"SELECT {', '.join(placeholder(field, connection) for field in fields)}",
            f"FROM {quote(notifications.db_table)}",
            f"WHERE {quote(column_of(Notification, 'pk'))} = %s{guard}",
            connection.ops.on_conflict_suffix_sql(fields, OnConflict.IGNORE, None, None),
        )
        if part
    )


def placeholder(field: Field[Any, Any], connection: BaseDatabaseWrapper) -> str:
    """``%s``, typed on PostgreSQL: a bare parameter in a SELECT list has no type there
    when the driver binds on the server (``server_side_binding``)."""
    if connection.vendor == "postgresql":
        return f"%s::{field.cast_db_type(connection)}"
    return "%s"


def column_of(model: type[Model], name: str) -> str:
    """The column of ``model``'s concrete field ``name`` (``"pk"``: its primary key)."""
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    assert isinstance(field, Field)
    return str(field.column)


def prepared_pk(notification_id: Any, connection: BaseDatabaseWrapper) -> Any:
    """A notification's id as the database takes it in a parameter."""
    pk = Notification._meta.pk
    assert pk is not None
    return pk.get_db_prep_value(notification_id, connection)


def move_forward(notification_id: Any, status: str, at: datetime, *, accepted: bool) -> bool:
    """The database side of :func:`advance`: one UPDATE that only ever moves forward.

    Returns whether the row moved. Timestamps are only ever filled in where empty, in the
    same statement, so they never go backwards either. The statement is built once per
    database and target (:func:`forward_statement`): through the ORM, building it cost
    more than running it.
    """
    connection = connections[router.db_for_write(Notification)]
    sql, params = forward_update(connection, notification_id, status, at, accepted=accepted)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == 1


def forward_update(
    connection: BaseDatabaseWrapper,
    notification_id: Any,
    status: str,
    at: datetime,
    *,
    accepted: bool,
) -> tuple[str, list[Any]]:
    """The UPDATE :func:`move_forward` runs on ``connection``, and its parameters."""
    set_sent = accepted or status in (NotificationStatus.SENT, NotificationStatus.DELIVERED)
    set_delivered = status == NotificationStatus.DELIVERED
    sql, behind = forward_statement(connection.alias, status, set_sent, set_delivered)
    at_value = connection.ops.adapt_datetimefield_value(at)
    params = [status, *([at_value] * (int(set_sent) + int(set_delivered)))]
    params += [prepared_pk(notification_id, connection), *behind]
    return sql, params


def statuses_behind(status: str) -> tuple[str, ...]:
    """The statuses a notification may move from to ``status``: those ranked below it."""
    return tuple(s for s, rank in STATUS_RANK.items() if rank < STATUS_RANK[status])


@functools.cache
def forward_statement(
    alias: str,
    status: str,
    set_sent: bool,
    set_delivered: bool,
    rows: int = 1,
    *,
    addressed: int = 0,
) -> tuple[str, tuple[str, ...]]:
    """``UPDATE <notification> SET status = %s[, sent_at = COALESCE(sent_at, %s)]... WHERE
    id = %s AND status IN (<every status behind>)``, and those statuses; with ``rows``
    above 1, ``id IN (%s, ...)`` (a delivery wave's). With ``addressed``, also
    ``address = CASE id WHEN %s THEN %s ... ELSE address END`` for that many (id,
    address) pairs, which come after the timestamps in the parameters."""
    quote = connections[alias].ops.quote_name
    meta = Notification._meta
    status_column = quote(column_of(Notification, "status"))
    changes = [f"{status_column} = %s"]
    for name, wanted in (("sent_at", set_sent), ("delivered_at", set_delivered)):
        if wanted:
            column = quote(column_of(Notification, name))
            changes.append(f"{column} = COALESCE({column}, %s)")
    pk_column = quote(column_of(Notification, "pk"))
    if addressed:
        address_column = quote(column_of(Notification, "address"))
        cases = " ".join(["WHEN %s THEN %s"] * addressed)
        changes.append(f"{address_column} = CASE {pk_column} {cases} ELSE {address_column} END")
    behind = statuses_behind(status)
    ids = "= %s" if rows == 1 else f"IN ({', '.join(['%s'] * rows)})"
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {', '.join(changes)} "
        f"WHERE {pk_column} {ids} "
        f"AND {status_column} IN ({', '.join(['%s'] * len(behind))})"
    )
    return sql, behind


@functools.cache
def forward_from_arrays_statement(
    alias: str, status: str, set_sent: bool
) -> tuple[str, tuple[str, ...]]:
    """PostgreSQL's form of a wave's :func:`forward_statement`: the ids and addresses as
    two array literals (:mod:`.pg_arrays`), ``WHERE id = ANY(%s::uuid[])``, each row's
    address found at its id's position.

    The parameters are, in order: the status, ``sent_at`` when ``set_sent``, the
    addresses (NULL to keep the row's), the ids, the ids again, then the statuses behind.
    The ids are given twice so that the rows are found through the primary key: joined
    to ``unnest(ids, addresses)``, the wave's rows came from a hash of every queued row
    of the table (a sequential scan per wave); in the benchmark of 10,000, 14 ms a wave
    this way against 21 ms joined. ``array_position`` searches the wave's ids for each
    row: a few thousand comparisons of 16 bytes for a wave of 250.
    """
    connection = connections[alias]
    quote = connection.ops.quote_name
    pk_field = Notification._meta.pk
    assert pk_field is not None
    ids = f"%s::{pk_field.cast_db_type(connection)}[]"
    status_column, address_column, pk_column, changes = wave_changes(alias, set_sent, "")
    changes.append(
        f"{address_column} = COALESCE((%s::text[])[array_position({ids}, {pk_column})], "
        f"{address_column})"
    )
    behind = statuses_behind(status)
    sql = (
        f"UPDATE {quote(Notification._meta.db_table)} SET {', '.join(changes)} "
        f"WHERE {pk_column} = ANY({ids}) "
        f"AND {status_column} IN ({', '.join(['%s'] * len(behind))})"
    )
    return sql, behind


#: The first SQLite with ``UPDATE ... FROM`` (2020-08).
SQLITE_UPDATE_FROM = (3, 33, 0)


@functools.cache
def forward_from_values_statement(
    alias: str, status: str, set_sent: bool, rows: int
) -> tuple[str, tuple[str, ...]]:
    """SQLite's form of a wave's :func:`forward_statement` (3.33 and later): the ``rows``
    (id, address) pairs as a ``VALUES`` list joined to the table.

    The parameters are, in order: the status, ``sent_at`` when ``set_sent``, each id
    followed by its address (None to keep the row's), then the statuses behind.
    ``CASE id WHEN ... END`` compares each row with every pair and ``id IN (...)`` let
    the planner read the rows through the status index: 40 waves of 250 took 135 ms
    that way and 55 ms joined (the statements alone, 10,000 queued rows).
    """
    pairs = ", ".join(["(%s, %s)"] * rows)
    wave = f"(SELECT column1 AS id, column2 AS address FROM (VALUES {pairs})) AS wave"
    return forward_joined_statement(alias, status, set_sent, wave)


def forward_joined_statement(
    alias: str, status: str, set_sent: bool, wave: str
) -> tuple[str, tuple[str, ...]]:
    """``UPDATE <notification> SET ... FROM <wave> WHERE id = wave.id AND status IN (<every
    status behind>)``, and those statuses: ``wave`` is a relation of (id, address)."""
    table = connections[alias].ops.quote_name(Notification._meta.db_table)
    status_column, address_column, pk_column, changes = wave_changes(alias, set_sent, table)
    changes.append(f"{address_column} = COALESCE(wave.address, {table}.{address_column})")
    behind = statuses_behind(status)
    sql = (
        f"UPDATE {table} SET {', '.join(changes)} FROM {wave} "
        f"WHERE {table}.{pk_column} = wave.id "
        f"AND {table}.{status_column} IN ({', '.join(['%s'] * len(behind))})"
    )
    return sql, behind


def wave_changes(alias: str, set_sent: bool, table: str) -> tuple[str, str, str, list[str]]:
    """The quoted status, address and id columns of a wave's UPDATE, and its first
    changes: ``status = %s`` and, when ``set_sent``, ``sent_at = COALESCE(sent_at, %s)``
    (the column read through ``table``, the quoted table name, where one is given)."""
    quote = connections[alias].ops.quote_name
    status_column = quote(column_of(Notification, "status"))
    changes = [f"{status_column} = %s"]
    if set_sent:
        column = quote(column_of(Notification, "sent_at"))
        source = f"{table}.{column}" if table else column
        changes.append(f"{column} = COALESCE({source}, %s)")
    address_column = quote(column_of(Notification, "address"))
    return status_column, address_column, quote(column_of(Notification, "pk")), changes
