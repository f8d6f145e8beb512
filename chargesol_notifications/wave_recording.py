"""Recording a wave's outcomes in bulk: one INSERT of receipts, one UPDATE per new status.

Delivery holds the lock on every row of the wave while this runs (see
:mod:`chargesol_notifications.waves`), and each row is still ``queued``, so the
statuses move forward by construction; the UPDATEs still say ``status = 'queued'``, the
same rule :func:`~chargesol_notifications.status.move_forward` follows one row at a time.

Every receipt of a wave carries the same ``received_at``, the moment the wave is
recorded, and a notification sent in the wave gets that moment as ``sent_at``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from .choices import NotificationStatus
from .models import DeliveryReceipt, Notification
from .pg_arrays import array_literal, text_element, uuid_element
from .row_insert import insert_rows, insert_values, preparers, values_statement
from .signals import notification_failed, notification_sent, receipt_recorded
from .status import (
    SQLITE_UPDATE_FROM,
    STATUS_FOR_RECEIPT,
    advance,
    forward_from_arrays_statement,
    forward_from_values_statement,
    forward_statement,
    prepared_pk,
)

#: The receipt table's columns, by attribute name, in the order of its fields.
RECEIPT_COLUMNS: tuple[str, ...] = tuple(
    field.attname for field in DeliveryReceipt._meta.local_concrete_fields
)
ERROR_CODE_MAX_LENGTH: int = DeliveryReceipt._meta.get_field("error_code").max_length or 50


@dataclass(frozen=True, slots=True)
class ReceiptToWrite:
    """One receipt a wave writes, and what it means for its notification."""

    notification: Notification
    status: str
    gateway_message_id: str | None = None
    error_code: str | None = None
    error_message: str = ""
    #: Whether the notification's status moves (False for a transient failure, which
    #: leaves it queued for a retry).
    moves_status: bool = True
    #: The receipt, when it was written already (see :func:`insert_one_receipt`).
    written: DeliveryReceipt | None = None
    #: Where the message went (``Notification.address``), written with the status; ""
    #: when no message could be built (no address, a bad number).
    address: str = ""

    def values(self, at: datetime) -> dict[str, Any]:
        """The receipt's field values, by attribute name, received ``at``."""
        return {
            "id": uuid.uuid4(),
            "notification_id": self.notification.pk,
            "status": self.status,
            "gateway_message_id": self.gateway_message_id,
            # Cut here, never by the database: MariaDB's INSERT IGNORE would truncate
            # silently, PostgreSQL would refuse the whole wave.
            "error_code": self.error_code[:ERROR_CODE_MAX_LENGTH] if self.error_code else None,
            "error_message": self.error_message,
            "received_at": at,
        }

    def row(self, at: datetime) -> list[Any]:
        """The receipt's values in the order of its fields (see :data:`RECEIPT_COLUMNS`)."""
        values = self.values(at)
        return [values[name] for name in RECEIPT_COLUMNS]

    def receipt(self, at: datetime) -> DeliveryReceipt:
        """The receipt as a model object (the written one, when it was written already)."""
        if self.written is not None:
            return self.written
        receipt = DeliveryReceipt(**self.values(at))
        receipt.notification = self.notification  # loaded: no query for whoever reads it
        return receipt


def record_wave(
    to_write: Sequence[ReceiptToWrite], now: datetime | None = None
) -> list[DeliveryReceipt | None]:
    """Write the receipts and move the statuses: one INSERT, and one UPDATE per status.

    Returns the receipts, as objects when a signal has receivers to hand them to (else
    None in their place, but for those written already).
    """
    if not to_write:
        return []
    now = now or timezone.now()
    receipts: list[DeliveryReceipt | None]
    if anyone_listens():
        receipts = [item.receipt(now) for item in to_write]
        insert_receipts(
            [r for r, item in zip(receipts, to_write, strict=True) if not item.written],
            now,
        )
    else:
        # Nobody to hand receipt objects to: write the rows without building them.
        insert_values(
            DeliveryReceipt,
            [item.row(now) for item in to_write if not item.written],
            ignore_conflicts=True,
        )
        receipts = [item.written for item in to_write]
    by_status: dict[str, list[ReceiptToWrite]] = {}
    for item in to_write:
        if item.moves_status:
            by_status.setdefault(STATUS_FOR_RECEIPT[item.status], []).append(item)
    for status, items in by_status.items():
        move_wave_forward(status, items, now)
    if receipt_recorded.receivers:
        for item, receipt in zip(to_write, receipts, strict=True):
            receipt_recorded.send(
                sender=DeliveryReceipt, notification=item.notification, receipt=receipt
            )
    return receipts


