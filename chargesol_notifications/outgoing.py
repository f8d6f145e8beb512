"""What delivery hands a backend: an :class:`~.backends.base.OutgoingMessage`.

Everything that needs the database, the settings or the URLconf happens here, before a
backend is called, the same way for every backend:

* the recipient's address is resolved (``RECIPIENT_RESOLVER``) and checked for the
  channel: a phone number becomes E.164, an email address must be valid;
* the body must fit the backend's ``max_body_length``;
* a backend that takes status callbacks gets the public URL of its webhook;
* a backend that ``supports_content_templates`` gets the Content SID and variables of
  a template mapped in ``WHATSAPP_CONTENT_TEMPLATES``.

Problems are raised as :class:`~.exceptions.DeliveryError`\\ s with the codes staff see
in the receipt (``no_address``, ``invalid_phone``, ``invalid_email``,
``invalid_address``, ``body_too_long``, ``content_variables_missing``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.urls import NoReverseMatch, reverse

from .backends.base import BaseChannelBackend, OutgoingCall, OutgoingMessage, UncertainAttempt
from .choices import Channel
from .conf import SETTING_NAME, get_setting
from .exceptions import (
    ConfigurationError,
    InvalidPhoneNumberError,
    MessageTooLongError,
    NoAddressError,
    PermanentDeliveryError,
    TemplateRenderError,
)
from .models import Notification
from .placeholders import placeholder_values, placeholder_values_from_text
from .recipients import PHONE_CHANNELS, Address, normalise_phone, resolve_address

if TYPE_CHECKING:
    import uuid

    from .models import NotificationTemplate

#: ``Notification.address``'s length: a push address of many devices is cut there.
ADDRESS_MAX_LENGTH: int = Notification._meta.get_field("address").max_length or 255

#: The key of a delivery task's ``extra`` that carries a Content template's variables.
CONTENT_VARIABLES = "content_variables"


def build_message(
    notification: Notification,
    backend: BaseChannelBackend,
    extra: Mapping[str, Any],
    *,
    uncertain_attempt: UncertainAttempt | None = None,
) -> OutgoingMessage:
    """The message ``backend`` sends for ``notification``, or a DeliveryError.

    ``notification`` comes with its recipient and template loaded; nothing here queries.
    ``uncertain_attempt`` is what delivery read from the receipts when an earlier attempt
    may have reached the gateway.
    """
    template = notification.template if notification.template_id else None
    to = recipient_address(notification.recipient, notification.channel)
    check_body_length(notification.body, backend)
    content_sid, content_variables = content_template(backend, template, notification.body, extra)
    return OutgoingMessage(
        notification_id=notification.pk,
        channel=notification.channel,
        to=to,
        subject=notification.subject,
        body=notification.body,
        template_name=template.name if template else None,
        template_source=template.body_template if template else "",
        extra=extra,
        context_type=notification.context_type,
        context_id=notification.context_id,
        status_callback=public_url(backend.status_callback_url_name, n=notification.pk),
        content_sid=content_sid,
        content_variables=content_variables,
        uncertain_attempt=uncertain_attempt,
    )


def build_call(
    backend: BaseChannelBackend, call_log_id: uuid.UUID, *, to: str, connect_to: str
) -> OutgoingCall:
    """The click-to-call ``backend`` places for the call log ``call_log_id``."""
    call = str(call_log_id)
    return OutgoingCall(
        call_log_id=call_log_id,
        to=to,
        connect_to=connect_to,
        status_callback=public_url(backend.status_callback_url_name, call=call),
        answer_url=public_url(backend.call_answer_url_name, call=call),
    )


# -- the address -----------------------------------------------------------------------

#: How many characters of a push token the address staff read keeps: enough to tell a
#: customer's devices apart, and a token is a credential of the device, not for display.
PUSH_TOKEN_SHOWN = 12


def address_used(message: OutgoingMessage) -> str:
    """Where ``message`` went, as ``Notification.address`` records it for staff.

    E.164 for SMS and calls, ``whatsapp:+…`` for WhatsApp (as Twilio writes it), the
    email address, and for push the start of each device token (``push:abcdef012345…``).
    """
    if isinstance(message.to, tuple):
        shown = ", ".join(f"{token[:PUSH_TOKEN_SHOWN]}…" for token in message.to)
        return f"push:{shown}"[:ADDRESS_MAX_LENGTH]
    if message.channel == Channel.WHATSAPP:
        return f"whatsapp:{message.to}"
    return message.to[:ADDRESS_MAX_LENGTH]


def recipient_address(user: Any, channel: str) -> str | tuple[str, ...]:
    """``user``'s address on ``channel``, in the form the channel's backends receive."""
    address = resolve_address(user, channel)
    if address is None:
        raise NoAddressError(
            f"The recipient has no address for the {channel} channel.", code="no_address"
        )
    return check_address(channel, address)


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
            validate_email_address(address)
        except ValidationError as exc:
            raise PermanentDeliveryError(
                f"{address!r} is not a valid email address.", code="invalid_email"
            ) from exc
    return address


class EmailAddressValidator(EmailValidator):
    """Django's ``validate_email``, for thousands of addresses per second: its patterns
    compiled here (Django's are lazy objects, each use going through a proxy), and its
    verdict on each domain kept (a wave's addresses share a few domains, and the
    domain's check took about as long as the rest). The rules are Django's own; one
    address checked again and again took 4.2 µs with Django's, 0.8 µs with this."""

    #: Domains whose verdict is kept, at most; then the record starts again.
    DOMAINS_KEPT = 4096

    def __init__(self) -> None:
        super().__init__()
        self.user_regex = re.compile(
            EmailValidator.user_regex.pattern, EmailValidator.user_regex.flags
        )
        self.domain_regex = re.compile(
            EmailValidator.domain_regex.pattern, EmailValidator.domain_regex.flags
        )
        self.literal_regex = re.compile(
            EmailValidator.literal_regex.pattern, EmailValidator.literal_regex.flags
        )
        self.domains: dict[str, bool] = {}

    def validate_domain_part(self, domain_part: str) -> bool:
        valid = self.domains.get(domain_part)
        if valid is None:
            if len(self.domains) >= self.DOMAINS_KEPT:
                self.domains.clear()
            valid = self.domains[domain_part] = super().validate_domain_part(domain_part)
        return valid


validate_email_address = EmailAddressValidator()


def check_body_length(body: str, backend: BaseChannelBackend) -> None:
    limit = backend.max_body_length
    if limit is not None and len(body) > limit:
        raise MessageTooLongError(
            f"The body is {len(body)} characters; {type(backend).__name__} sends at most {limit}.",
            code="body_too_long",
        )


# -- callbacks ---------------------------------------------------------------------------


def public_url(url_name: str | None, **params: object) -> str | None:
    """The public URL of the webhook ``url_name``, identifying what it is about, or None.

    None when ``url_name`` is None or ``WEBHOOK_BASE_URL`` is not set. The query
    (``?n=<notification id>``, ``?call=<call log id>``) lets a callback find its row even
    when it arrives before the send's own receipt is committed.
    """
    base = get_setting("WEBHOOK_BASE_URL")
    if not url_name or not base:
        return None
    try:
        path = reverse(url_name)
    except NoReverseMatch as exc:
        raise ConfigurationError(
            f"{SETTING_NAME}['WEBHOOK_BASE_URL'] is set, but the URLconf has no {url_name!r}: "
            'add path("notifications/", include("chargesol_notifications.urls")).'
        ) from exc
    query = f"?{urlencode(params)}" if params else ""
    return f"{base.rstrip('/')}{path}{query}"


# -- WhatsApp Content templates ----------------------------------------------------------


def content_sid_for(template_name: str | None) -> str | None:
    """The Content SID ``WHATSAPP_CONTENT_TEMPLATES`` maps a template name to, if any."""
    if template_name is None:
        return None
    sid: str | None = get_setting("WHATSAPP_CONTENT_TEMPLATES").get(template_name)
    return sid


def numbered(values: list[str]) -> dict[str, str]:
    return {str(number): value for number, value in enumerate(values, start=1)}


def extra_at_notify(
    backend: BaseChannelBackend, template: NotificationTemplate, context: Mapping[str, Any]
) -> dict[str, Any] | None:
    """What a templated notification keeps for its delivery task (see ``notify()``).

    The backend's own ``extra_for()``, and the variables of a Content template for a
    backend that sends them. Raises :class:`~.exceptions.TemplateRenderError` for a
    Content template that is not text and placeholders only.
    """
    extra = dict(
        backend.extra_for(
            template_name=template.name, template_source=template.body_template, context=context
        )
        or {}
    )
    if backend.supports_content_templates and content_sid_for(template.name) is not None:
        label = f"Notification template {template.name!r} (a WhatsApp Content template)"
        values = placeholder_values(template.body_template, context, label=label)
        extra[CONTENT_VARIABLES] = numbered(values)
    return extra or None


def content_template(
    backend: BaseChannelBackend,
    template: NotificationTemplate | None,
    body: str,
    extra: Mapping[str, Any],
) -> tuple[str | None, dict[str, str] | None]:
    """(Content SID, variables) for a message of a mapped template, else (None, None).

    The variables come with the task; without it (``deliver_queued``) they are read back
    from the body, which fails when the template was edited since the body was rendered.
    """
    if template is None or not backend.supports_content_templates:
        return None, None
    content_sid = content_sid_for(template.name)
    if content_sid is None:
        return None, None
    variables = extra.get(CONTENT_VARIABLES)
    if variables is not None:
        return content_sid, dict(variables)
    label = f"Notification template {template.name!r}"
    try:
        values = placeholder_values_from_text(template.body_template, body, label=label)
    except TemplateRenderError:
        values = None
    if values is None:
        raise PermanentDeliveryError(
            f"The template {template.name!r} changed since this message was queued, so its "
            "Content variables cannot be read back from the body. Send it again with "
            "notify().",
            code="content_variables_missing",
        )
    return content_sid, numbered(values)
