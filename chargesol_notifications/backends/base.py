"""The base of every channel backend: its contract, its capabilities and its error policy."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from django.core import checks

from ..exceptions import (
    ConfigurationError,
    DeliveryError,
    PermanentDeliveryError,
    ThrottledDeliveryError,
    TransientDeliveryError,
)
from ..segments import SegmentCount, count_segments

logger = logging.getLogger("chargesol_notifications.delivery")


#: Error codes of a failed attempt whose request may have reached the gateway although no
#: answer came back (a timeout, a dropped connection, an unreadable answer, a lookup that
#: failed): the message may exist at the gateway, so a retry asks before it sends.
OUTCOME_UNKNOWN_CODES: frozenset[str] = frozenset(
    {"timeout", "connection_error", "twilio_error", "backend_error", "lookup_failed"}
)


@dataclass(frozen=True, slots=True)
class UncertainAttempt:
    """An earlier attempt that may have reached the gateway: what a lookup needs to know.

    Delivery builds it from the notification's receipts; the backend sees no database.
    """

    #: The error code of the latest such attempt (one of :data:`OUTCOME_UNKNOWN_CODES`).
    error_code: str
    #: The earliest moment a message of these attempts can have reached the gateway: the
    #: end of the attempt before the first uncertain one, or the notification's creation.
    since: datetime
    #: Gateway ids already recorded for other notifications to the same recipient with
    #: the same body and channel: never this message, however alike they look.
    other_gateway_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One rendered message on its way to a gateway: everything a backend needs.

    Delivery builds it from the notification (see :mod:`chargesol_notifications.outgoing`):
    the address is resolved and checked for the channel and the body is within the
    backend's :attr:`~BaseChannelBackend.max_body_length` before a backend sees it.
    """

    notification_id: uuid.UUID
    channel: str
    #: E.164 phone number, email address, or a tuple of push tokens.
    to: str | tuple[str, ...]
    body: str
    subject: str = ""
    template_name: str | None = None
    #: The body_template the body was rendered from ("" for a literal body).
    template_source: str = ""
    #: What the backend's ``extra_for()`` kept when the notification was queued.
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: What the notification is about (its ``context_type`` and ``context_id``), for a
    #: gateway that hands it on: a push carries it to the mobile app, which opens the
    #: screen of that survey or lead.
    context_type: str = ""
    context_id: uuid.UUID | None = None
    #: The public URL the gateway should report this message's status to, or None (no
    #: WEBHOOK_BASE_URL, or the backend takes no status callbacks). Derived from
    #: ``notification_id``, so it takes no part in comparisons.
    status_callback: str | None = field(default=None, compare=False)
    #: For backends that :attr:`~BaseChannelBackend.supports_content_templates`: the
    #: approved template (``WHATSAPP_CONTENT_TEMPLATES``) to send instead of the body,
    #: and its variables, numbered from "1". None otherwise.
    content_sid: str | None = None
    content_variables: Mapping[str, str] | None = None
    #: Set when an earlier attempt timed out or lost its connection (or its lookup
    #: failed): the gateway may have the message already. A backend that
    #: :attr:`~BaseChannelBackend.finds_lost_sends` looks for it before sending again.
    uncertain_attempt: UncertainAttempt | None = None

    @property
    def previous_attempt_error(self) -> str | None:
        """The error code of the latest uncertain attempt, or None."""
        return self.uncertain_attempt.error_code if self.uncertain_attempt else None

    @property
    def segments(self) -> SegmentCount:
        """What the body costs as SMS: encoding and number of parts."""
        return count_segments(self.body)


@dataclass(frozen=True, slots=True)
class OutgoingCall:
    """A click-to-call: ring ``to`` and, once a person answers, connect ``connect_to``."""

    call_log_id: uuid.UUID
    #: The customer's number, E.164.
    to: str
    #: The staff caller's own phone, E.164.
    connect_to: str
    #: Public URL for the call's status callbacks, or None. Derived from ``call_log_id``.
    status_callback: str | None = field(default=None, compare=False)
    #: Public URL the gateway asks, once the call is answered, whether to connect
    #: ``connect_to`` (a person) or hang up (a machine); None to connect whoever answers.
    answer_url: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class AddressResult:
    """What the gateway said about one address of a message sent to several.

    A push notification goes to each of its recipient's device tokens in a request of its
    own, and each token is accepted (``gateway_message_id``) or refused (``error``) on its
    own: one device may have uninstalled the app while the others still have it.
    """

    address: str
    gateway_message_id: str | None = None
    error: DeliveryError | None = None
    #: Whether the gateway says this address will never work again (the push token of an
    #: app that was uninstalled, or of another project): delivery then sends the
    #: ``push_token_invalid`` signal, so that the project stops resolving it.
    invalid: bool = False


