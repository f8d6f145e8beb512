"""Customers' messages: store each once, link it, act on STOP and START, announce, answer.

:class:`InboundWebhookView` names no provider, like :class:`~.base.WebhookView`, whose
loop it keeps (validate, parse, record, signal, answer): a provider module subclasses it
and fills in :meth:`~.base.WebhookView.parse`, which reads the request into one
:class:`InboundEvent`, and :meth:`InboundWebhookView.reply`, which wraps the answer in the
provider's format (TwiML for Twilio). For each event it

1. reads, before any transaction opens, who wrote (the ``SENDER_RESOLVER``) and which
   notification the message answers (:func:`replied_notification`);
2. in one transaction, stores the :class:`~chargesol_notifications.models.InboundMessage`
   with an insert that a unique constraint may refuse (a retried delivery of the same
   gateway message, also one racing the first: then nothing else happens), and applies
   an opt-out keyword (:func:`keyword_of`) through :mod:`~chargesol_notifications.opt_outs`;
3. sends ``reply_received`` once that transaction commits;
4. answers with the text of the ``INBOUND_REPLY_HOOK``, or with nothing.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import got_request_exception
from django.db import connections, router, transaction
from django.db.models.constants import OnConflict
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.module_loading import import_string

from ..choices import NotificationStatus, OptOutReason
from ..conf import SETTING_NAME, get_setting
from ..models import InboundMessage, Notification
from ..opt_outs import lift_opt_out, record_opt_out
from ..recipients import resolve_sender
from ..signals import reply_received
from .base import WebhookView

logger = logging.getLogger("chargesol_notifications.webhooks")

# -- keywords ---------------------------------------------------------------------------------

#: Twilio's standard opt-out words: the whole message, trimmed, in any case.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
#: The words that lift an opt-out. Twilio's own opt-in words also include YES, which is
#: deliberately left out: YES is how customers confirm a survey slot, and a confirmation
#: must never put back on the list someone who asked not to be texted. (With Twilio's
#: Advanced Opt-Out on, ``OptOutType=START`` is the operator's own word list and is obeyed.)
START_WORDS = frozenset({"START", "UNSTOP"})

STOP, START = "STOP", "START"


def keyword_of(body: str, opt_out_type: str) -> str | None:
    """``"STOP"``, ``"START"`` or None: what a message asks of the opt-out list.

    The gateway's own reading (``opt_out_type``) counts, and so does the body: a STOP by
    either wins, since a wrongly kept opt-out costs a message and a wrongly lifted one
    costs a customer's trust. HELP asks nothing (the gateway answers it).
    """
    word = body.strip().upper()
    if opt_out_type == STOP or word in STOP_WORDS:
        return STOP
    if opt_out_type == START or word in START_WORDS:
        return START
    return None


# -- what a message is ------------------------------------------------------------------------


@dataclass(frozen=True)
class InboundEvent:
    """A customer's message, in the app's words.

    ``channel`` is an ``InboundChannel`` value; addresses are written as
    ``Notification.address`` writes them (E.164, ``whatsapp:+…``). ``opt_out_type`` is the
    gateway's own reading of an opt-out keyword (``STOP``, ``START``, ``HELP``), or ``""``.
    """

    gateway_message_id: str
    channel: str
    from_address: str
    to_address: str
    body: str = ""
    media_count: int = 0
    opt_out_type: str = ""


@dataclass(frozen=True)
class InboundRecorded:
    """What recording an :class:`InboundEvent` came to.

    ``message`` is the stored row, or None when the gateway delivered a message already
    stored (``created`` is then False and nothing was written).
    """

    event: InboundEvent
    message: InboundMessage | None
    created: bool


# -- settings -----------------------------------------------------------------------------------


def reply_window() -> timedelta:
    """``REPLY_WINDOW`` as a timedelta; ``ImproperlyConfigured`` unless it is positive."""
    value = get_setting("REPLY_WINDOW")
    if isinstance(value, timedelta):
        window = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        window = timedelta(seconds=value)
    else:
        window = timedelta(0)
    if window <= timedelta(0):
        raise ImproperlyConfigured(
            f"{SETTING_NAME}['REPLY_WINDOW'] must be a positive timedelta or number of "
            f"seconds, not {value!r}."
        )
    return window


def reply_hook() -> Callable[[InboundMessage], str | None] | None:
    """The ``INBOUND_REPLY_HOOK``, loaded; None when there is none."""
    return loaded(get_setting("INBOUND_REPLY_HOOK"))


def loaded(value: str | Callable[..., Any] | None) -> Callable[..., Any] | None:
    """A callable setting: as it is, or imported from its dotted path."""
    if value is None or callable(value):
        return value
    target: Callable[..., Any] = import_string(value)
    return target


# -- reading before the transaction -------------------------------------------------------------


def sender_of(event: InboundEvent) -> Any | None:
    """The user the ``SENDER_RESOLVER`` names for the message's sender, or None.

    A resolver that fails, or answers with something that is not a user, is logged and
    read as "nobody": the message (a STOP, perhaps) is stored all the same.
    """
    try:
        user = resolve_sender(event.from_address, event.channel)
    except Exception:
        logger.exception("SENDER_RESOLVER failed for %s", event.gateway_message_id)
        return None
    if user is not None and not isinstance(user, get_user_model()):
        logger.error(
            "SENDER_RESOLVER answered %s with a %s, not a user; stored without one",
            event.gateway_message_id,
            type(user).__name__,
        )
        return None
    return user


def replied_notification(channel: str, address: str, now: datetime) -> Notification | None:
    """The latest notification sent to ``address`` on ``channel`` within ``REPLY_WINDOW``
    of ``now``: what a reply from that address answers. One query, on the address index.

    Only notifications the gateway accepted count (``sent_at`` set; now ``sent``,
    ``delivered`` or ``failed``): a customer can only answer what reached their phone,
    and a message reported failed may still have.
    """
    return (
        Notification.objects.filter(
            channel=channel,
            address=address,
            status__in=[
                NotificationStatus.SENT,
                NotificationStatus.DELIVERED,
                NotificationStatus.FAILED,
            ],
            sent_at__gte=now - reply_window(),
        )
        .order_by("-sent_at", "-created_at")
        .first()
    )


# -- writing --------------------------------------------------------------------------------------


def record_inbound(
    event: InboundEvent, user: Any | None, notification: Notification | None
) -> InboundRecorded:
    """Store ``event`` once and apply its keyword; call inside a transaction.

    A message whose gateway id is stored already writes nothing more: neither the row nor
    its opt-out, which the first delivery applied in the same transaction as the row.
    """
    message = InboundMessage(
        channel=event.channel,
        from_address=event.from_address,
        to_address=event.to_address,
        body=event.body,
        gateway_message_id=event.gateway_message_id,
        media_count=event.media_count,
        opt_out_type=event.opt_out_type,
        user=user,
        in_reply_to=notification,
    )
    if not insert_unless_stored(message):
        logger.info("Inbound message %s already stored", event.gateway_message_id)
        return InboundRecorded(event, None, created=False)
    keyword = keyword_of(event.body, event.opt_out_type)
    if keyword == STOP:
        record_opt_out(
            event.channel,
            event.from_address,
            OptOutReason.STOP_KEYWORD,
            inbound_message=message,
        )
    elif keyword == START:
        lift_opt_out(event.channel, event.from_address)
    return InboundRecorded(event, message, created=True)


def insert_unless_stored(message: InboundMessage) -> bool:
    """INSERT ``message`` unless its gateway id is stored already; whether it was written.

    One statement, which the unique constraint on ``gateway_message_id`` decides (``ON
    CONFLICT DO NOTHING``, ``INSERT IGNORE``, ``INSERT OR IGNORE``, as
    ``bulk_create(ignore_conflicts=True)`` writes them, which cannot tell whether the row
    went in). A concurrent delivery of the same message waits for the first one's
    transaction and then writes nothing; no savepoint is needed around a failed INSERT.
    """
    using = router.db_for_write(InboundMessage, instance=message)
    connection = connections[using]
    fields = InboundMessage._meta.local_concrete_fields
    params = [field.get_db_prep_save(field.pre_save(message, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(insert_statement(using), params)
        written = cursor.rowcount == 1
    if written:
        message._state.adding = False
        message._state.db = using
    return written


@functools.cache
def insert_statement(alias: str) -> str:
    connection = connections[alias]
    quote = connection.ops.quote_name
    fields = InboundMessage._meta.local_concrete_fields
    return " ".join(
        part
        for part in (
            connection.ops.insert_statement(on_conflict=OnConflict.IGNORE),
            quote(InboundMessage._meta.db_table),
            f"({', '.join(quote(str(field.column)) for field in fields)})",
            f"VALUES ({', '.join(['%s'] * len(fields))})",
            connection.ops.on_conflict_suffix_sql(fields, OnConflict.IGNORE, None, None),
        )
        if part
    )


def announce(recorded: InboundRecorded) -> None:
    """Send ``reply_received`` for a newly stored message once its transaction commits;
    receivers' exceptions are logged, not raised (the message is stored by then)."""
    message = recorded.message
    if message is None:
        return

    def send() -> None:
        answers = reply_received.send_robust(
            sender=InboundMessage,
            inbound_message=message,
            notification=message.in_reply_to,
            user=message.user,
        )
        for receiver, answer in answers:
            if isinstance(answer, Exception):
                logger.error("reply_received receiver %r failed", receiver, exc_info=answer)

    transaction.on_commit(send, using=message._state.db)


