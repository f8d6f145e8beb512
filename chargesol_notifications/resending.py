"""Resending failed notifications and requeueing stuck ones: what the admin's actions do.

A resend is a new notification, never the old one revived: the failed row stays as the
record of what happened, and the new one (``resent_from`` the old) is delivered to the
recipient's address as it is now (it is resolved at delivery, like any notification's).
It carries the same template, subject, body and context; the body is the one rendered
for the original, since the data it was rendered from is not stored.

Requeueing hands notifications still ``queued`` to the tasks framework again (a task
lost with a worker, a queue flushed). Delivery claims each row with a lock and sends only
rows still queued, so a notification requeued while its first task is running is still
sent once.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from .choices import NotificationStatus
from .models import Notification
from .row_insert import insert_rows
from .sending import deliver_on_commit
from .time_ordered_ids import new_id


def resend(notifications: Iterable[Notification]) -> list[Notification]:
    """Queue a copy of each failed notification of ``notifications``; the copies.

    Notifications that did not fail are left alone (the caller reports how many).
    Delivery starts when the surrounding transaction commits.
    """
    copies = [
        Notification(
            id=new_id(),
            recipient_id=original.recipient_id,
            channel=original.channel,
            template_id=original.template_id,
            subject=original.subject,
            body=original.body,
            context_type=original.context_type,
            context_id=original.context_id,
            status=NotificationStatus.QUEUED,
            resent_from=original,
        )
        for original in notifications
        if original.status == NotificationStatus.FAILED
    ]
    if not copies:
        return []
    with transaction.atomic():
        insert_rows(Notification, copies, now=timezone.now())
        for channel in {copy.channel for copy in copies}:
            deliver_on_commit([copy for copy in copies if copy.channel == channel], {})
    return copies


def requeue(notifications: Iterable[Notification]) -> list[Notification]:
    """Enqueue delivery again for each of ``notifications`` still queued; those."""
    queued = [n for n in notifications if n.status == NotificationStatus.QUEUED]
    for channel in {n.channel for n in queued}:
        same_channel = [n for n in queued if n.channel == channel]
        # Announced once already, when they were created: only delivery is handed on.
        deliver_on_commit(same_channel, {}, announce=[])
    return queued
