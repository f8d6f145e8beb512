"""Handing queued notifications to the tasks framework, and the tasks that deliver them.

``notify()`` enqueues one :func:`deliver_notification` task; ``notify_many()`` and
``deliver_queued --enqueue`` enqueue one :func:`deliver_notifications` task per
``DELIVERY_BATCH_SIZE`` notifications. Both deliver through :mod:`.waves`, which claims,
sends and records the rows; here are the tasks, the enqueueing and the retries.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from .conf import get_setting
from .delivery_settings import batch_size
from .models import NotificationTemplate
from .tasks_compat import queue_database, task, task_backends
from .waves import DeliveryOutcome, Extras, deliver_waves

logger = logging.getLogger("chargesol_notifications.delivery")

__all__ = [
    "DeliveryOutcome",
    "deliver",
    "deliver_batch",
    "deliver_notification",
    "deliver_notifications",
    "enqueue_delivery",
]


def deliver(
    notification_id: uuid.UUID | str, extra: Mapping[str, Any] | None = None
) -> DeliveryOutcome:
    """Send one queued notification through its channel's backend, if it is due."""
    pk = uuid.UUID(str(notification_id))
    outcomes = deliver_batch([pk], {str(pk): extra} if extra else None)
    return outcomes[pk]


def deliver_batch(
    notification_ids: Sequence[uuid.UUID | str],
    extras: Extras | None = None,
    *,
    channel: str | None = None,
    templates: dict[Any, NotificationTemplate] | None = None,
) -> dict[uuid.UUID, DeliveryOutcome]:
    """Deliver queued notifications wave by wave (see :mod:`.waves`); schedule the
    retries of those that failed transiently; return each one's outcome.

    ``templates``: see :func:`~.waves.deliver_waves`."""
    outcomes = deliver_waves(notification_ids, extras, channel=channel, templates=templates)
    retrying = {pk: o.retry_at for pk, o in outcomes.items() if o.retry_at is not None}
    if retrying:
        extras = extras or {}
        schedule_retry(
            list(retrying),
            max(at for at in retrying.values() if at is not None),
            {str(pk): dict(extras[str(pk)]) for pk in retrying if extras.get(str(pk))},
            channel=channel,
        )
    return outcomes


def task_backend_alias() -> str:
    return str(get_setting("TASK_BACKEND"))


def schedule_retry(
    notification_ids: list[uuid.UUID],
    retry_at: datetime,
    extras: dict[str, dict[str, Any]] | None = None,
    *,
    channel: str | None = None,
) -> None:
    """Enqueue the retry for later where the task backend can defer; else cron's turn.

    One task for all of them, run when the last is due. Backends without deferral (the
    immediate backend) leave the retry to ``manage.py deliver_queued``, which picks the
    notifications up once they are due.
    """
    alias = task_backend_alias()
    if not task_backends[alias].supports_defer:
        return
    try:
        enqueue_tasks(notification_ids, extras or {}, channel=channel, run_after=retry_at)
    except Exception:
        # The failed attempts are on record and the rows are still queued:
        # deliver_queued retries them when due.
        logger.exception(
            "Could not schedule the retry of %s notification(s)", len(notification_ids)
        )


def enqueue_delivery(
    notification_ids: Sequence[uuid.UUID],
    extras: Mapping[uuid.UUID, Mapping[str, Any]] | None = None,
    *,
    channel: str | None = None,
    run_after: datetime | None = None,
) -> None:
    """Hand the notifications to the tasks framework (called on commit): one task for a
    single notification, else one per ``DELIVERY_BATCH_SIZE``. Never raises.

    Notifications scheduled for later (``run_after`` in the future) are deferred to then
    where the task backend can defer; elsewhere (the immediate backend) nothing is
    enqueued, and ``manage.py deliver_queued`` delivers them once due: the row is what
    says when, so a restart loses nothing either way.
    """
    by_id = {str(pk): dict(extra) for pk, extra in (extras or {}).items() if extra}
    if run_after is not None and run_after <= timezone.now():
        run_after = None
    try:
        if run_after is not None and not task_backends[task_backend_alias()].supports_defer:
            return
        enqueue_tasks(list(notification_ids), by_id, channel=channel, run_after=run_after)
    except Exception:
        # The rows stay queued: deliver_queued will find them. Never raise into the
        # caller, whose transaction has already committed.
        logger.exception("Could not enqueue delivery of %s notification(s)", len(notification_ids))


