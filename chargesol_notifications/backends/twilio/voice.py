"""Phone calls through Twilio's Calls API: spoken notifications and click-to-call."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core import checks
from twilio.twiml.voice_response import VoiceResponse

from ...choices import Channel
from ...exceptions import MessageTooLongError
from ...twiml import bridge_to
from ..base import BaseChannelBackend, OutgoingCall, OutgoingMessage
from .client import TwilioClientMixin

#: Twilio accepts inline TwiML of at most 4,000 characters.
TWIML_MAX_LENGTH = 4000

#: Call progress events we ask Twilio to report.
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


class CallBackend(TwilioClientMixin, BaseChannelBackend):
    """Calls via Twilio.

    A ``call`` notification rings the recipient and speaks its body (TwiML ``<Say>``,
    with the ``VOICE`` and ``LANGUAGE`` options); :func:`~chargesol_notifications.place_call`
    rings a customer and connects the staff caller once a person answers. Both ask for
    answering-machine detection (``MACHINE_DETECTION``, default ``"Enable"``) and status
    callbacks. Calls need ``FROM``: a Messaging Service cannot place calls.
    """

    channels = frozenset({Channel.CALL})
    default_concurrency = 8
    option_names = TwilioClientMixin.twilio_option_names | {
        "VOICE",
        "LANGUAGE",
        "MACHINE_DETECTION",
    }
    reports_delivery = True
    supports_calls = True
    status_callback_url_name = "chargesol_notifications:twilio-call-status"
    call_answer_url_name = "chargesol_notifications:twilio-call-answer"

    def configure(self, **options: Any) -> None:
        self.configure_twilio(options)
        self.voice: str = options.get("VOICE") or "alice"
        self.language: str = options.get("LANGUAGE") or "en-GB"
        # "Enable" (default) or "DetectMessageEnd"; None or "" turns detection off.
        self.machine_detection: str | None = options.get("MACHINE_DETECTION", "Enable") or None

    def check(self) -> Iterable[checks.CheckMessage]:
        return self.check_twilio(needs_from=True)

    def send_message(self, message: OutgoingMessage) -> str:
        twiml = self.spoken(message.body)
        if len(twiml) > TWIML_MAX_LENGTH:
            raise MessageTooLongError(
                f"The spoken message makes {len(twiml)} characters of TwiML; Twilio "
                f"accepts {TWIML_MAX_LENGTH}.",
                code="body_too_long",
            )
        params = self.call_params(str(message.to), message.status_callback)
        params["twiml"] = twiml
        created = self.call_twilio(lambda: self.client.calls.create(**params))
        return str(created.sid)

    def start_call(self, call: OutgoingCall) -> str:
        params = self.call_params(call.to, call.status_callback)
        # Twilio asks this URL what to do once the call is answered and the machine
        # detection is done: connect the caller, or hang up on a voicemail.
        if call.answer_url is None:
            params["twiml"] = bridge_to(call.connect_to, caller_id=self.from_)
        else:
            params["url"] = call.answer_url
        created = self.call_twilio(lambda: self.client.calls.create(**params))
        return str(created.sid)

    def call_params(self, to: str, callback: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"to": to, "from_": self.from_}
        if self.machine_detection:
            params["machine_detection"] = self.machine_detection
        if callback:
            params["status_callback"] = callback
            params["status_callback_event"] = STATUS_EVENTS
        return params

    def spoken(self, text: str) -> str:
        response = VoiceResponse()
        response.say(text, voice=self.voice, language=self.language)
        return str(response)
