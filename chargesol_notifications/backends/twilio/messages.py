"""SMS and WhatsApp through Twilio's Messages API."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.core import checks

from ...choices import Channel
from ...conf import get_setting
from ...exceptions import PermanentDeliveryError
from ...rendering import placeholder_values, placeholder_values_from_text
from ..base import BaseChannelBackend, OutgoingMessage
from .client import TwilioClientMixin, webhook_url

if TYPE_CHECKING:
    from ...models import NotificationTemplate

#: Twilio accepts bodies of at most 1,600 characters (error 21617 beyond).
TWILIO_MAX_BODY = 1600


class MessagesBackend(TwilioClientMixin, BaseChannelBackend):
    """Shared by SMS and WhatsApp: one ``messages.create`` with a status callback."""

    max_body_length = TWILIO_MAX_BODY
    reports_delivery = True
    option_names = TwilioClientMixin.twilio_option_names

    def configure(self, **options: Any) -> None:
        self.configure_twilio(options)

    def check(self) -> Iterable[checks.CheckMessage]:
        return self.check_twilio(needs_from=False)

    def send_message(self, message: OutgoingMessage) -> str:
        params = self.message_params(message)
        callback = webhook_url("twilio-message-status", n=str(message.notification_id))
        if callback:
            params["status_callback"] = callback
        if self.messaging_service_sid:
            params["messaging_service_sid"] = self.messaging_service_sid
        else:
            params["from_"] = self.sender()
        created = self.call_twilio(lambda: self.client.messages.create(**params))
        return str(created.sid)

    def message_params(self, message: OutgoingMessage) -> dict[str, Any]:
        return {"to": self.address(str(message.to)), "body": message.body}

    def address(self, e164: str) -> str:
        return e164

    def sender(self) -> str:
        return self.from_


class SmsBackend(MessagesBackend):
    """SMS via Twilio. Options: see :class:`TwilioClientMixin`."""

    channels = frozenset({Channel.SMS})


class WhatsAppBackend(MessagesBackend):
    """WhatsApp via Twilio: ``whatsapp:+E164`` addresses, Content templates when mapped.

    Outside the 24-hour customer service window WhatsApp only delivers approved
    templates. ``WHATSAPP_CONTENT_TEMPLATES`` maps a NotificationTemplate name to its
    Content SID (``HX...``). Such a notification is sent as that Content template: the
    NotificationTemplate's placeholders, in order, are its variables ``1``, ``2``, ...
    (so ``Hi {{ recipient.first_name }}, see you {{ day }}`` mirrors an approved
    ``Hi {{1}}, see you {{2}}``), and the rendered body is what staff read.
    """

    channels = frozenset({Channel.WHATSAPP})

    def address(self, e164: str) -> str:
        return f"whatsapp:{e164}"

    def sender(self) -> str:
        return self.from_ if self.from_.startswith("whatsapp:") else f"whatsapp:{self.from_}"

    def extra_for(
        self, template: NotificationTemplate, context: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        if content_sid_for(template.name) is None:
            return None
        label = f"Notification template {template.name!r} (a WhatsApp Content template)"
        values = placeholder_values(template.body_template, context, label=label)
        return {"content_variables": numbered(values)}

    def message_params(self, message: OutgoingMessage) -> dict[str, Any]:
        params = super().message_params(message)
        content_sid = content_sid_for(message.template_name)
        if content_sid is None:
            return params
        variables = message.extra.get("content_variables")
        if variables is None:
            # The task that carried them was lost: read them back from the body.
            label = f"Notification template {message.template_name!r}"
            values = placeholder_values_from_text(
                message.template_source, message.body, label=label
            )
            if values is None:
                raise PermanentDeliveryError(
                    f"The template {message.template_name!r} changed since this message "
                    "was queued, so its Content variables cannot be read back from the "
                    "body. Send it again with notify().",
                    code="content_variables_missing",
                )
            variables = numbered(values)
        del params["body"]
        params["content_sid"] = content_sid
        params["content_variables"] = json.dumps(variables, sort_keys=True)
        return params


def numbered(values: list[str]) -> dict[str, str]:
    return {str(number): value for number, value in enumerate(values, start=1)}


def content_sid_for(template_name: str | None) -> str | None:
    """The Content SID ``WHATSAPP_CONTENT_TEMPLATES`` maps a template name to, if any."""
    if template_name is None:
        return None
    return get_setting("WHATSAPP_CONTENT_TEMPLATES").get(template_name)
