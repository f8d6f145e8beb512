"""``notify()`` and ``notify_many()``: turn a template or a literal text into queued
notifications, and hand them to delivery once the caller's transaction commits.

Everything that can be wrong with the call itself is checked before anything is written,
and raises a :class:`~chargesol_notifications.exceptions.NotificationError`. Problems that
only delivery can find (no address, a gateway refusal) never raise here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from .arguments import check_message_arguments, check_recipients_and_key
from .choices import Channel, ContextType, NotificationStatus, TemplateChannel
from .delivery import enqueue_delivery
from .escalation import check_fallback
from .exceptions import (
    InvalidContextTypeError,
    InvalidMessageError,
    TemplateChannelMismatchError,
    TemplateNotFoundError,
    UnknownChannelError,
)
from .models import Notification, NotificationTemplate
from .notification_builder import NotificationBuilder
from .plain_data import PlainMapping, plain_context
from .quiet_hours import release_time
from .row_insert import insert_objects_as_rows
from .signals import notification_queued


@dataclass(frozen=True)
class MessageSpec:
    """A checked request: what every recipient of one notify()/notify_many() call gets."""

    channel: str
    template: NotificationTemplate | None
    subject: str
    body: str
    #: The caller's context as plain data: what every template render sees.
    context: PlainMapping
    context_type: str
    context_id: uuid.UUID | None
    #: When the notifications are due (``send_at`` or the end of quiet hours); None: now.
    scheduled_for: datetime | None = None
    #: The channels to escalate to, as stored ("sms,call"); "" for none.
    fallback_channels: str = ""


def notify(
    recipient: Any,
    channel: str,
    *,
    template: str | NotificationTemplate | None = None,
    context: Mapping[str, Any] | None = None,
    subject: str | None = None,
    body: str | None = None,
    context_type: str | None = None,
    context_id: uuid.UUID | str | None = None,
    idempotency_key: str | None = None,
    send_at: datetime | None = None,
    urgent: bool | None = None,
    fallback: Sequence[str] | None = None,
) -> Notification:
    """Queue one notification to ``recipient`` on ``channel``; return it (``queued``).

    Give either ``template`` (a NotificationTemplate or its name, rendered with
    ``context`` plus ``recipient``) or a literal ``body`` (and ``subject`` for email).
    Delivery starts after the surrounding transaction commits. With ``idempotency_key``,
    a second call for the same recipient, channel and key returns the first notification
    and sends nothing.

    ``send_at`` (an aware datetime) schedules the notification: it is not sent before
    then (``Notification.scheduled_for``). A non-urgent notification that would go out in
    its channel's quiet hours, now or at ``send_at``, waits for the next opening;
    ``urgent=True`` sends at any hour, ``urgent=False`` never skips quiet hours, and None
    asks ``URGENT_CONTEXT_TYPES`` and ``URGENT_TEMPLATES`` (see docs/scheduling.rst).

    ``fallback`` (channels, e.g. ``["sms", "call"]``) escalates: when the message fails,
    or is not delivered within ``ESCALATION_AFTER``, the same text goes out on the next
    channel, and so on until one is delivered (see docs/scheduling.rst).
    """
    (notification,) = notify_many(
        [recipient],
        channel,
        template=template,
        context=context,
        subject=subject,
        body=body,
        context_type=context_type,
        context_id=context_id,
        idempotency_key=idempotency_key,
        send_at=send_at,
        urgent=urgent,
        fallback=fallback,
    )
    return notification


def notify_many(
    recipients: Iterable[Any],
    channel: str,
    *,
    template: str | NotificationTemplate | None = None,
    context: Mapping[str, Any] | None = None,
    subject: str | None = None,
    body: str | None = None,
    context_type: str | None = None,
    context_id: uuid.UUID | str | None = None,
    idempotency_key: str | None = None,
    send_at: datetime | None = None,
    urgent: bool | None = None,
    fallback: Sequence[str] | None = None,
) -> list[Notification]:
    """Queue one notification per recipient, bulk-inserted; same arguments as notify().

    Each recipient's message is rendered with that recipient as ``recipient``; the
    template is compiled once. The number of queries does not grow with the number of
    recipients (beyond the database driver's limit on parameters per statement).
    """
    check_send_at(send_at)
    spec = check_request(channel, template, context, subject, body, context_type, context_id)
    spec = replace(
        spec,
        scheduled_for=scheduled_time(spec, send_at, urgent),
        fallback_channels=check_fallback(channel, fallback),
    )
    users = check_recipients_and_key(recipients, idempotency_key)
    if not users:
        return []
    # With a key, bulk_create() stamps created_at: insert_idempotent() tells the rows
    # this call inserted by it.
    created_at = timezone.now() if idempotency_key is None else None
    builder = NotificationBuilder(spec, idempotency_key, created_at=created_at)
    notifications = [builder.build(user) for user in users]
    extras = builder.extras
    if idempotency_key is None:
        insert_objects_as_rows(Notification, notifications, builder.rows, rows_are_scratch=True)
        deliver_on_commit(notifications, extras)
        return notifications
    stored, inserted = insert_idempotent(notifications)
    deliver_on_commit(stored, extras, announce=inserted)
    return stored


def check_request(
    channel: str,
    template: str | NotificationTemplate | None,
    context: Mapping[str, Any] | None,
    subject: str | None,
    body: str | None,
    context_type: str | None,
    context_id: uuid.UUID | str | None,
) -> MessageSpec:
    """Validate the arguments shared by every recipient; load the template (one query)."""
    check_message_arguments(channel, template, context, subject, body, context_type, context_id)
    if channel not in Channel.values:
        raise UnknownChannelError(
            f"Unknown channel {channel!r}; choose from {', '.join(Channel.values)}."
        )
    context_type = context_type or ""
    if context_type and context_type not in ContextType.values:
        raise InvalidContextTypeError(
            f"Unknown context_type {context_type!r}; choose from {', '.join(ContextType.values)}."
        )
    if template is not None and body is not None:
        raise InvalidMessageError("Pass either template or body, not both.")
    if template is None and body is None:
        raise InvalidMessageError("Pass a template or a body.")
    if subject is not None and template is not None:
        raise InvalidMessageError("A template brings its own subject; do not pass subject.")
    if subject and channel != Channel.EMAIL:
        raise InvalidMessageError(f"Only email has a subject; {channel} messages do not.")
    return MessageSpec(
        channel=channel,
        template=load_template(template, channel) if template is not None else None,
        # str(): a lazy translation (gettext_lazy) is text too, stored as it reads now.
        subject=str(subject or ""),
        body=str(body or ""),
        context=plain_context(context or {}),
        context_type=context_type,
        context_id=check_context_id(context_id),
    )


def check_send_at(send_at: Any) -> None:
    """``send_at`` is None or an aware datetime: a naive one names no instant."""
    if send_at is None:
        return
    if not isinstance(send_at, datetime):
        raise InvalidMessageError(f"send_at must be an aware datetime, not {send_at!r}.")
    if send_at.tzinfo is None or send_at.utcoffset() is None:
        raise InvalidMessageError(
            f"send_at {send_at!r} has no time zone; pass an aware datetime "
            "(e.g. timezone.now() + timedelta(days=1))."
        )


def scheduled_time(
    spec: MessageSpec, send_at: datetime | None, urgent: bool | None
) -> datetime | None:
    """When the notifications of ``spec`` are due: None for at once.

    ``send_at`` in the past means now. Quiet hours apply at the time the message would
    go: a send_at inside them moves to the next opening, unless the message is urgent.
    """
    now = timezone.now()
    go_at = send_at if send_at is not None and send_at > now else now
    held_until = release_time(
        spec.channel,
        context_type=spec.context_type,
        template_name=spec.template.name if spec.template is not None else None,
        urgent=urgent,
        at=go_at,
    )
    if held_until is not None:
        return held_until
    return go_at if go_at > now else None


def load_template(template: str | NotificationTemplate, channel: str) -> NotificationTemplate:
    instance = (
        template
        if isinstance(template, NotificationTemplate)
        else NotificationTemplate.objects.filter(name=template).first()
    )
    if instance is None:
        raise TemplateNotFoundError(f"No notification template is named {template!r}.")
    if not instance.is_active:
        raise TemplateNotFoundError(f"The notification template {instance.name!r} is inactive.")
    if channel not in TemplateChannel.values:
        raise TemplateChannelMismatchError(
            f"The {channel} channel has no templates; pass body= with the text to send."
        )
    if instance.channel != channel:
        raise TemplateChannelMismatchError(
            f"The template {instance.name!r} is for {instance.channel}, not {channel}."
        )
    return instance


def check_context_id(context_id: uuid.UUID | str | None) -> uuid.UUID | None:
    if context_id is None or isinstance(context_id, uuid.UUID):
        return context_id
    try:
        return uuid.UUID(str(context_id))
    except ValueError as exc:
        raise InvalidMessageError(f"context_id {context_id!r} is not a UUID.") from exc


def insert_idempotent(
    notifications: list[Notification],
) -> tuple[list[Notification], list[Notification]]:
    """Insert what does not exist yet; return the stored rows, in the order given, and
    those of them this call inserted.

    ``ignore_conflicts`` turns a concurrent or earlier insert of the same id into a no-op
    (ON CONFLICT DO NOTHING / INSERT IGNORE) without aborting the caller's transaction.
    A concurrent inserter blocks until the first commits, then reads its row.
    """
    Notification.objects.bulk_create(notifications, ignore_conflicts=True)
    stored = Notification.objects.in_bulk([n.pk for n in notifications])
    rows, inserted = [], []
    for notification in notifications:
        # Under REPEATABLE READ a row committed by a racing call may be invisible here;
        # it exists all the same, so the one built here stands in for it.
        row = stored.get(notification.pk, notification)
        row.recipient = notification.recipient  # saves a query per row later
        rows.append(row)
        # Ours if it carries the creation time bulk_create gave the one built here.
        if row.created_at == notification.created_at:
            inserted.append(row)
    return rows, inserted


def deliver_on_commit(
    notifications: list[Notification],
    extras: dict[uuid.UUID, dict[str, Any]],
    *,
    announce: list[Notification] | None = None,
) -> None:
    """Queue delivery for when the caller's transaction commits (now, in autocommit).

    Every notification still ``queued`` is handed over, also one a racing or earlier call
    with the same idempotency key created: delivery locks and re-checks the row, so this
    sends nothing twice, and it cannot miss the send when the racing call's own delivery
    found the row locked. ``notification_queued`` announces only ``announce`` (by default
    all): the rows this call created.
    """
    to_deliver = [n for n in notifications if n.status == NotificationStatus.QUEUED]
    announce = notifications if announce is None else announce
    if not to_deliver and not announce:
        return

    channel = notifications[0].channel  # one call, one channel

    def on_commit() -> None:
        if announce:
            notification_queued.send(sender=Notification, notifications=announce)
        # One call schedules its rows alike; a row an earlier call made with the same key
        # keeps its own time. A task per time, deferred to it (see enqueue_delivery).
        by_time: dict[datetime | None, list[uuid.UUID]] = {}
        for n in to_deliver:
            by_time.setdefault(n.scheduled_for, []).append(n.pk)
        for scheduled_for, ids in by_time.items():
            enqueue_delivery(ids, extras, channel=channel, run_after=scheduled_for)

    transaction.on_commit(on_commit, robust=True)