def enqueue_tasks(
    notification_ids: list[uuid.UUID],
    extras: dict[str, dict[str, Any]],
    *,
    channel: str | None = None,
    run_after: datetime | None = None,
) -> None:
    """Enqueue the tasks; a batch that fails to enqueue does not stop the others."""
    alias = task_backend_alias()
    options: dict[str, Any] = {"backend": alias}
    queue = get_setting("TASK_QUEUE")
    if queue is not None:
        options["queue_name"] = str(queue)
    if run_after is not None:
        options["run_after"] = run_after
    if len(notification_ids) == 1:
        (pk,) = notification_ids
        extra = extras.get(str(pk))
        args = [str(pk), extra] if extra else [str(pk)]
        deliver_notification.using(**options).enqueue(*args)
        return
    task_of_batch = deliver_notifications.using(**options)
    size = batch_size()
    batches = []
    for start in range(0, len(notification_ids), size):
        ids = [str(pk) for pk in notification_ids[start : start + size]]
        batch_extras = {pk: extras[pk] for pk in ids if pk in extras} or None
        # One string, the ids separated by spaces: the queue checks and encodes one JSON
        # value instead of 250 (django-tasks-db, 40 enqueues on SQLite: 38 ms, not 58).
        batches.append((" ".join(ids), len(ids), batch_extras))
    database = queue_database(task_backends[alias])
    if database is not None:
        # A queue that is a table (django-tasks-db): every batch in one transaction, one
        # commit (and one sync to disk) instead of one per batch. Should any fail, none
        # is kept, and they are enqueued again one transaction each, below.
        try:
            with transaction.atomic(using=database):
                for ids, _count, batch_extras in batches:
                    task_of_batch.enqueue(ids, batch_extras, channel)
        except Exception:
            logger.warning(
                "Could not enqueue %s delivery batches together; enqueueing them one by one",
                len(batches),
                exc_info=True,
            )
        else:
            return
    # Batch by batch: a batch that fails does not stop the others. Any other backend
    # always goes this way: the immediate one delivers inside enqueue(), and its sends
    # must not wait for a commit at the end of all of them.
    failed = 0
    for ids, count, batch_extras in batches:
        try:
            with transaction.atomic(using=database) if database else nullcontext():
                task_of_batch.enqueue(ids, batch_extras, channel)
        except Exception:
            failed += count
            logger.exception("Could not enqueue a delivery batch of %s notification(s)", count)
    if failed:
        logger.error("%s notification(s) left for deliver_queued", failed)


@task()
def deliver_notification(notification_id: str, extra: dict[str, Any] | None = None) -> str:
    """The task of one notification: deliver it (see :func:`deliver`)."""
    return deliver(notification_id, extra).result


@task()
def deliver_notifications(
    notification_ids: str | list[str],
    extras: dict[str, dict[str, Any]] | None = None,
    channel: str | None = None,
) -> dict[str, int]:
    """The task of a batch: deliver each notification (see :func:`deliver_batch`);
    return how many ended each way (``{"sent": 248, "retry": 2}``).

    ``notification_ids``: the ids separated by spaces, as :func:`enqueue_tasks` writes
    them, or a list of them, as it wrote them before.
    """
    if isinstance(notification_ids, str):
        notification_ids = notification_ids.split()
    outcomes = deliver_batch(notification_ids, extras, channel=channel)
    counts: dict[str, int] = {}
    for outcome in outcomes.values():
        counts[outcome.result] = counts.get(outcome.result, 0) + 1
    return counts
