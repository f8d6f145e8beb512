"""Twilio's status callbacks for messages and calls, the answer URL of click-to-call, and
customers' incoming messages.

This module owns everything Twilio about the webhooks: the signature check (against the
auth tokens in ``CHARGESOL_NOTIFICATIONS["CHANNELS"]`` and ``WEBHOOK_BASE_URL``), the rules
of Twilio's parameters, the tables that say what each Twilio status means here, and the
TwiML of the answer URL. It reads its settings itself and never loads a channel backend;
the core (:mod:`.base`, :mod:`.recording`) records what it parses.

Statuses that are only progress reports are acknowledged and recorded nowhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from twilio.request_validator import RequestValidator

from ..choices import CallOutcome, Channel, InboundChannel, ReceiptStatus
from ..conf import get_setting
from ..exceptions import MalformedWebhookError, WebhookValidationError
from ..models import DeliveryReceipt, InboundMessage
from ..twilio_codes import explain
from ..twiml import bridge_to, hang_up, message_reply
from .base import WebhookView
from .events import CallAnsweredEvent, CallLogEvent, DeliveryEvent, WebhookEvent
from .inbound import InboundEvent, InboundWebhookView
from .params import ASCII_DIGITS, IntegerParam, TextParam, UUIDParam
from .recording import CallConnection, Recorded

# -- what Twilio's words mean here -------------------------------------------------------------

#: Twilio MessageStatus -> the receipt it becomes.
MESSAGE_STATUS_RECEIPTS: dict[str, str] = {
    "sent": ReceiptStatus.SENT,
    "delivered": ReceiptStatus.DELIVERED,
    "read": ReceiptStatus.READ,
    "undelivered": ReceiptStatus.FAILED,
    "failed": ReceiptStatus.FAILED,
    "canceled": ReceiptStatus.FAILED,
}
#: MessageStatus values that only report progress.
MESSAGE_PROGRESS = frozenset(
    {"queued", "accepted", "scheduled", "sending", "receiving", "received", "partially_delivered"}
)

#: Twilio CallStatus -> the receipt a ``call`` notification gets.
CALL_STATUS_RECEIPTS: dict[str, str] = {
    "completed": ReceiptStatus.DELIVERED,
    "no-answer": ReceiptStatus.FAILED,
    "busy": ReceiptStatus.FAILED,
    "failed": ReceiptStatus.FAILED,
    "canceled": ReceiptStatus.FAILED,
}
CALL_PROGRESS = frozenset({"queued", "initiated", "ringing", "in-progress"})
#: Why a call did not reach anyone, for the receipt and the call's notes.
CALL_FAILURE_REASONS: dict[str, str] = {
    "no-answer": "Nobody answered the call.",
    "busy": "The line was busy.",
    "failed": "Twilio could not place the call (the number may be invalid or unreachable).",
    "canceled": "The call was canceled before it was answered.",
}
#: CallStatus values whose reason goes into a click-to-call's notes (it has no receipt).
CALL_NOTED = frozenset({"failed", "canceled"})
#: Twilio CallStatus -> CallLog outcome, where the status alone decides.
CALL_OUTCOMES: dict[str, str] = {
    "no-answer": CallOutcome.NO_ANSWER,
    "busy": CallOutcome.BUSY,
}

# -- Twilio's parameters and the rule each value must follow (see params.Param) ---------------

#: A Twilio resource SID: two capital letters naming the kind (``SM``, ``MM``, ``CA``...)
#: and 32 hexadecimal digits.
TWILIO_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")

GATEWAY_ID_LENGTH: int = DeliveryReceipt._meta.get_field("gateway_message_id").max_length or 0
ERROR_CODE_LENGTH: int = DeliveryReceipt._meta.get_field("error_code").max_length or 0
#: Twilio's ``ErrorMessage`` is a sentence; a longer one is cut to this many characters
#: rather than refused, so the failure it reports is still recorded.
ERROR_MESSAGE_LENGTH = 500

MESSAGE_SID = TextParam("MessageSid", max_length=GATEWAY_ID_LENGTH, pattern=TWILIO_SID)
MESSAGE_STATUS = TextParam(
    "MessageStatus", max_length=30, choices=MESSAGE_PROGRESS | frozenset(MESSAGE_STATUS_RECEIPTS)
)
ERROR_CODE = TextParam("ErrorCode", max_length=ERROR_CODE_LENGTH, pattern=ASCII_DIGITS)
ERROR_MESSAGE = TextParam("ErrorMessage", max_length=ERROR_MESSAGE_LENGTH, truncate=True)
CALL_SID = TextParam("CallSid", max_length=GATEWAY_ID_LENGTH, pattern=TWILIO_SID)
CALL_STATUS = TextParam(
    "CallStatus", max_length=30, choices=CALL_PROGRESS | frozenset(CALL_STATUS_RECEIPTS)
)
CALL_DURATION = IntegerParam("CallDuration")
ANSWERED_BY = TextParam("AnsweredBy", max_length=50)
# In the query of the callback URL the backends ask Twilio to call.
NOTIFICATION = UUIDParam("n")
CALL_LOG = UUIDParam("call")

# A customer's message (the incoming message webhook). WhatsApp addresses are
# "whatsapp:" and the number in E.164; ProfileName, WaId and the media URLs are not read.
WHATSAPP_PREFIX = "whatsapp:"
E164 = r"\+[1-9][0-9]{1,14}"
#: An incoming message's sid: ``SM`` (text) or ``MM`` (with media) and 32 hex digits.
INBOUND_SID = re.compile(r"(?:SM|MM)[0-9a-fA-F]{32}")
ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
#: Who wrote: a phone, or a WhatsApp user.
SENDER_ADDRESS = re.compile(rf"(?:{WHATSAPP_PREFIX})?{E164}")
#: The number written to, ours: a phone, a WhatsApp sender or an SMS short code.
OUR_ADDRESS = re.compile(rf"(?:{WHATSAPP_PREFIX})?{E164}|[0-9]{{3,8}}")
#: The longest text a customer can send: WhatsApp's 4096 characters (SMS: 1600). Longer
#: is cut rather than refused, so that the message, a STOP perhaps, is still recorded.
BODY_LENGTH = 4096
#: What ``InboundMessage.media_count`` (a PositiveSmallIntegerField) holds everywhere.
MEDIA_COUNT_MAX = 32767

INBOUND_MESSAGE_SID = TextParam("MessageSid", max_length=34, pattern=INBOUND_SID)
ACCOUNT = TextParam("AccountSid", max_length=34, pattern=ACCOUNT_SID)
SENDER = TextParam(
    "From",
    max_length=InboundMessage._meta.get_field("from_address").max_length or 0,
    pattern=SENDER_ADDRESS,
)
RECIPIENT = TextParam(
    "To",
    max_length=InboundMessage._meta.get_field("to_address").max_length or 0,
    pattern=OUR_ADDRESS,
)
BODY = TextParam("Body", max_length=BODY_LENGTH, truncate=True)
NUM_MEDIA = IntegerParam("NumMedia", maximum=MEDIA_COUNT_MAX)
#: Sent only with Advanced Opt-Out on the Messaging Service: Twilio's reading of a keyword.
OPT_OUT_TYPE = TextParam("OptOutType", max_length=20, choices=frozenset({"STOP", "START", "HELP"}))


def answered_by_machine(answered_by: str | None) -> bool:
    if answered_by is None:
        return False
    return answered_by.startswith("machine") or answered_by == "fax"


# -- settings and signatures ---------------------------------------------------------------------


def channel_options(channel: str) -> Mapping[str, Any]:
    """The ``OPTIONS`` of ``channel`` in ``CHARGESOL_NOTIFICATIONS["CHANNELS"]``, or ``{}``.

    Read from the setting, not from a backend: a malformed entry reads as empty here and
    is reported by the system checks.
    """
    channels = get_setting("CHANNELS")
    return options_of(channels.get(channel) if isinstance(channels, Mapping) else None)


def options_of(config: object) -> Mapping[str, Any]:
    """The ``OPTIONS`` of one entry of ``CHANNELS``, or ``{}`` when it has none."""
    options = config.get("OPTIONS") if isinstance(config, Mapping) else None
    return options if isinstance(options, Mapping) else {}


def twilio_auth_tokens() -> list[str]:
    """Every distinct ``AUTH_TOKEN`` among the channels' ``OPTIONS``: Twilio signs with these.

    Each channel may be on its own Twilio account, so every token is tried. The setting is
    read once per call, not once per channel.
    """
    channels = get_setting("CHANNELS")
    tokens: list[str] = []
    for config in channels.values() if isinstance(channels, Mapping) else ():
        token = str(options_of(config).get("AUTH_TOKEN") or "")
        if token and token not in tokens:
            tokens.append(token)
    return tokens


def public_url(request: HttpRequest) -> str:
    """The URL Twilio called, as Twilio saw it: ``WEBHOOK_BASE_URL`` + path + query.

    Behind TLS termination or a proxy the request Django sees has another scheme, host
    or port than the one Twilio signed, so the host part comes from the setting.
    """
    base = (get_setting("WEBHOOK_BASE_URL") or "").rstrip("/")
    return f"{base}{request.get_full_path()}"


def validate_signature(request: HttpRequest) -> None:
    """Raise ``WebhookValidationError`` unless ``X-Twilio-Signature`` matches a token."""
    # META, not request.headers: that builds a dict of every header at each request.
    signature = request.META.get("HTTP_X_TWILIO_SIGNATURE", "")
    if not signature:
        raise WebhookValidationError("The request has no X-Twilio-Signature.")
    url = public_url(request)
    params = request.POST
    for token in twilio_auth_tokens():
        if RequestValidator(token).validate(url, params, signature):
            return
    raise WebhookValidationError(f"The X-Twilio-Signature does not match {url}.")


class TwilioWebhookView(WebhookView):
    """A webhook that Twilio calls: its requests carry Twilio's signature."""

    forbidden_text = "Invalid Twilio signature."

    def validate_request(self, request: HttpRequest) -> None:
        validate_signature(request)


