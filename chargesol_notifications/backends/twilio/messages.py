"""SMS and WhatsApp through Twilio's Messages API."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.core import checks

from ...choices import Channel
from ...conf import get_setting
from ...exceptions import PermanentDeliveryError
from ...rendering import render_text
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
    Content SID (``HX...``); such notifications are sent as that Content template with
    the ``ContentVariables`` rendered from the notify() context when it was queued.
    """

    channels = frozenset({Channel.WHATSAPP})

    def address(self, e164: str) -> str:
        return f"whatsapp:{e164}"

    def sender(self) -> str:
        return self.from_ if self.from_.startswith("whatsapp:") else f"whatsapp:{self.from_}"

    def extra_for(
        self, template: NotificationTemplate, context: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        content = content_template_for(template.name)
        if content is None:
            return None
        variables = content["VARIABLES"]
        if variables is None:
            # Without VARIABLES, the context's keys "1", "2", ... are the variables.
            values = {key: str(value) for key, value in context.items() if str(key).isdigit()}
        else:
            values = {
                str(key): render_text(
                    source, context, label=f"WHATSAPP_CONTENT_TEMPLATES[{template.name!r}][{key!r}]"
                )
                for key, source in variables.items()
            }
        return {"content_variables": values}

    def message_params(self, message: OutgoingMessage) -> dict[str, Any]:
        params = super().message_params(message)
        content = content_template_for(message.template_name)
        if content is None:
            return params
        variables = message.extra.get("content_variables")
        if variables is None:
            raise PermanentDeliveryError(
                f"The Content variables of this WhatsApp template ({message.template_name}) "
                "were not kept: it was queued without them or its task was lost. Send it "
                "again with notify().",
                code="content_variables_missing",
            )
        del params["body"]
        params["content_sid"] = content["CONTENT_SID"]
        params["content_variables"] = json.dumps(variables, sort_keys=True)
        return params


def content_template_for(template_name: str | None) -> dict[str, Any] | None:
    """The ``WHATSAPP_CONTENT_TEMPLATES`` entry for a template, as a dict, or None.

    An entry is a Content SID (its variables then come from the context keys "1", "2",
    ...) or ``{"CONTENT_SID": "HX...", "VARIABLES": {"1": "{{ recipient.first_name }}"}}``.
    """
    if template_name is None:
        return None
    entry = get_setting("WHATSAPP_CONTENT_TEMPLATES").get(template_name)
    if entry is None:
        return None
    if isinstance(entry, str):
        return {"CONTENT_SID": entry, "VARIABLES": None}
    return {"CONTENT_SID": entry["CONTENT_SID"], "VARIABLES": entry.get("VARIABLES")}
