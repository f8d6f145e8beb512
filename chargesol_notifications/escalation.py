"""Channel escalation: ``notify(..., fallback=["sms", "call"])``.

A notification with ``fallback_channels`` is the first step of a chain. When it fails
(at the send, or by a later failed/undelivered status callback) or is not delivered
within ``ESCALATION_AFTER`` seconds of being sent, :func:`escalate` queues the same text
on the next channel: a new Notification, ``escalated_from`` the step before, holding the
channels still left. A delivered step stops the chain; a failed last step ends it.

A step escalates at most once: the conditional UPDATE that empties its
``fallback_channels`` (and only while the step is not delivered) is what the first
check wins, so a timeout task, ``deliver_queued`` and a failure callback running at the
same time make one next step between them.

The next step carries the first step's rendered subject and body: the context a
template was rendered with is not stored, so there is nothing to render another
template from. A call speaks the body (the call backend's TwiML ``<Say>``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import router, transaction
from django.dispatch import receiver
from django.utils import timezone

from .choices import Channel, NotificationStatus
from .conf import DEFAULTS, get_setting
from .escalation_due import escalate_failed_on_commit, escalation_due
from .exceptions import InvalidMessageError, UnknownChannelError
from .models import Notification
from .quiet_hours import release_time
from .tasks_compat import task, task_backends
from .time_ordered_ids import new_id

logger = logging.getLogger("chargesol_notifications.escalation")

__all__ = [
    "check_fallback",
    "escalate",
    "escalate_failed_on_commit",
    "escalate_overdue",
    "escalation_delay",
    "schedule_escalation_checks",
]

#: What separates the channels of ``Notification.fallback_channels``.
SEPARATOR = ","

#: The statuses after which a step may escalate: failed at once, sent once overdue.
ESCALATING_STATUSES = (NotificationStatus.SENT, NotificationStatus.FAILED)


def check_fallback(channel: str, fallback: Iterable[str] | None) -> str:
    """``fallback`` as stored in ``fallback_channels`` ("sms,call"); "" for none.

    Each channel must be known, and appear once, after the first channel."""
    if fallback is None:
        return ""
    if isinstance(fallback, str):
        raise InvalidMessageError(
            f"fallback is a list of channels (e.g. ['sms', 'call']), not {fallback!r}."
        )
    channels = [str(name) for name in fallback]
    for name in channels:
        if name not in Channel.values:
            raise UnknownChannelError(
                f"Unknown fallback channel {name!r}; choose from {', '.join(Channel.values)}."
            )
    if len(set(channels) | {channel}) != len(channels) + 1:
        raise InvalidMessageError(
            f"fallback {channels!r} repeats a channel; each is tried once, after {channel}."
        )
    return SEPARATOR.join(channels)


def checked_escalation_after(value: Any) -> dict[str, float]:
    """``ESCALATION_AFTER`` merged over its default; raises ImproperlyConfigured (E050)."""
    if not isinstance(value, Mapping):
        raise ImproperlyConfigured(
            "CHARGESOL_NOTIFICATIONS['ESCALATION_AFTER'] must be a dict of channel (or "
            f"'default') -> seconds, not {value!r}."
        )
    merged: dict[str, float] = dict(DEFAULTS["ESCALATION_AFTER"])
    for key, seconds in value.items():
        if key != "default" and key not in Channel.values:
            raise ImproperlyConfigured(
                f"CHARGESOL_NOTIFICATIONS['ESCALATION_AFTER'] has the key {key!r}, which is "
                f"neither 'default' nor a channel ({', '.join(Channel.values)})."
            )
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
            raise ImproperlyConfigured(
                f"CHARGESOL_NOTIFICATIONS['ESCALATION_AFTER'][{key!r}] must be a positive "
                f"number of seconds, not {seconds!r}."
            )
        merged[key] = float(seconds)
    return merged


def escalation_delay(channel: str) -> timedelta:
    """How long a step on ``channel`` has to be delivered before the chain moves on."""
    delays = checked_escalation_after(get_setting("ESCALATION_AFTER"))
    return timedelta(seconds=delays.get(channel, delays["default"]))


def escalate(notification_id: uuid.UUID | str) -> Notification | None:
    """Queue the next step of ``notification_id``'s chain if it is due; return it.

    Due: the step failed, or it was sent ``ESCALATION_AFTER`` ago and is not delivered.
    Nothing happens for a delivered step, one still queued or sending, one with no
    channels left, or one that has escalated already. Delivery of the new step starts
    when the transaction commits.
    """
    pk = uuid.UUID(str(notification_id))
    using = router.db_for_write(Notification)
    with transaction.atomic(using=using):
        step = Notification.objects.using(using).filter(pk=pk).first()
        if step is None or not step.fallback_channels or not is_due(step, timezone.now()):
            return None
        # The guard: one check wins the UPDATE, every other finds the chain moved on.
        won = (
            Notification.objects.using(using)
            .filter(
                pk=pk,
                fallback_channels=step.fallback_channels,
                status__in=ESCALATING_STATUSES,
            )
            .update(fallback_channels="")
        )
        if not won:
            return None
        next_step = queue_next_step(step, using)
    logger.info(
        "Notification %s (%s, %s) escalated to %s on %s",
        step.pk,
        step.channel,
        step.status,
        next_step.pk,
        next_step.channel,
    )
    return next_step


def is_due(step: Notification, now: datetime) -> bool:
    if step.status == NotificationStatus.FAILED:
        return True
    if step.status != NotificationStatus.SENT or step.sent_at is None:
        return False
    return step.sent_at + escalation_delay(step.channel) <= now


def queue_next_step(step: Notification, using: str) -> Notification:
    """Insert the step after ``step`` and deliver it once the transaction commits."""
    channel, *rest = step.fallback_channels.split(SEPARATOR)
    now = timezone.now()
    held_until = release_time(channel, context_type=step.context_type, template_name=None, at=now)
    next_step = Notification.objects.using(using).create(
        id=new_id(),
        recipient_id=step.recipient_id,
        channel=channel,
        # Email needs a subject; the others have none.
        subject=(step.subject or step.body[:60]) if channel == Channel.EMAIL else "",
        body=step.body,
        context_type=step.context_type,
        context_id=step.context_id,
        escalated_from=step,
        fallback_channels=SEPARATOR.join(rest),
        scheduled_for=held_until,
    )

    def on_commit() -> None:
        # Imported here: delivery imports the waves, which import this module.
        from .delivery import enqueue_delivery
        from .signals import notification_queued

        notification_queued.send(sender=Notification, notifications=[next_step])
        enqueue_delivery([next_step.pk], channel=channel, run_after=held_until)

    transaction.on_commit(on_commit, using=using, robust=True)
    return next_step


def escalate_overdue(now: datetime | None = None) -> list[Notification]:
    """Escalate every step past its time (``deliver_queued`` runs this): the steps
    that failed or were sent too long ago, with channels left. Return the new steps."""
    now = now or timezone.now()
    delays = checked_escalation_after(get_setting("ESCALATION_AFTER"))
    candidates = Notification.objects.exclude(fallback_channels="").filter(
        status__in=ESCALATING_STATUSES
    )
    ids = [
        pk
        for pk, status, channel, sent_at in candidates.values_list(
            "pk", "status", "channel", "sent_at"
        )
        if status == NotificationStatus.FAILED
        or (
            sent_at is not None
            and sent_at + timedelta(seconds=delays.get(channel, delays["default"])) <= now
        )
    ]
    return [step for step in map(escalate, ids) if step is not None]


def schedule_escalation_checks(steps: Sequence[Notification], sent_at: datetime) -> None:
    """Defer a :func:`check_escalation` task to each step's deadline, where the task
    backend can defer; elsewhere ``deliver_queued`` finds the overdue steps. Never raises.
    """
    steps = [step for step in steps if step.fallback_channels]
    if not steps:
        return
    try:
        alias = str(get_setting("TASK_BACKEND"))
        if not task_backends[alias].supports_defer:
            return
        options: dict[str, Any] = {"backend": alias}
        queue = get_setting("TASK_QUEUE")
        if queue is not None:
            options["queue_name"] = str(queue)
        for step in steps:
            run_after = sent_at + escalation_delay(step.channel)
            check_escalation.using(**options, run_after=run_after).enqueue(str(step.pk))
    except Exception:
        # The steps are on record: deliver_queued escalates them once overdue.
        logger.exception("Could not schedule the escalation check of %s step(s)", len(steps))


@receiver(escalation_due, sender=Notification)
def escalate_failed(*, notification_ids: Sequence[uuid.UUID], **kwargs: Any) -> None:
    """Escalate the steps a status callback (or a wave) failed; see :mod:`.escalation_due`."""
    for pk in notification_ids:
        escalate(pk)


@task()
def check_escalation(notification_id: str) -> str:
    """The deferred check of one step: escalate it if it is still undelivered."""
    next_step = escalate(notification_id)
    return "escalated" if next_step is not None else "stays"
