"""SMS and WhatsApp through Twilio's Messages API."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.core import checks
from twilio.rest.api.v2010.account.message import MessageInstance

from ...choices import Channel
from ...twilio_codes import MAX_BODY_LENGTH
from ..base import BaseChannelBackend, OutgoingMessage, UncertainAttempt
from .client import TwilioClientMixin

#: How many of the recipient's latest messages a lookup reads (one page of the list).
LOOKUP_LIMIT = 50
#: How far Twilio's clock may be behind ours; also covers ``date_created`` being whole
#: seconds. A message created before ``since`` minus this is never taken for ours.
CLOCK_SKEW = timedelta(seconds=30)


class MessagesBackend(TwilioClientMixin, BaseChannelBackend):
    """Shared by SMS and WhatsApp: one ``messages.create`` with a status callback.

    After an attempt whose answer was lost (a timeout, a dropped connection),
    :meth:`find_sent` reads the recipient's latest messages from this sender and takes
    the oldest one that is ours: same body, created since the uncertain attempt began,
    not already another notification's. Twilio's list does not return a message's
    ``StatusCallback`` (the ``n=<notification id>`` in it would have settled the match),
    so the body, the window and the other notifications' ids decide. See docs/twilio.rst.
    """

    max_body_length = MAX_BODY_LENGTH
    # Twilio answers a create in a few hundred milliseconds; sending one at a time would
    # leave a worker waiting most of the time.
    default_concurrency = 8
    reports_delivery = True
    finds_lost_sends = True
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

    def find_sent(self, message: OutgoingMessage) -> str | None:
        uncertain = message.uncertain_attempt
        if uncertain is None:
            return None
        filters: dict[str, Any] = {
            "to": self.address(str(message.to)),
            "limit": LOOKUP_LIMIT,
            "page_size": LOOKUP_LIMIT,
        }
        # Not the DateSent filters: a message Twilio still holds queued has no date_sent
        # yet, and that is exactly the message a retry soon after a timeout looks for.
        if not self.messaging_service_sid:
            filters["from_"] = self.sender()
        listed = self.call_twilio(lambda: self.client.messages.list(**filters))
        earliest = uncertain.since - CLOCK_SKEW
        ours = [m for m in listed if self.is_lost_send(m, message, uncertain, earliest)]
        if not ours:
            return None
        return str(min(ours, key=lambda m: m.date_created).sid)

    def is_lost_send(
        self,
        listed: MessageInstance,
        message: OutgoingMessage,
        uncertain: UncertainAttempt,
        earliest: datetime,
    ) -> bool:
        """Whether ``listed``, a message Twilio returned, is ``message`` sent earlier."""
        if listed.sid in uncertain.other_gateway_ids or listed.direction != "outbound-api":
            return False
        if listed.date_created is None or listed.date_created < earliest:
            return False
        if self.messaging_service_sid and listed.messaging_service_sid != (
            self.messaging_service_sid
        ):
            return False
        return listed.body == message.body

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
