"""Cancelling scheduled notifications: ``cancel_scheduled()``.

A notification is *scheduled* when it has a ``scheduled_for`` (``notify(send_at=...)``,
or held by quiet hours) and is still ``queued``. Cancelling deletes it: the spec's
statuses (queued, sent, delivered, failed) have no word for "called off", ``failed``
would tell staff something went wrong when nothing did, and a message never sent has
nothing to show but its text. A notification already sent, or being sent at that moment,
is not cancelled: the delete waits for the delivering wave's lock, then finds the row
no longer queued.

Rescheduling is a cancel and a new ``notify()`` in one transaction (docs/scheduling.rst):
with the same idempotency key the new notification takes the id of the one cancelled.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from .choices import Channel, NotificationStatus
from .exceptions import InvalidMessageError, UnknownChannelError
from .models import Notification, NotificationTemplate
from .notification_builder import idempotent_id

logger = logging.getLogger("chargesol_notifications.scheduling")

__all__ = ["cancel_notifications", "cancel_scheduled", "scheduled_notifications"]


def cancel_scheduled(
    *,
    idempotency_key: str | None = None,
    recipient: Any = None,
    channel: str | None = None,
    context_type: str | None = None,
    context_id: uuid.UUID | str | None = None,
    template: str | NotificationTemplate | None = None,
) -> int:
    """Cancel the scheduled notifications that match; return how many were cancelled.

    Give ``idempotency_key`` with the ``recipient`` it was used for (and ``channel``, or
    every channel is tried), or ``context_id`` (with ``context_type`` to narrow it);
    ``template`` (a name or a NotificationTemplate) narrows either. Only notifications
    still queued with a ``scheduled_for`` are cancelled, due or not; they are deleted.
    """
    scheduled = scheduled_notifications(
        idempotency_key=idempotency_key,
        recipient=recipient,
        channel=channel,
        context_type=context_type,
        context_id=context_id,
        template=template,
    )
    return cancel_notifications(scheduled)


def cancel_notifications(scheduled: QuerySet[Notification]) -> int:
    """Delete the rows of ``scheduled`` (queued, scheduled notifications); how many.

    The rows are locked first: a row a delivering wave holds is waited for, and its
    status read again once the wave commits, so one sent meanwhile is left alone (a
    plain delete() reads the ids, then deletes by id without looking again).
    """
    with transaction.atomic(using=scheduled.db):
        ids = list(scheduled.select_for_update().values_list("pk", flat=True))
        # The receipts of earlier transient failures go too (on_delete=CASCADE).
        _total, by_model = Notification.objects.using(scheduled.db).filter(pk__in=ids).delete()
    cancelled = by_model.get(Notification._meta.label, 0)
    if cancelled:
        logger.info("Cancelled %s scheduled notification(s)", cancelled)
    return cancelled


def scheduled_notifications(
    *,
    idempotency_key: str | None = None,
    recipient: Any = None,
    channel: str | None = None,
    context_type: str | None = None,
    context_id: uuid.UUID | str | None = None,
    template: str | NotificationTemplate | None = None,
) -> QuerySet[Notification]:
    """The queued, scheduled notifications that match (see :func:`cancel_scheduled`)."""
    if idempotency_key is None and context_id is None:
        # Without either, "cancel the survey reminders" would cancel everyone's.
        raise InvalidMessageError(
            "Pass idempotency_key (with recipient) or context_id to say what to cancel."
        )
    if channel is not None and channel not in Channel.values:
        raise UnknownChannelError(
            f"Unknown channel {channel!r}; choose from {', '.join(Channel.values)}."
        )
    matching = Q(status=NotificationStatus.QUEUED, scheduled_for__isnull=False)
    if idempotency_key is not None:
        if recipient is None:
            raise InvalidMessageError(
                "An idempotency key names a notification together with its recipient; "
                "pass recipient too."
            )
        channels = [channel] if channel is not None else list(Channel.values)
        ids = [idempotent_id(recipient.pk, name, idempotency_key) for name in channels]
        matching &= Q(pk__in=ids)
    else:
        if recipient is not None:
            matching &= Q(recipient=recipient)
        if channel is not None:
            matching &= Q(channel=channel)
    if context_id is not None:
        # Imported here: sending imports delivery, which this module need not load.
        from .sending import check_context_id

        matching &= Q(context_id=check_context_id(context_id))
    if context_type is not None:
        matching &= Q(context_type=context_type)
    if template is not None:
        if isinstance(template, NotificationTemplate):
            matching &= Q(template=template)
        else:
            matching &= Q(template__name=template)
    return Notification.objects.filter(matching)