# -- the view -----------------------------------------------------------------------------------


class InboundWebhookView(WebhookView):
    """A webhook a gateway calls with a customer's message. See the module docstring."""

    record_at_lookup = False

    def process(self, event: InboundEvent) -> InboundRecorded:  # type: ignore[override]
        user = sender_of(event)
        notification = replied_notification(event.channel, event.from_address, timezone.now())
        # No savepoint when nested (ATOMIC_REQUESTS, a test case), as the base view has it.
        with transaction.atomic(savepoint=False):
            recorded = record_inbound(event, user, notification)
            announce(recorded)
        return recorded

    def answer(
        self,
        request: HttpRequest,
        recorded: list[InboundRecorded],  # type: ignore[override]
    ) -> HttpResponse:
        hook = reply_hook()
        text = None
        for item in recorded if hook is not None else []:
            message = (
                item.message
                or InboundMessage.objects.filter(
                    gateway_message_id=item.event.gateway_message_id
                ).first()
            )
            if message is not None:
                text = self.reply_text(request, hook, message)
        return self.reply(text)

    def reply_text(
        self,
        request: HttpRequest,
        hook: Callable[[InboundMessage], str | None],
        message: InboundMessage,
    ) -> str | None:
        """What the hook says to ``message``; None when it fails (logged, and announced
        through ``got_request_exception``: the message itself is stored by now)."""
        try:
            text = hook(message)
        except Exception:
            logger.exception("INBOUND_REPLY_HOOK failed for %s", message.gateway_message_id)
            got_request_exception.send(sender=type(self), request=request)
            return None
        if text is not None and not isinstance(text, str):
            logger.error(
                "INBOUND_REPLY_HOOK answered %s with a %s, not text; nothing is sent back",
                message.gateway_message_id,
                type(text).__name__,
            )
            return None
        return text or None

    def reply(self, text: str | None) -> HttpResponse:
        """The answer the gateway expects, saying ``text`` to the customer (None: nothing)."""
        raise NotImplementedError(f"{type(self).__name__} must implement reply().")
