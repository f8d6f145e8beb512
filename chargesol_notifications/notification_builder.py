"""The notifications of one ``notify_many()`` call, built recipient by recipient.

Whatever is the same for every recipient is worked out once per call (the compiled
template, its limits, the recipient allow-list, the channel's backend, the columns that
do not vary); per recipient there is the render, under a budget of its own and over
plain data only, the checks of the text, and the row (``bench/bench_queueing.py``
times the whole against rendering and inserting alone).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

from .arguments import check_storable
from .backends import get_backend
from .backends.base import BaseChannelBackend
from .choices import Channel, NotificationStatus
from .exceptions import InvalidMessageError
from .model_loading import init_only_stores, without_init
from .models import Notification
from .outgoing import extra_at_notify
from .plain_data import PlainMapping, with_values
from .recipient_data import recipient_reader
from .rendering import MessageRenderer
from .time_ordered_ids import new_id

if TYPE_CHECKING:
    from .sending import MessageSpec

#: Namespace of the ids derived from idempotency keys (any fixed UUID will do).
IDEMPOTENCY_NAMESPACE = uuid.UUID("0f6d7a52-4f0e-4b8a-9a43-3c1f5e2b7d11")

SUBJECT_MAX_LENGTH: int = Notification._meta.get_field("subject").max_length or 0


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
            "scheduled_for": spec.scheduled_for,
            "fallback_channels": spec.fallback_channels,
        }
        self.row = [
            given[field.attname] if field.attname in given else field.get_default()
            for field in ROW_FIELDS
        ]
        self.new_notification = (
            notification_from_row if fills_dict_as_init_does() else initialised_notification
        )
        #: The row of each notification built, in order: what insert_objects_as_rows()
        #: writes (local concrete fields: Notification has no parent model).
        self.rows: list[list[Any]] = []
        #: What the channel's backend keeps of each notification that has any, by id.
        self.extras: dict[uuid.UUID, dict[str, Any]] = {}

    def build(self, recipient: Any) -> Notification:
        """Render for one recipient (checked by notify_many()); the (unsaved) row. What
        the backend keeps of it goes to :attr:`extras`."""
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
            row[ID_INDEX] = new_id()
        else:
            row[ID_INDEX] = idempotent_id(recipient.pk, spec.channel, self.idempotency_key)
        row[RECIPIENT_INDEX] = getattr(recipient, RECIPIENT_TARGET)
        row[SUBJECT_INDEX] = subject
        row[BODY_INDEX] = body
        notification = self.new_notification(row)
        self.rows.append(row)
        # What assigning the objects to the foreign keys would have cached: reading
        # notification.recipient (delivery, signal receivers) costs no query.
        RECIPIENT_FIELD.set_cached_value(notification, recipient)
        TEMPLATE_FIELD.set_cached_value(notification, spec.template)
        if extra:
            self.extras[row[ID_INDEX]] = extra
        return notification


#: Notification's fields in the order Model.__init__ takes them positionally.
ROW_FIELDS = tuple(Notification._meta.concrete_fields)
# No parent model: the order __init__ takes is also the order of the INSERT's columns.
assert tuple(Notification._meta.local_concrete_fields) == ROW_FIELDS
ROW_ATTNAMES = tuple(field.attname for field in ROW_FIELDS)
_ROW_INDEX = {attname: index for index, attname in enumerate(ROW_ATTNAMES)}
ID_INDEX = _ROW_INDEX[Notification._meta.pk.attname]
RECIPIENT_INDEX = _ROW_INDEX["recipient_id"]
SUBJECT_INDEX = _ROW_INDEX["subject"]
BODY_INDEX = _ROW_INDEX["body"]
RECIPIENT_FIELD = Notification._meta.get_field("recipient")
TEMPLATE_FIELD = Notification._meta.get_field("template")
#: The user attribute the recipient foreign key stores (the primary key, unless
#: AUTH_USER_MODEL's key is another field).
RECIPIENT_TARGET = RECIPIENT_FIELD.target_field.attname


def initialised_notification(row: list[Any]) -> Notification:
    return Notification(*row)


def notification_from_row(row: list[Any]) -> Notification:
    """``Notification(*row)`` without ``Model.__init__``, which costs more than the
    row's render when it only stores the values (:func:`fills_dict_as_init_does`): the
    state and the attributes it would set, set directly, as Django's unpickling does."""
    return without_init(Notification, ROW_ATTNAMES, row)  # type: ignore[return-value]


def fills_dict_as_init_does() -> bool:
    """Whether ``Notification(*row)`` only stores the values (see
    :func:`~.model_loading.init_only_stores`), so that :func:`notification_from_row`
    builds the same object."""
    return init_only_stores(Notification)


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
