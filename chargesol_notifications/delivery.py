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
from django.db.models import Count, Max, Q
from django.utils import timezone

from .backends import get_backend
from .backends.base import BaseChannelBackend, SendAttempt, as_delivery_error
from .choices import NotificationStatus, ReceiptStatus
from .conf import get_setting
from .exceptions import DeliveryError, TransientDeliveryError
from .models import Notification
from .outgoing import build_message
from .retry import is_due, max_attempts, retry_delay
from .signals import notification_failed, notification_sent
from .status import record_attempt_failure, record_receipt
from .tasks_compat import task, task_backends

logger = logging.getLogger("chargesol_notifications.delivery")

#: Transient failures are ``failed`` receipts with no gateway id on a queued notification.
TRANSIENT_FAILURES = Q(receipts__status=ReceiptStatus.FAILED, receipts__gateway_message_id=None)


@dataclass(frozen=True)
class DeliveryOutcome:
    """What :func:`deliver` did: ``sent``, ``failed``, ``retry``, ``skipped`` or ``not_due``."""

    result: str
    retry_at: datetime | None = None


def attempt_history(notification_id: uuid.UUID) -> tuple[int, datetime | None]:
    """(transient failures so far, time of the last one) for one notification."""
    row = Notification.objects.filter(pk=notification_id).aggregate(
        failures=Count("receipts", filter=TRANSIENT_FAILURES),
        last=Max("receipts__received_at", filter=TRANSIENT_FAILURES),
    )
    return row["failures"], row["last"]


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
        failures, last_failure_at = attempt_history(notification_id)
        if not is_due(failures, last_failure_at, timezone.now()):
            return DeliveryOutcome("not_due")
        notification = Notification.objects.select_related("recipient", "template").get(
            pk=notification_id
        )
        outcome = _send_and_record(notification, failures + 1, extra)
    if outcome.retry_at is not None:
        schedule_retry(notification_id, outcome.retry_at, extra)
    return outcome


def _send_and_record(
    notification: Notification, attempt: int, extra: dict[str, Any] | None
) -> DeliveryOutcome:
    """Build the message, send it through the channel's backend; record the receipt and
    move the status."""
    backend: BaseChannelBackend | None = None
    try:
        backend = get_backend(notification.channel)
        message = build_message(notification, backend, extra or {})
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
