"""Delivering a queued notification: the task the tasks framework runs.

A delivery locks its notification row for the length of the send, so the delivery task,
a retry and ``deliver_queued`` on several hosts can never send the same message twice,
and a status webhook that arrives while the send is still being recorded waits for it.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .backends import get_backend
from .backends.base import (
    OUTCOME_UNKNOWN_CODES,
    BaseChannelBackend,
    SendAttempt,
    UncertainAttempt,
    as_delivery_error,
)
from .choices import NotificationStatus, ReceiptStatus
from .conf import get_setting
from .exceptions import DeliveryError, TransientDeliveryError
from .models import DeliveryReceipt, Notification
from .outgoing import build_message
from .retry import is_due, max_attempts, retry_delay
from .signals import notification_failed, notification_sent
from .status import record_attempt_failure, record_receipt
from .tasks_compat import task, task_backends

logger = logging.getLogger("chargesol_notifications.delivery")

#: Transient failures are ``failed`` receipts with no gateway id on a queued notification.
TRANSIENT_FAILURES = Q(receipts__status=ReceiptStatus.FAILED, receipts__gateway_message_id=None)

#: How long before an uncertain attempt another notification's sent receipt still counts
#: as "not this message" (see :func:`uncertain_attempt`); generous, as it only excludes.
OTHER_MESSAGES_MARGIN = timedelta(hours=1)


@dataclass(frozen=True)
class DeliveryOutcome:
    """What :func:`deliver` did: ``sent``, ``failed``, ``retry``, ``skipped`` or ``not_due``."""

    result: str
    retry_at: datetime | None = None


@dataclass(frozen=True)
class AttemptHistory:
    """The transient failures of one notification so far, oldest first."""

    #: (error code, time recorded) of each.
    failures: tuple[tuple[str | None, datetime], ...]

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
        codes = [code for code, _ in self.failures]
        uncertain = [i for i, code in enumerate(codes) if code in OUTCOME_UNKNOWN_CODES]
        if not uncertain:
            return None
        first, latest = uncertain[0], uncertain[-1]
        after = self.failures[first - 1][1] if first > 0 else None
        return str(codes[latest]), after


def attempt_history(notification_id: uuid.UUID) -> AttemptHistory:
    """The transient failures recorded for one notification (one query, a few rows)."""
    rows = (
        DeliveryReceipt.objects.filter(
            notification_id=notification_id,
            status=ReceiptStatus.FAILED,
            gateway_message_id=None,
        )
        .order_by("received_at", "pk")
        .values_list("error_code", "received_at")
    )
    return AttemptHistory(tuple(rows))


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


def deliver(
    notification_id: uuid.UUID | str, extra: dict[str, Any] | None = None
) -> DeliveryOutcome:
    """Send one queued notification through its channel's backend, if it is due."""
    notification_id = uuid.UUID(str(notification_id))
    with transaction.atomic():
        locked = (
            Notification.objects.select_for_update(skip_locked=True)
            .filter(pk=notification_id, status=NotificationStatus.QUEUED)
            .values_list("pk", flat=True)
        )
        # Empty when it was sent already, or another worker holds it right now.
        if not list(locked):
            return DeliveryOutcome("skipped")
        history = attempt_history(notification_id)
        if not is_due(history.count, history.last_failure_at, timezone.now()):
            return DeliveryOutcome("not_due")
        notification = Notification.objects.select_related("recipient", "template").get(
            pk=notification_id
        )
        uncertain = uncertain_attempt(notification, history)
        outcome = _send_and_record(notification, history.count + 1, extra, uncertain)
    if outcome.retry_at is not None:
        schedule_retry(notification_id, outcome.retry_at, extra)
    return outcome


def _send_and_record(
    notification: Notification,
    attempt: int,
    extra: dict[str, Any] | None,
    uncertain: UncertainAttempt | None = None,
) -> DeliveryOutcome:
    """Build the message, send it through the channel's backend; record the receipt and
    move the status."""
    backend: BaseChannelBackend | None = None
    try:
        backend = get_backend(notification.channel)
        message = build_message(notification, backend, extra or {}, uncertain_attempt=uncertain)
    except ImproperlyConfigured as exc:
        # A broken channel setting is fixed by a deploy, not by the message: keep the
        # notification for a retry (bounded like any transient failure), and let the
        # other channels go on.
        logger.error("Cannot deliver notification %s: %s", notification.pk, exc)
        error = TransientDeliveryError(str(exc), code="improperly_configured")
        sent = SendAttempt(message=None, error=error)
    except Exception as exc:
        # No address, a bad number, a body too long: the codes staff read. A resolver
        # that crashed goes by the backends' policy for unexpected errors.
        during = f"building the message of notification {notification.pk}"
        sent = SendAttempt(message=None, error=as_delivery_error(exc, during=during))
    else:
        sent = backend.send(message)
    return _record_outcome(notification, backend, sent, attempt)