@dataclass(frozen=True, slots=True)
class SendAttempt:
    """What one send (or one call placed) came to: the gateway's id, or an error."""

    message: OutgoingMessage | OutgoingCall | None
    gateway_message_id: str | None = None
    error: DeliveryError | None = None
    #: True when nothing was sent: the gateway already had the message from an earlier
    #: attempt whose answer was lost (see :meth:`BaseChannelBackend.find_sent`).
    found_at_gateway: bool = False
    #: For a message sent to several addresses (push tokens): what each came to, in the
    #: order of ``message.to``. Empty for a message to one address. Delivery writes a
    #: receipt for each (see :func:`~chargesol_notifications.wave_decisions.decide`); build such
    #: an attempt with :meth:`to_each`, which fills in ``gateway_message_id`` and
    #: ``error`` for the message as a whole.
    per_address: tuple[AddressResult, ...] = ()

    @property
    def succeeded(self) -> bool:
        return self.error is None

    @classmethod
    def to_each(cls, message: OutgoingMessage, results: Sequence[AddressResult]) -> SendAttempt:
        """The attempt of a message sent to each of several addresses.

        It succeeded when any address took the message: a notification reaches its
        recipient when one of their devices shows it. Its ``gateway_message_id`` is then
        the first accepting address's. When none did, its ``error`` is what decides
        between retry and failure (:func:`combined_error`).
        """
        results = tuple(results)
        accepted = next((r for r in results if r.error is None), None)
        if accepted is not None:
            return cls(
                message=message,
                gateway_message_id=accepted.gateway_message_id,
                per_address=results,
            )
        return cls(message=message, error=combined_error(results), per_address=results)


def combined_error(results: Sequence[AddressResult]) -> DeliveryError:
    """The error of a message that no address took, for the retry policy.

    Transient when any address failed transiently: sending again may reach that device.
    Throttled (sent again after the channel's pause, without using an attempt) only when
    every address was refused for the gateway's rate limit, which created nothing. The
    code is the first transient failure's, else the first failure's; the text counts the
    codes (each address's own error is in its own receipt).
    """
    errors = [r.error for r in results if r.error is not None]
    if not errors:
        return PermanentDeliveryError("The message had no address to go to.", code="no_address")
    if len(errors) == 1:
        return errors[0]
    counts = Counter(str(error.code) for error in errors)
    text = f"None of the {len(errors)} addresses took the message: " + ", ".join(
        f"{code} ({count})" for code, count in counts.items()
    )
    if all(isinstance(error, ThrottledDeliveryError) for error in errors):
        waits = [e.retry_after for e in errors if isinstance(e, ThrottledDeliveryError)]
        known = [wait for wait in waits if wait is not None]
        return ThrottledDeliveryError(
            text, code=errors[0].code, retry_after=max(known) if known else None
        )
    transient = [error for error in errors if error.transient]
    if transient:
        return TransientDeliveryError(text, code=transient[0].code)
    return PermanentDeliveryError(text, code=errors[0].code)


def as_delivery_error(exc: Exception, *, during: str) -> DeliveryError:
    """The one policy for what goes wrong on the way to a gateway.

    A :class:`~chargesol_notifications.exceptions.DeliveryError` is what it says. Anything
    else (a bug, a library failing in a way nobody classified, a recipient resolver that
    crashed) is logged with its traceback and becomes a transient error with the code
    ``backend_error``: retried with backoff like a timeout, so a bug cannot make a message
    vanish, and failed once ``MAX_ATTEMPTS`` run out.
    """
    if isinstance(exc, DeliveryError):
        return exc
    logger.error("Unexpected error while %s", during, exc_info=exc)
    return TransientDeliveryError(
        f"{type(exc).__name__}: {exc}", code="backend_error", response=exc
    )


