"""Recording a wave's outcomes in bulk: one INSERT of receipts, one UPDATE per new status.

Delivery holds the lock on every row of the wave while this runs (see
:mod:`chargesol_notifications.waves`), and each row is still ``queued``, so the
statuses move forward by construction; the UPDATEs still say ``status = 'queued'``, the
same rule :func:`~chargesol_notifications.status.move_forward` follows one row at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import OuterRef, Subquery
from django.db.models.functions import Coalesce

from .choices import NotificationStatus
from .models import DeliveryReceipt, Notification
from .signals import receipt_recorded
from .status import STATUS_FOR_RECEIPT, advance

ERROR_CODE_MAX_LENGTH: int = DeliveryReceipt._meta.get_field("error_code").max_length or 50


@dataclass(frozen=True)
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


def record_wave(to_write: Sequence[ReceiptToWrite]) -> list[DeliveryReceipt]:
    """Write the receipts and move the statuses: at most three queries for the wave."""
    if not to_write:
        return []
    receipts = [
        DeliveryReceipt(
            notification=item.notification,
            status=item.status,
            gateway_message_id=item.gateway_message_id,
            # Cut here, never by the database: MariaDB's INSERT IGNORE would truncate
            # silently, PostgreSQL would refuse the whole wave.
            error_code=item.error_code[:ERROR_CODE_MAX_LENGTH] if item.error_code else None,
            error_message=item.error_message,
        )
        for item in to_write
    ]
    # ignore_conflicts: a (gateway id, status) already on record must not undo a wave
    # whose messages have gone out.
    DeliveryReceipt.objects.bulk_create(receipts, ignore_conflicts=True)
    by_status: dict[str, list[tuple[ReceiptToWrite, DeliveryReceipt]]] = {}
    for item, receipt in zip(to_write, receipts, strict=True):
        if item.moves_status:
            by_status.setdefault(STATUS_FOR_RECEIPT[item.status], []).append((item, receipt))
    for status, written in by_status.items():
        move_wave_forward(status, written)
    for item, receipt in zip(to_write, receipts, strict=True):
        receipt_recorded.send(
            sender=DeliveryReceipt, notification=item.notification, receipt=receipt
        )
    return receipts


def move_wave_forward(
    status: str, written: Sequence[tuple[ReceiptToWrite, DeliveryReceipt]]
) -> None:
    """One UPDATE moving the queued notifications of ``written`` to ``status``.

    ``sent_at`` becomes the time of the receipt that says the gateway took the message
    (read back by the UPDATE itself), as :func:`~.status.record_receipt` sets it.
    """
    receipt_time = Subquery(
        DeliveryReceipt.objects.filter(notification=OuterRef("pk"))
        .exclude(gateway_message_id=None)
        .order_by("received_at")
        .values("received_at")[:1]
    )
    Notification.objects.filter(
        pk__in=[item.notification.pk for item, _ in written], status=NotificationStatus.QUEUED
    ).update(status=status, sent_at=Coalesce("sent_at", receipt_time))
    for item, receipt in written:
        advance(
            item.notification,
            status,
            receipt.received_at,
            accepted=item.gateway_message_id is not None,
        )