def anyone_listens() -> bool:
    """Whether a receiver of the signals a wave sends would see its receipt objects."""
    return bool(
        receipt_recorded.receivers or notification_sent.receivers or notification_failed.receivers
    )


def insert_receipts(receipts: Sequence[DeliveryReceipt], now: datetime) -> None:
    """INSERT the receipts in one statement (:mod:`.row_insert`), skipping any that a
    unique constraint refuses: a (gateway id, status) already on record must not undo a
    wave whose messages have gone out. ``bulk_create()`` would give every row its own
    ``received_at`` (``auto_now_add``); here they share the wave's."""
    insert_rows(DeliveryReceipt, receipts, now=now, ignore_conflicts=True)


def insert_one_receipt(item: ReceiptToWrite, at: datetime) -> DeliveryReceipt | None:
    """INSERT one receipt now; the receipt, or None when a unique constraint refused it
    (its gateway id is already on record with that status, for some notification)."""
    receipt = item.receipt(at)
    using = router.db_for_write(DeliveryReceipt)
    connection = connections[using]
    fields = DeliveryReceipt._meta.local_concrete_fields
    params = [
        prepare(getattr(receipt, field.attname))
        for field, prepare in zip(fields, preparers(DeliveryReceipt, using), strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(values_statement(DeliveryReceipt, using, True), params)
        if cursor.rowcount != 1:
            return None
    receipt._state.adding = False
    receipt._state.db = using
    return receipt


def move_wave_forward(status: str, items: Sequence[ReceiptToWrite], at: datetime) -> None:
    """One UPDATE moving the queued notifications of ``items`` to ``status`` at ``at``, and
    writing the address each went to: :func:`~.status.forward_statement`'s, for many
    rows. A wave's receipts say ``sent`` (with the gateway's id) or ``failed`` (before
    any gateway took the message), so ``sent_at`` is set exactly when the status is
    ``sent``."""
    connection = connections[router.db_for_write(Notification)]
    set_sent = status == NotificationStatus.SENT
    params = [status, *([connection.ops.adapt_datetimefield_value(at)] if set_sent else [])]
    if connection.vendor == "postgresql" and len(items) > 1:
        sql, behind = forward_from_arrays_statement(connection.alias, status, set_sent)
        ids = array_literal((item.notification.pk for item in items), uuid_element)
        params += [array_literal((item.address or None for item in items), text_element), ids, ids]
    elif connection.vendor == "sqlite" and len(items) > 1 and sqlite_updates_from(connection):
        sql, behind = forward_from_values_statement(connection.alias, status, set_sent, len(items))
        for item in items:
            params += [prepared_pk(item.notification.pk, connection), item.address or None]
    else:
        addressed = [item for item in items if item.address]
        sql, behind = forward_statement(
            connection.alias, status, set_sent, False, len(items), addressed=len(addressed)
        )
        for item in addressed:
            params += [prepared_pk(item.notification.pk, connection), item.address]
        params += [prepared_pk(item.notification.pk, connection) for item in items]
    params += behind
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    for item in items:
        advance(item.notification, status, at, accepted=item.gateway_message_id is not None)
        if item.address:
            item.notification.address = item.address


def sqlite_updates_from(connection: BaseDatabaseWrapper) -> bool:
    """Whether this SQLite knows ``UPDATE ... FROM`` (Django 5.2 supports 3.31 and later)."""
    return bool(connection.Database.sqlite_version_info >= SQLITE_UPDATE_FROM)
