"""Delivery state: receipts in, statuses forward.

Every receipt (the gateway's answer to a send, or a webhook's callback) goes through
:func:`record_receipt`, which writes the row at most once per (gateway id, status) and
moves the notification's status forward only. Callbacks arrive duplicated and out of
order; the tables below, not ``if`` chains, decide what each one means.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce

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
) -> ReceiptOutcome:
    """Write a receipt for ``notification`` and move its status forward.

    A (gateway id, status) pair already recorded writes nothing and moves nothing, also
    when two callbacks race (the unique constraint decides). The status moves in one
    conditional UPDATE, so it cannot go backwards even when a webhook and the send's own
    bookkeeping run at the same time without holding the row.
    """
    if (
        gateway_message_id is not None
        and DeliveryReceipt.objects.filter(
            gateway_message_id=gateway_message_id, status=status
        ).exists()
    ):
        return ReceiptOutcome(receipt=None, advanced=False)
    try:
        with transaction.atomic():
            receipt = DeliveryReceipt.objects.create(
                notification=notification,
                status=status,
                gateway_message_id=gateway_message_id,
                error_code=error_code,
                error_message=error_message or "",
            )
    except IntegrityError:
        if gateway_message_id is None:
            raise
        return ReceiptOutcome(receipt=None, advanced=False)
    accepted = gateway_message_id is not None
    target = STATUS_FOR_RECEIPT[status]
    advanced = move_forward(notification.pk, target, receipt.received_at, accepted=accepted)
    advance(notification, target, receipt.received_at, accepted=accepted)
    receipt_recorded.send(sender=DeliveryReceipt, notification=notification, receipt=receipt)
    return ReceiptOutcome(receipt=receipt, advanced=advanced)


def move_forward(notification_id: Any, status: str, at: datetime, *, accepted: bool) -> bool:
    """The database side of :func:`advance`: one UPDATE that only ever moves forward.

    Returns whether the row moved. Timestamps are only ever filled in where empty, in the
    same statement, so they never go backwards either.
    """
    behind = [s for s, rank in STATUS_RANK.items() if rank < STATUS_RANK[status]]
    changes: dict[str, Any] = {"status": status}
    if accepted or status in (NotificationStatus.SENT, NotificationStatus.DELIVERED):
        changes["sent_at"] = Coalesce(F("sent_at"), Value(at))
    if status == NotificationStatus.DELIVERED:
        changes["delivered_at"] = Coalesce(F("delivered_at"), Value(at))
    return bool(
        Notification.objects.filter(pk=notification_id, status__in=behind).update(**changes)
    )


def record_attempt_failure(
    notification: Notification, *, error_code: str | None, error_message: str
) -> DeliveryReceipt:
    """Keep a transient failure on record: a ``failed`` receipt with no gateway id.

    The notification stays ``queued``; these receipts are what the retry policy counts,
    so an attempt that failed is never lost even if the process dies before retrying.
    """
    receipt = DeliveryReceipt.objects.create(
        notification=notification,
        status=ReceiptStatus.FAILED,
        gateway_message_id=None,
        error_code=error_code,
        error_message=error_message,
    )
    receipt_recorded.send(sender=DeliveryReceipt, notification=notification, receipt=receipt)
    return receipt