def _record_outcome(
    notification: Notification,
    backend: BaseChannelBackend | None,
    sent: SendAttempt,
    attempt: int,
) -> DeliveryOutcome:
    if sent.error is None:
        outcome = record_receipt(
            notification, ReceiptStatus.SENT, gateway_message_id=sent.gateway_message_id
        )
        notification_sent.send(
            sender=signal_sender(backend),
            notification=notification,
            receipt=outcome.receipt,
            message=sent.message,
        )
        return DeliveryOutcome("sent")
    error = sent.error
    limit = max_attempts()
    if error.transient and attempt < limit:
        delay = retry_delay(attempt)
        record_attempt_failure(
            notification,
            error_code=error.code,
            error_message=(
                f"Attempt {attempt} of {limit} failed; retrying in about {delay:.0f} s. "
                f"{error.message}"
            ),
        )
        logger.warning(
            "Notification %s: attempt %s of %s failed (%s); retrying",
            notification.pk,
            attempt,
            limit,
            error,
        )
        return DeliveryOutcome("retry", retry_at=timezone.now() + timedelta(seconds=delay))
    message = error.message
    if error.transient:
        message = f"Gave up after {attempt} attempts. {message}"
    _fail(notification, backend, error, message)
    return DeliveryOutcome("failed")


def _fail(
    notification: Notification,
    backend: BaseChannelBackend | None,
    error: DeliveryError,
    message: str,
) -> None:
    outcome = record_receipt(
        notification, ReceiptStatus.FAILED, error_code=error.code, error_message=message
    )
    logger.info("Notification %s failed: %s", notification.pk, error)
    notification_failed.send(
        sender=signal_sender(backend),
        notification=notification,
        receipt=outcome.receipt,
        error=error,
    )


def task_backend_alias() -> str:
    return str(get_setting("TASK_BACKEND"))


def schedule_retry(
    notification_id: uuid.UUID, retry_at: datetime, extra: dict[str, Any] | None = None
) -> None:
    """Enqueue the retry for later where the task backend can defer; else cron's turn.

    Backends without deferral (the immediate backend) leave the retry to
    ``manage.py deliver_queued``, which picks the notification up once it is due.
    """
    alias = task_backend_alias()
    if not task_backends[alias].supports_defer:
        return
    task = deliver_notification.using(backend=alias, run_after=retry_at)
    try:
        task.enqueue(*delivery_args(notification_id, extra))
    except Exception:
        # The failed attempt is on record and the row is still queued: deliver_queued
        # retries it when due.
        logger.exception("Could not schedule the retry of notification %s", notification_id)


def delivery_args(notification_id: uuid.UUID, extra: dict[str, Any] | None) -> list[Any]:
    return [str(notification_id), extra] if extra else [str(notification_id)]


def enqueue_delivery(
    notification_ids: list[uuid.UUID], extras: dict[uuid.UUID, dict[str, Any]] | None = None
) -> None:
    """Hand each notification to the tasks framework (called on commit)."""
    task = deliver_notification.using(backend=task_backend_alias())
    for notification_id in notification_ids:
        try:
            task.enqueue(*delivery_args(notification_id, (extras or {}).get(notification_id)))
        except Exception:
            # The row stays queued: deliver_queued will find it. Never raise into the
            # caller, whose transaction has already committed.
            logger.exception("Could not enqueue delivery of notification %s", notification_id)


@task()
def deliver_notification(notification_id: str, extra: dict[str, Any] | None = None) -> str:
    """The task: deliver one notification (see :func:`deliver`)."""
    return deliver(notification_id, extra).result


def signal_sender(backend: BaseChannelBackend | None) -> type:
    """Signals name the backend class; Notification when no backend could be built."""
    return type(backend) if backend is not None else Notification
