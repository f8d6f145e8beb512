"""SMS and WhatsApp through Twilio's Messages API."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.core import checks

from ...choices import Channel
from ...twilio_codes import MAX_BODY_LENGTH
from ..base import BaseChannelBackend, OutgoingMessage
from .client import TwilioClientMixin


class MessagesBackend(TwilioClientMixin, BaseChannelBackend):
    """Shared by SMS and WhatsApp: one ``messages.create`` with a status callback."""

    max_body_length = MAX_BODY_LENGTH
    reports_delivery = True
    status_callback_url_name = "chargesol_notifications:twilio-message-status"
    option_names = TwilioClientMixin.twilio_option_names

    def configure(self, **options: Any) -> None:
        self.configure_twilio(options)

    def check(self) -> Iterable[checks.CheckMessage]:
        return self.check_twilio(needs_from=False)

    def send_message(self, message: OutgoingMessage) -> str:
        params = self.message_params(message)
        if message.status_callback:
            params["status_callback"] = message.status_callback
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
    Content SID (``HX...``); the message of such a template arrives with ``content_sid``
    and ``content_variables`` (the template's placeholders, in order, as variables ``1``,
    ``2``, ...) and is sent as that Content template. The rendered body is what staff read.
    """

    channels = frozenset({Channel.WHATSAPP})
    supports_content_templates = True

    def address(self, e164: str) -> str:
        return f"whatsapp:{e164}"

    def sender(self) -> str:
        return self.from_ if self.from_.startswith("whatsapp:") else f"whatsapp:{self.from_}"

    def message_params(self, message: OutgoingMessage) -> dict[str, Any]:
        params = super().message_params(message)
        if message.content_sid is None:
            return params
        del params["body"]
        params["content_sid"] = message.content_sid
        params["content_variables"] = json.dumps(
            dict(message.content_variables or {}), sort_keys=True
        )
        return params
