"""``notify()`` and ``notify_many()``: turn a template or a literal text into queued
notifications, and hand them to delivery once the caller's transaction commits.

Everything that can be wrong with the call itself is checked before anything is written,
and raises a :class:`~chargesol_notifications.exceptions.NotificationError`. Problems that
only delivery can find (no address, a gateway refusal) never raise here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from .arguments import check_message_arguments, check_recipients_and_key, check_storable
from .backends import get_backend
from .backends.base import BaseChannelBackend
from .choices import Channel, ContextType, NotificationStatus, TemplateChannel
from .delivery import enqueue_delivery
from .exceptions import (
    InvalidContextTypeError,
    InvalidMessageError,
    TemplateChannelMismatchError,
    TemplateNotFoundError,
    UnknownChannelError,
)
from .models import Notification, NotificationTemplate
from .outgoing import extra_at_notify
from .plain_data import PlainMapping, plain_context, with_values
from .recipient_data import recipient_reader
from .rendering import MessageRenderer
from .row_insert import insert_rows
from .signals import notification_queued

#: Namespace of the ids derived from idempotency keys (any fixed UUID will do).
IDEMPOTENCY_NAMESPACE = uuid.UUID("0f6d7a52-4f0e-4b8a-9a43-3c1f5e2b7d11")

SUBJECT_MAX_LENGTH: int = Notification._meta.get_field("subject").max_length or 0


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
) -> Notification:
    """Queue one notification to ``recipient`` on ``channel``; return it (``queued``).

    Give either ``template`` (a NotificationTemplate or its name, rendered with
    ``context`` plus ``recipient``) or a literal ``body`` (and ``subject`` for email).
    Delivery starts after the surrounding transaction commits. With ``idempotency_key``,
    a second call for the same recipient, channel and key returns the first notification
    and sends nothing.
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
) -> list[Notification]:
    """Queue one notification per recipient, bulk-inserted; same arguments as notify().

    Each recipient's message is rendered with that recipient as ``recipient``; the
    template is compiled once. The number of queries does not grow with the number of
    recipients (beyond the database driver's limit on parameters per statement).
    """
    spec = check_request(channel, template, context, subject, body, context_type, context_id)
    users = check_recipients_and_key(recipients, idempotency_key)
    if not users:
        return []
    if idempotency_key is None:
        now = timezone.now()
        builder = NotificationBuilder(spec, idempotency_key, created_at=now)
        built = [builder.build(user) for user in users]
        notifications = [notification for notification, _extra in built]
        extras = {notification.pk: extra for notification, extra in built if extra}
        insert_rows(Notification, notifications, now=now)
        deliver_on_commit(notifications, extras)
        return notifications
    builder = NotificationBuilder(spec, idempotency_key, created_at=None)
    built = [builder.build(user) for user in users]
    notifications = [notification for notification, _extra in built]
    extras = {notification.pk: extra for notification, extra in built if extra}
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