# -- the views ---------------------------------------------------------------------------------


class MessageStatusView(TwilioWebhookView):
    """``twilio/message-status/``: SMS and WhatsApp delivery reports."""

    def parse(self, request: HttpRequest) -> list[WebhookEvent]:
        form, query = request.POST, request.GET
        sid = MESSAGE_SID.require(form)
        status = MESSAGE_STATUS.require(form)
        twilio_code = ERROR_CODE.read(form)
        twilio_message = ERROR_MESSAGE.read(form)
        notification_id = NOTIFICATION.read(query)
        if status in MESSAGE_PROGRESS:
            return []
        receipt_status = MESSAGE_STATUS_RECEIPTS[status]
        error_code = twilio_code
        error_message = ""
        if receipt_status == ReceiptStatus.FAILED:
            error_message = explain(twilio_code) or (
                twilio_message or f"Twilio reported the message {status}."
            )
            error_code = twilio_code or status
        return [
            DeliveryEvent(
                gateway_message_id=sid,
                receipt_status=receipt_status,
                notification_id=notification_id,
                error_code=error_code,
                error_message=error_message,
            )
        ]


class CallStatusView(TwilioWebhookView):
    """``twilio/call-status/``: progress of spoken notifications and click-to-calls."""

    def parse(self, request: HttpRequest) -> list[WebhookEvent]:
        form, query = request.POST, request.GET
        sid = CALL_SID.require(form)
        status = CALL_STATUS.require(form)
        duration = CALL_DURATION.read(form)
        answered_by = ANSWERED_BY.read(form)
        call_log_id = CALL_LOG.read(query)
        notification_id = NOTIFICATION.read(query)
        if call_log_id is not None:
            if answered_by_machine(answered_by):
                outcome = CallOutcome.VOICEMAIL
            elif status == "completed":
                outcome = CallOutcome.CONNECTED
            else:
                outcome = CALL_OUTCOMES.get(status, "")
            return [
                CallLogEvent(
                    call_log_id=call_log_id,
                    gateway_status=status,
                    outcome=outcome,
                    duration_seconds=duration,
                    note=CALL_FAILURE_REASONS[status] if status in CALL_NOTED else "",
                )
            ]
        if status not in CALL_STATUS_RECEIPTS:
            return []
        receipt_status = CALL_STATUS_RECEIPTS[status]
        failed = receipt_status == ReceiptStatus.FAILED
        return [
            DeliveryEvent(
                gateway_message_id=sid,
                receipt_status=receipt_status,
                notification_id=notification_id,
                error_code=status if failed else None,
                error_message=CALL_FAILURE_REASONS.get(status, "") if failed else "",
            )
        ]


