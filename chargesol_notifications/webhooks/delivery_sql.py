"""The statements a delivery report runs, written in SQL and built once per database.

Through the ORM, building these cost more than running them (``bench/bench_webhooks.py``);
a model's rows are read back here with the converters the ORM would apply, found once per
database too. What :mod:`.recording` does with them is described there.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.constants import OnConflict

from ..choices import NotificationStatus, ReceiptStatus
from ..models import DeliveryReceipt, Notification
from ..status import (
    STATUS_FOR_RECEIPT,
    Condition,
    column_of,
    forward_statement,
    placeholder,
    prepared_pk,
)
from .events import DeliveryEvent


@dataclass(frozen=True)
class DeliverySQL:
    """The statements of a delivery report's lookup, and what they say:

    - ``already_recorded``: ``DeliveryReceipt(gateway_message_id=sid, status=status)``
      exists;
    - ``claimed_elsewhere``: a receipt with ``gateway_message_id=sid`` on another
      notification, or a ``sent`` receipt of the notification with another gateway id;
    - ``by_id``: the notification by pk, with both answers, waiting for a lock on its row
      (on PostgreSQL only while the row is ``queued``);
    - ``by_sid``: the notification of the first receipt with ``gateway_message_id=sid``,
      with ``already_recorded``.

    Each answers with the notification's columns (``concrete_fields``, in order) and then
    the answers.
    """

    claimed_elsewhere: str
    #: Parameters: sid, status, :func:`claimed_elsewhere`'s, the id, ``by_id_params``.
    by_id: str
    #: The parameters of ``by_id`` after the notification's id.
    by_id_params: tuple[str, ...]
    #: Parameters: sid, status, sid.
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
        f"SELECT {columns}, {already} AS already_recorded, {elsewhere} AS claimed_elsewhere "
        f"FROM {n_table} WHERE {pk} = %s{wait}"
    )
    first_owner = f"(SELECT {owner} FROM {r_table} WHERE {sid} = %s LIMIT 1)"
    by_sid = (
        f"SELECT {columns}, {already} AS already_recorded FROM {n_table} WHERE {pk} = {first_owner}"
    )
    return DeliverySQL(elsewhere, by_id, wait_params, by_sid)


def claimed_elsewhere(notification_id: uuid.UUID, sid: str) -> Condition:
    """The SID rule, as SQL: ``sid`` has a receipt on another notification, or the
    notification has a ``sent`` receipt for another gateway id."""
    using = router.db_for_write(DeliveryReceipt)
    pk = prepared_pk(notification_id, connections[using])
    return delivery_sql(using).claimed_elsewhere, [sid, pk, pk, ReceiptStatus.SENT.value, sid]


def holds(condition: Condition) -> bool:
    """Whether ``condition`` is true now (one query)."""
    sql, params = condition
    with connections[router.db_for_read(DeliveryReceipt)].cursor() as cursor:
        cursor.execute(f"SELECT CASE WHEN {sql} THEN 1 ELSE 0 END", params)
        row = cursor.fetchone()
    return bool(row and row[0])


# -- the lookup that writes too (PostgreSQL) ------------------------------------------------


@functools.cache
def recording_by_id(alias: str, receipt_status: str) -> str | None:
    """``by_id``, and in the same statement the receipt's INSERT and the status UPDATE
    (:func:`~chargesol_notifications.status.insert_receipt`'s and
    :func:`~chargesol_notifications.status.forward_statement`'s), on PostgreSQL; ``None``
    elsewhere (neither MariaDB/MySQL nor SQLite has an INSERT or UPDATE inside a ``WITH``).

    The INSERT runs only for a notification that was past ``queued``, is not a duplicate
    and whose gateway id is not another's, by the lookup's own answers: a queued row may
    have a send in flight, whose receipt this statement, which started before the wait for
    the lock, cannot see; then nothing is written here. The UPDATE runs only when the INSERT
    wrote. Answers with ``by_id``'s columns, then whether a receipt was written and whether
    the status moved.

    Parameters: ``by_id``'s; the receipt's values (:func:`prepared_row`); ``queued``; the
    UPDATE's
    (:func:`~chargesol_notifications.status.forward_update`, for a receipt that carries
    its gateway id).
    """
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return None
    quote = connection.ops.quote_name
    fields = DeliveryReceipt._meta.local_concrete_fields
    target = STATUS_FOR_RECEIPT[receipt_status]
    forward, _behind = forward_statement(
        alias, target, True, target == NotificationStatus.DELIVERED
    )
    insert = " ".join(
        (
            connection.ops.insert_statement(on_conflict=OnConflict.IGNORE),
            quote(DeliveryReceipt._meta.db_table),
            f"({', '.join(quote(str(field.column)) for field in fields)})",
            f"SELECT {', '.join(placeholder(field, connection) for field in fields)}",
            f"FROM found WHERE found.{quote(column_of(Notification, 'status'))} <> %s",
            "AND NOT found.already_recorded AND NOT found.claimed_elsewhere",
            connection.ops.on_conflict_suffix_sql(fields, OnConflict.IGNORE, None, None),
            "RETURNING 1",
        )
    )
    return (
        f"WITH found AS ({delivery_sql(alias).by_id}), "
        f"written AS ({insert}), "
        f"moved AS ({forward} AND EXISTS (SELECT 1 FROM written) RETURNING 1) "
        "SELECT found.*, EXISTS (SELECT 1 FROM written), EXISTS (SELECT 1 FROM moved) FROM found"
    )


RECEIPT_FIELDS = DeliveryReceipt._meta.local_concrete_fields


def receipt_row(event: DeliveryEvent, at: datetime) -> list[Any]:
    """The attribute values of the receipt ``event`` reports, received ``at``, in the order
    of ``local_concrete_fields``: what ``DeliveryReceipt(...)`` and ``save()`` give it (the
    other fields' defaults: a new id), without building the model until it is written."""
    given = {
        "notification_id": event.notification_id,
        "status": event.receipt_status,
        "gateway_message_id": event.gateway_message_id,
        "error_code": event.error_code,
        "error_message": event.error_message or "",
        "received_at": at,
    }
    return [
        given[field.attname] if field.attname in given else field.get_default()
        for field in RECEIPT_FIELDS
    ]


def prepared_row(row: Sequence[Any], connection: BaseDatabaseWrapper) -> list[Any]:
    """A :func:`receipt_row` as the database takes it in parameters."""
    return [
        field.get_db_prep_save(value, connection)
        for field, value in zip(RECEIPT_FIELDS, row, strict=True)
    ]


# -- reading rows back ---------------------------------------------------------------------


NOTIFICATION_ATTNAMES = [field.attname for field in Notification._meta.concrete_fields]


def read_notification(using: str, values: Sequence[Any]) -> Notification:
    """The ``Notification`` of a row's first columns (``concrete_fields``, in order), as the
    ORM would have read it from database ``using``."""
    return Notification.from_db(using, NOTIFICATION_ATTNAMES, reader(using)(values))


@functools.cache
def reader(alias: str) -> Callable[[Sequence[Any]], list[Any]]:
    """What turns a row of ``Notification``'s columns into its attribute values on
    database ``alias``: the converters the ORM's compiler applies (a UUID from text on
    SQLite, say), looked up once."""
    connection = connections[alias]
    fields = Notification._meta.concrete_fields
    steps = []
    for index, field in enumerate(fields):
        column = field.get_col(Notification._meta.db_table)
        converters = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if converters:
            steps.append((index, converters, column))
    width = len(fields)

    def read(values: Sequence[Any]) -> list[Any]:
        row = list(values[:width])
        for index, converters, column in steps:
            value = row[index]
            for converter in converters:
                value = converter(value, column, connection)
            row[index] = value
        return row

    return read
