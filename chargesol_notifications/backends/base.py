"""The base of every channel backend: the delivery loop and its contract."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from django.core import checks
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from ..choices import Channel
from ..exceptions import (
    ConfigurationError,
    DeliveryError,
    InvalidPhoneNumberError,
    MessageTooLongError,
    NoAddressError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from ..recipients import PHONE_CHANNELS, Address, normalise_phone, resolve_address
from ..segments import SegmentCount, count_segments

if TYPE_CHECKING:
    from ..models import Notification, NotificationTemplate

logger = logging.getLogger("chargesol_notifications.delivery")


@dataclass(frozen=True)
class OutgoingMessage:
    """One rendered message on its way to a gateway, with its resolved address."""

    notification_id: uuid.UUID
    channel: str
    #: E.164 phone number, email address, or a tuple of push tokens.
    to: str | tuple[str, ...]
    body: str
    subject: str = ""
    template_name: str | None = None
    #: The body_template the body was rendered from, for backends that send templates.
    template_source: str = ""
    #: Backend-specific extras (e.g. WhatsApp Content variables).
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def segments(self) -> SegmentCount:
        """What the body costs as SMS: encoding and number of parts."""
        return count_segments(self.body)


@dataclass(frozen=True)
class OutgoingCall:
    """A click-to-call: ring ``to`` and, once a person answers, connect ``connect_to``."""

    call_log_id: uuid.UUID
    #: The customer's number, E.164.
    to: str
    #: The staff caller's own phone, E.164.
    connect_to: str


@dataclass(frozen=True)
class SendAttempt:
    """What one call of :meth:`BaseChannelBackend.send` came to."""

    message: OutgoingMessage | None
    gateway_message_id: str | None = None
    error: DeliveryError | None = None

    @property
    def succeeded(self) -> bool:
        return self.error is None


class BaseChannelBackend:
    """Sends rendered notifications over one channel. Subclass it to add a gateway.

    **What a backend receives.** :meth:`send_message` gets an :class:`OutgoingMessage`:
    the notification's rendered ``subject`` and ``body`` and an address already resolved
    and checked for the channel: an E.164 phone number (``+447700900123``) for ``sms``,
    ``whatsapp`` and ``call``; a validated email address for ``email``; a tuple of push
    tokens for ``push``. Backends do not read the database.

    **What it returns.** The gateway's id for the accepted message (Twilio's ``SM…`` or
    ``CA…`` sid, an email's Message-ID, ...), or ``None`` when the gateway has none. The id
    is stored on the ``sent`` DeliveryReceipt, where status webhooks find it.

    **What it raises.** :class:`~chargesol_notifications.exceptions.PermanentDeliveryError`
    when sending again cannot help (invalid number, opted-out recipient, rejected content);
    :class:`~chargesol_notifications.exceptions.TransientDeliveryError` for timeouts, rate
    limits and gateway faults, which are retried with backoff. Give both the gateway's
    error ``code`` and message: they end up in the receipt that staff read. Any other
    exception is treated as transient (so a bug cannot make a message vanish) and logged.

    **What the base does.** :meth:`send` owns the loop: it resolves and checks the address,
    enforces :attr:`max_body_length`, calls :meth:`send_message` and turns every outcome
    into a :class:`SendAttempt`. Recording receipts, moving statuses and sending signals
    is done by :mod:`chargesol_notifications.delivery` around it, the same for every
    backend.

    **Configuration.** ``OPTIONS`` of the channel's settings arrive as keyword arguments
    to :meth:`configure`; names not listed in :attr:`option_names` are rejected with the
    setting to fix.
    """

    #: Channels this backend can serve; empty means any channel.
    channels: ClassVar[frozenset[str]] = frozenset()
    #: Longest body the gateway accepts, in characters; None for no limit.
    max_body_length: ClassVar[int | None] = None
    #: OPTIONS keys this backend accepts.
    option_names: ClassVar[frozenset[str]] = frozenset()
    #: Whether the gateway reports delivery by webhook (the status then moves past sent);
    #: the system checks then require WEBHOOK_BASE_URL and the app's URLconf.
    reports_delivery: ClassVar[bool] = False
    #: Whether this backend only suits development (system check W010 when DEBUG is off).
    development_only: ClassVar[bool] = False

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

    def extra_for(
        self, template: NotificationTemplate, context: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Data to keep with a templated notification until it is sent, or None.

        Called by notify() with the template and the full rendering context (recipient
        included), for what the rendered body alone cannot carry (WhatsApp Content
        variables). It travels with the delivery task, so it must be JSON-serialisable.
        """
        return None

    def start_call(self, call: OutgoingCall) -> str | None:
        """Place a click-to-call (``place_call()``); return the gateway's call id.

        Only backends of the ``call`` channel implement it.
        """
        raise ConfigurationError(
            f"{type(self).__name__} cannot place calls; configure a call backend for "
            "CHARGESOL_NOTIFICATIONS['CHANNELS']['call']."
        )

    def check(self) -> Iterable[checks.CheckMessage]:
        """System-check messages about this backend's configuration."""
        return ()

    def close(self) -> None:
        """Release connections; called when settings change."""

    # -- the loop ---------------------------------------------------------------------

    def send(
        self, notification: Notification, *, extra: Mapping[str, Any] | None = None
    ) -> SendAttempt:
        """Resolve, check and send one notification; never raises for delivery problems."""
        message: OutgoingMessage | None = None
        try:
            message = self.build_message(notification, extra=extra or {})
            if self.max_body_length is not None and len(message.body) > self.max_body_length:
                raise MessageTooLongError(
                    f"The body is {len(message.body)} characters; {type(self).__name__} "
                    f"sends at most {self.max_body_length}.",
                    code="body_too_long",
                )
            gateway_message_id = self.send_message(message)
        except DeliveryError as error:
            return SendAttempt(message=message, error=error)
        except Exception as exc:
            logger.exception("%s failed on notification %s", type(self).__name__, notification.pk)
            error = TransientDeliveryError(
                f"{type(exc).__name__}: {exc}", code="backend_error", response=exc
            )
            return SendAttempt(message=message, error=error)
        return SendAttempt(message=message, gateway_message_id=gateway_message_id)

    def build_message(
        self, notification: Notification, *, extra: Mapping[str, Any]
    ) -> OutgoingMessage:
        template = notification.template if notification.template_id else None
        address = resolve_address(notification.recipient, notification.channel)
        if address is None:
            raise NoAddressError(
                f"The recipient has no address for the {notification.channel} channel.",
                code="no_address",
            )
        return OutgoingMessage(
            notification_id=notification.pk,
            channel=notification.channel,
            to=self.check_address(notification.channel, address),
            subject=notification.subject,
            body=notification.body,
            template_name=template.name if template else None,
            template_source=template.body_template if template else "",
            extra=extra,
        )

    @staticmethod
    def check_address(channel: str, address: Address) -> str | tuple[str, ...]:
        """The address in the form the channel's backends receive, or a permanent error."""
        if channel == Channel.PUSH:
            return tuple(address) if isinstance(address, list) else (address,)
        if isinstance(address, list):
            raise PermanentDeliveryError(
                f"The resolver returned several addresses for {channel}; one is needed.",
                code="invalid_address",
            )
        if channel in PHONE_CHANNELS:
            try:
                return normalise_phone(address)
            except InvalidPhoneNumberError as exc:
                raise PermanentDeliveryError(
                    f"{exc}; phone numbers must be valid E.164 (+ and country code).",
                    code="invalid_phone",
                ) from exc
        if channel == Channel.EMAIL:
            try:
                validate_email(address)
            except ValidationError as exc:
                raise PermanentDeliveryError(
                    f"{address!r} is not a valid email address.", code="invalid_email"
                ) from exc
        return address