class CallAnswerView(TwilioWebhookView):
    """``twilio/call-answer/``: TwiML for an answered click-to-call.

    A person answered: bridge the staff caller's phone, showing the ``call`` channel's
    ``FROM``. A machine answered, or the call is unknown or over (a replay): hang up.
    Not served (404) when the ``call`` channel has no Twilio ``AUTH_TOKEN``: then no
    click-to-call went through Twilio, and none can be answered here.
    """

    def disabled_reason(self) -> str | None:
        if not channel_options(Channel.CALL).get("AUTH_TOKEN"):
            return (
                "the 'call' channel has no AUTH_TOKEN in its OPTIONS, so its calls are "
                "not placed through Twilio."
            )
        return None

    def parse(self, request: HttpRequest) -> list[WebhookEvent]:
        form, query = request.POST, request.GET
        CALL_SID.require(form)
        answered_by = ANSWERED_BY.read(form)
        call_log_id = CALL_LOG.read(query)
        return [CallAnsweredEvent(call_log_id, by_machine=answered_by_machine(answered_by))]

    def answer(self, request: HttpRequest, recorded: list[Recorded | None]) -> HttpResponse:
        phone = next((r.phone for r in recorded if isinstance(r, CallConnection)), None)
        return twiml_response(dial(phone) if phone else hang_up())


