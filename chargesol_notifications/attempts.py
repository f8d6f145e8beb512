"""What earlier attempts left on record: the transient failures a retry counts, and what
a backend needs to look for a message whose answer was lost."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q

from .backends.base import OUTCOME_UNKNOWN_CODES, UncertainAttempt
from .choices import ReceiptStatus
from .models import DeliveryReceipt, Notification

#: Transient failures are ``failed`` receipts with no gateway id on a queued notification.
TRANSIENT_FAILURES = Q(receipts__status=ReceiptStatus.FAILED, receipts__gateway_message_id=None)

#: How long before an uncertain attempt another notification's sent receipt still counts
#: as "not this message" (see :func:`uncertain_attempt`); generous, as it only excludes.
OTHER_MESSAGES_MARGIN = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class AttemptHistory:
    """The transient failures of one notification so far, oldest first."""

    #: (error code, time recorded) of each.
    failures: tuple[tuple[str | None, datetime], ...] = ()

    @property
    def count(self) -> int:
        return len(self.failures)

    @property
    def last_failure_at(self) -> datetime | None:
        return self.failures[-1][1] if self.failures else None

    def uncertain(self) -> tuple[str, datetime | None] | None:
        """After an attempt that may have reached the gateway (a timeout, a lost
        connection): (the latest such error code, the end of the attempt before the
        first one, or None when that was the first attempt). None when there was none."""
        if not self.failures:  # nearly every message of a wave
            return None
        codes = [code for code, _ in self.failures]
        uncertain = [i for i, code in enumerate(codes) if code in OUTCOME_UNKNOWN_CODES]
        if not uncertain:
            return None
        first, latest = uncertain[0], uncertain[-1]
        after = self.failures[first - 1][1] if first > 0 else None
        return str(codes[latest]), after


def attempt_histories(notification_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, AttemptHistory]:
    """The transient failures of each of ``notification_ids``: one query for them all.

    A notification without any has no entry (``AttemptHistory()`` stands for it).
    """
    rows = (
        DeliveryReceipt.objects.filter(
            notification_id__in=list(notification_ids),
            status=ReceiptStatus.FAILED,
            gateway_message_id=None,
        )
        .order_by("received_at", "pk")
        .values_list("notification_id", "error_code", "received_at")
    )
    failures: dict[uuid.UUID, list[tuple[str | None, datetime]]] = defaultdict(list)
    for notification_id, error_code, received_at in rows:
        failures[notification_id].append((error_code, received_at))
    return {pk: AttemptHistory(tuple(found)) for pk, found in failures.items()}


def uncertain_attempt(
    notification: Notification, history: AttemptHistory
) -> UncertainAttempt | None:
    """What a backend needs to look for a message an uncertain attempt may have left.

    Only after such an attempt does this query: the gateway ids already recorded for
    other notifications to the same recipient with the same channel and body, so that
    their messages are never taken for this one.
    """
    found = history.uncertain()
    if found is None:
        return None
    code, after = found
    since = after or notification.created_at
    others = (
        DeliveryReceipt.objects.filter(
            status=ReceiptStatus.SENT,
            gateway_message_id__isnull=False,
            notification__recipient_id=notification.recipient_id,
            notification__channel=notification.channel,
            notification__body=notification.body,
            received_at__gte=since - OTHER_MESSAGES_MARGIN,
        )
        .exclude(notification_id=notification.pk)
        .values_list("gateway_message_id", flat=True)
    )
    return UncertainAttempt(error_code=code, since=since, other_gateway_ids=frozenset(others))