class NotificationBuilder:
    """The notifications of one notify_many() call, recipient by recipient: rendered,
    checked and built (unsaved), with what the channel's backend keeps.

    Everything that is the same for every recipient is worked out once per call: the
    compiled template and its limits (:class:`~.rendering.MessageRenderer`), the
    allow-list of recipient attributes (:func:`~.recipient_data.recipient_reader`), the
    channel's backend and the values of the columns that do not vary. Each recipient
    still gets a render of its own, under a budget of its own, over plain data only.
    """

    def __init__(
        self, spec: MessageSpec, idempotency_key: str | None, *, created_at: datetime | None
    ) -> None:
        self.spec = spec
        self.idempotency_key = idempotency_key
        self.renderer: MessageRenderer | None = None
        self.recipient_of: Callable[[Any], PlainMapping] | None = None
        self.backend: BaseChannelBackend | None = None
        if spec.template is not None:
            self.renderer = MessageRenderer(spec.template)
            self.recipient_of = recipient_reader()
            self.backend = channel_backend(spec.channel)
        # The row as Notification(recipient=..., channel=..., ...) would hold it: the
        # values given, each other field's default. Per recipient only the id, the
        # recipient and the text differ; positional arguments, in the model's field
        # order, spare Model.__init__ the keyword and foreign-key handling per row.
        given = {
            "channel": spec.channel,
            "template_id": spec.template.pk if spec.template is not None else None,
            "subject": spec.subject,
            "body": spec.body,
            "context_type": spec.context_type,
            "context_id": spec.context_id,
            "status": NotificationStatus.QUEUED,
            "created_at": created_at,
        }
        self.row = [
            given[field.attname] if field.attname in given else field.get_default()
            for field in ROW_FIELDS
        ]

    def build(self, recipient: Any) -> tuple[Notification, dict[str, Any] | None]:
        """Render for one recipient (checked by notify_many()); the (unsaved) row and
        what the backend keeps."""
        spec = self.spec
        subject, body, extra = spec.subject, spec.body, None
        if self.renderer is not None:
            assert self.recipient_of is not None
            assert spec.template is not None
            context = with_values(spec.context, recipient=self.recipient_of(recipient))
            subject, body = self.renderer.render_fields(context)
            if self.backend is not None:
                extra = extra_at_notify(self.backend, spec.template, context)
        check_message_text(spec.channel, subject, body)
        row = self.row.copy()
        if self.idempotency_key is None:
            row[ID_INDEX] = uuid.uuid4()
        else:
            row[ID_INDEX] = idempotent_id(recipient.pk, spec.channel, self.idempotency_key)
        row[RECIPIENT_INDEX] = getattr(recipient, RECIPIENT_TARGET)
        row[SUBJECT_INDEX] = subject
        row[BODY_INDEX] = body
        notification = Notification(*row)
        # What assigning the objects to the foreign keys would have cached: reading
        # notification.recipient (delivery, signal receivers) costs no query.
        RECIPIENT_FIELD.set_cached_value(notification, recipient)
        TEMPLATE_FIELD.set_cached_value(notification, spec.template)
        return notification, extra


#: Notification's fields in the order Model.__init__ takes them positionally.
ROW_FIELDS = tuple(Notification._meta.concrete_fields)
_ROW_INDEX = {field.attname: index for index, field in enumerate(ROW_FIELDS)}
ID_INDEX = _ROW_INDEX[Notification._meta.pk.attname]
RECIPIENT_INDEX = _ROW_INDEX["recipient_id"]
SUBJECT_INDEX = _ROW_INDEX["subject"]
BODY_INDEX = _ROW_INDEX["body"]
RECIPIENT_FIELD = Notification._meta.get_field("recipient")
TEMPLATE_FIELD = Notification._meta.get_field("template")
#: The user attribute the recipient foreign key stores (the primary key, unless
#: AUTH_USER_MODEL's key is another field).
RECIPIENT_TARGET = RECIPIENT_FIELD.target_field.attname


def check_message_text(channel: str, subject: str, body: str) -> None:
    """What a message's subject and body must be to be stored and sent."""
    # Also what a template made of its text and context: all of it is stored.
    check_storable("The message subject", subject, InvalidMessageError)
    check_storable("The message body", body, InvalidMessageError)
    if channel == Channel.EMAIL and not subject.strip():
        raise InvalidMessageError("An email needs a subject.")
    if len(subject) > SUBJECT_MAX_LENGTH:
        raise InvalidMessageError(f"The subject is longer than {SUBJECT_MAX_LENGTH} characters.")
    if not body.strip():
        raise InvalidMessageError("The message body is empty.")


def channel_backend(channel: str) -> BaseChannelBackend | None:
    """The channel's backend, or None where it is not configured: a configuration error
    is for `manage.py check` and the delivery receipt to report, not for the lead code
    calling notify()."""
    try:
        return get_backend(channel)
    except ImproperlyConfigured:
        return None


def idempotent_id(recipient_pk: Any, channel: str, key: str) -> uuid.UUID:
    """The one id a (recipient, channel, key) can ever have.

    Deriving the primary key from the key lets the database's primary-key uniqueness
    settle races between concurrent calls, with no extra column and no lock.
    """
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{recipient_pk}\x1f{channel}\x1f{key}")


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
        if to_deliver:
            enqueue_delivery([n.pk for n in to_deliver], extras, channel=channel)

    transaction.on_commit(on_commit, robust=True)