class InboundMessageView(TwilioWebhookView, InboundWebhookView):
    """``twilio/inbound-message/``: customers' SMS and WhatsApp messages to our numbers.

    Stored once, linked, acted on and announced by :class:`.inbound.InboundWebhookView`;
    answered with TwiML: the ``INBOUND_REPLY_HOOK``'s text as a ``<Message>``, or an empty
    ``<Response/>``.
    """

    def parse(self, request: HttpRequest) -> list[InboundEvent]:  # type: ignore[override]
        form = request.POST
        sid = INBOUND_MESSAGE_SID.require(form)
        ACCOUNT.require(form)
        sender = SENDER.require(form)
        recipient = RECIPIENT.require(form)
        body = BODY.read(form) or ""
        media_count = NUM_MEDIA.read(form) or 0
        opt_out_type = OPT_OUT_TYPE.read(form) or ""
        whatsapp = sender.startswith(WHATSAPP_PREFIX)
        if whatsapp != recipient.startswith(WHATSAPP_PREFIX):
            raise MalformedWebhookError("From and To are not both WhatsApp addresses.")
        return [
            InboundEvent(
                gateway_message_id=sid,
                channel=InboundChannel.WHATSAPP if whatsapp else InboundChannel.SMS,
                from_address=sender,
                to_address=recipient,
                body=body,
                media_count=media_count,
                opt_out_type=opt_out_type,
            )
        ]

    def reply(self, text: str | None) -> HttpResponse:
        return twiml_response(message_reply(text))


# -- TwiML ---------------------------------------------------------------------------------------


def dial(phone: str) -> str:
    """Bridge the answered call to ``phone``, showing the ``call`` channel's number."""
    return bridge_to(phone, caller_id=str(channel_options(Channel.CALL).get("FROM") or ""))


def twiml_response(twiml: str) -> HttpResponse:
    return HttpResponse(twiml, content_type="text/xml")