class BaseChannelBackend:
    """Sends rendered notifications over one channel. Subclass it to add a gateway.

    **What a backend receives.** :meth:`send_message` gets an :class:`OutgoingMessage`,
    never a model instance: the rendered ``subject`` and ``body``, the address already
    resolved and checked for the channel (an E.164 number for ``sms``, ``whatsapp`` and
    ``call``; a validated email address for ``email``; a tuple of push tokens for
    ``push``), the ``status_callback`` URL when the backend takes callbacks, and
    ``extra``. Backends talk to their gateway and nothing else: no database, no resolver.

    **What it returns.** The gateway's id for the accepted message (Twilio's ``SM…`` or
    ``CA…`` sid, an email's Message-ID, ...), or ``None`` when the gateway has none. The id
    is stored on the ``sent`` DeliveryReceipt, where status webhooks find it.

    **What it raises.** :class:`~chargesol_notifications.exceptions.PermanentDeliveryError`
    when sending again cannot help (invalid number, opted-out recipient, rejected content);
    :class:`~chargesol_notifications.exceptions.TransientDeliveryError` for timeouts, rate
    limits and gateway faults, which are retried with backoff. Give both the gateway's
    error ``code`` and message: they end up in the receipt that staff read. Anything else
    goes through :func:`as_delivery_error`, the one policy for unexpected errors.

    **What the base does.** :meth:`send` and :meth:`place` wrap the hooks
    :meth:`send_message` and :meth:`start_call` and turn every outcome into a
    :class:`SendAttempt`. Building the message, recording receipts, moving statuses,
    retrying and sending signals is done by :mod:`chargesol_notifications.delivery`
    around it, the same for every backend.

    **Configuration.** ``OPTIONS`` of the channel's settings arrive as keyword arguments
    to :meth:`configure`; names not listed in :attr:`option_names` are rejected with the
    setting to fix.
    """

    #: Channels this backend can serve; empty means any channel.
    channels: ClassVar[frozenset[str]] = frozenset()
    #: OPTIONS keys this backend accepts.
    option_names: ClassVar[frozenset[str]] = frozenset()
    #: Longest body the gateway accepts, in characters, or None for no limit. Delivery
    #: fails a longer body (``body_too_long``) without calling the backend.
    max_body_length: ClassVar[int | None] = None
    #: Whether the gateway reports delivery by webhook (the status then moves past sent);
    #: the system checks then require WEBHOOK_BASE_URL and the app's URLconf.
    reports_delivery: ClassVar[bool] = False
    #: URL name (for ``reverse()``) of the webhook that takes this gateway's status
    #: callbacks. Delivery then gives each message ``status_callback``: that webhook's
    #: public URL (``WEBHOOK_BASE_URL``), identifying the notification (``?n=<id>``).
    status_callback_url_name: ClassVar[str | None] = None
    #: Whether this backend only suits development (system check W010 when DEBUG is off).
    development_only: ClassVar[bool] = False
    #: Whether :meth:`start_call` can place a click-to-call; ``place_call()`` refuses a
    #: ``call`` backend without it (``ImproperlyConfigured``) and writes nothing.
    supports_calls: ClassVar[bool] = False
    #: For click-to-calls: URL name of the webhook the gateway asks what to do once the
    #: call is answered (``OutgoingCall.answer_url``, identifying the call log).
    call_answer_url_name: ClassVar[str | None] = None
    #: Whether the backend sends the approved templates of ``WHATSAPP_CONTENT_TEMPLATES``:
    #: a message of a mapped template then carries ``content_sid`` and
    #: ``content_variables`` (computed at ``notify()``, or read back from the body on a
    #: retry) to send instead of the body. Other backends always send the body.
    supports_content_templates: ClassVar[bool] = False
    #: Messages one worker process sends at once on this backend's channel when the
    #: channel sets no ``CONCURRENCY``: each comes from its own thread, with a backend
    #: instance of that thread's own. 1 sends from the delivering thread, one at a time;
    #: a backend whose gateway is far away (an HTTP API) gains from more.
    default_concurrency: ClassVar[int] = 1
    #: Whether a wave's messages go out from a pool of threads, so that their waits on
    #: the gateway overlap. False for a backend whose send waits for nothing (it does its
    #: work in this process, as the locmem, console and dummy backends do): a wave is
    #: then sent one message after another by the delivering thread, which costs less
    #: than handing each to a thread.
    sends_in_parallel: ClassVar[bool] = True
    #: Whether :meth:`find_sent` can ask the gateway for a message an earlier attempt may
    #: have left there. :meth:`send` then looks before it sends a message that carries an
    #: ``uncertain_attempt``, so a timeout after the gateway accepted is not a duplicate.
    finds_lost_sends: ClassVar[bool] = False

    def __init__(self, *, channel: str, options: Mapping[str, Any] | None = None) -> None:
        from . import channel_setting_name

        self.channel = channel
        options = dict(options or {})
        unknown = set(options) - self.option_names
        if unknown:
            accepted = ", ".join(sorted(self.option_names)) or "none"
            raise ConfigurationError(
                f"{channel_setting_name(channel, 'OPTIONS')}: unknown option(s) "
                f"{', '.join(sorted(unknown))} for {type(self).__name__} (accepted: {accepted})."
            )
        if self.channels and channel not in self.channels:
            raise ConfigurationError(
                f"{channel_setting_name(channel, 'BACKEND')}: {type(self).__name__} cannot "
                f"serve the {channel!r} channel (it serves {', '.join(sorted(self.channels))})."
            )
        self.configure(**options)

    # -- hooks for subclasses ---------------------------------------------------------

    def configure(self, **options: Any) -> None:
        """Take this backend's OPTIONS. The default accepts none."""

    def send_message(self, message: OutgoingMessage) -> str | None:
        """Hand ``message`` to the gateway and return its id. Subclasses must implement."""
        raise NotImplementedError(
            f"{type(self).__module__}.{type(self).__name__} must implement send_message()."
        )

    def find_sent(self, message: OutgoingMessage) -> str | None:
        """The gateway id of ``message`` if an earlier attempt left it at the gateway.

        Called before :meth:`send_message` when ``message.uncertain_attempt`` is set, for
        backends that :attr:`finds_lost_sends`. Return None only when the gateway says it
        has no such message; raise when it cannot tell (the retry is then deferred, never
        sent blind).
        """
        raise NotImplementedError(
            f"{type(self).__module__}.{type(self).__name__} sets finds_lost_sends but does "
            "not implement find_sent()."
        )

    def start_call(self, call: OutgoingCall) -> str | None:
        """Place a click-to-call; return the gateway's call id.

        Backends that implement it set :attr:`supports_calls`.
        """
        raise NotImplementedError(
            f"{type(self).__module__}.{type(self).__name__} sets supports_calls but does "
            "not implement start_call()."
        )

    def extra_for(
        self, *, template_name: str, template_source: str, context: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Data to keep with a templated notification until it is sent, or None.

        Called by ``notify()`` with the template's name and ``body_template`` and the full
        rendering context (recipient included, all plain data), for what the rendered
        body alone cannot carry. What it returns reaches :meth:`send_message` as
        ``message.extra``; it travels with the delivery task, so it must be
        JSON-serialisable. A notification delivered by ``deliver_queued`` has lost it.
        """
        return None

    def check(self) -> Iterable[checks.CheckMessage]:
        """System-check messages about this backend's configuration."""
        return ()

    def close(self) -> None:
        """Release connections; called when settings change."""

    # -- the loop ---------------------------------------------------------------------

    def send(self, message: OutgoingMessage) -> SendAttempt:
        """Send one message; never raises for delivery problems.

        After an uncertain attempt, a backend that :attr:`finds_lost_sends` first asks the
        gateway (:meth:`look_up`); only when the gateway has no such message is it sent.
        """
        settled = self.look_up(message)
        if settled is not None:
            return settled
        return self.send_unchecked(message)

    def look_up(self, message: OutgoingMessage) -> SendAttempt | None:
        """The answer to an uncertain attempt, if the gateway has one; else None (send).

        Only for a message that carries an ``uncertain_attempt``, on a backend that
        :attr:`finds_lost_sends`: a message found at the gateway is the result
        (``found_at_gateway``), and a lookup that fails is a transient ``lookup_failed``,
        retried later like a timeout. Delivery runs the lookups of a wave before any of
        its sends, so that a lookup never takes another message of the same wave, created
        meanwhile, for its own.
        """
        if message.uncertain_attempt is None or not self.finds_lost_sends:
            return None
        try:
            found = self.find_sent(message)
        except Exception as exc:
            during = f"looking up notification {message.notification_id} at the gateway"
            cause = as_delivery_error(exc, during=during)
            error = TransientDeliveryError(
                "Could not check whether the gateway already has this message from an "
                f"attempt whose answer was lost, so it was not sent again: {cause}",
                code="lookup_failed",
                response=exc,
            )
            return SendAttempt(message=message, error=error)
        if found is None:
            return None
        logger.info(
            "Notification %s: the gateway already has it as %s (an earlier answer was "
            "lost); not sending again",
            message.notification_id,
            found,
        )
        return SendAttempt(message=message, gateway_message_id=found, found_at_gateway=True)

    def send_unchecked(self, message: OutgoingMessage) -> SendAttempt:
        """Send ``message`` without a lookup first (:meth:`send` decides when to look)."""
        return self._attempt(
            message, self.send_message, f"sending notification {message.notification_id}"
        )

    def place(self, call: OutgoingCall) -> SendAttempt:
        """Place one click-to-call; never raises for delivery problems.

        Raises :class:`~chargesol_notifications.exceptions.ConfigurationError` when the
        backend does not :attr:`supports_calls`: that is a deployment to fix, not a call
        that failed.
        """
        if not self.supports_calls:
            raise ConfigurationError(
                f"{type(self).__name__}, the backend of the {self.channel} channel, cannot "
                "place calls; configure a call backend for "
                "CHARGESOL_NOTIFICATIONS['CHANNELS']['call']."
            )
        return self._attempt(call, self.start_call, f"placing call {call.call_log_id}")

    def _attempt(
        self,
        item: OutgoingMessage | OutgoingCall,
        hook: Callable[[Any], str | None],
        during: str,
    ) -> SendAttempt:
        try:
            gateway_id = hook(item)
        except Exception as exc:
            error = as_delivery_error(exc, during=f"{during} through {type(self).__name__}")
            return SendAttempt(message=item, error=error)
        return SendAttempt(message=item, gateway_message_id=gateway_id)
