"""The TwiML the app answers Twilio with, in one place.

Click-to-call: when the customer answers, Twilio asks the answer webhook what to do (or,
without a public webhook URL, runs the TwiML the backend sent with the call). Both
answers come from here, so the bridge to the staff phone is described once. A customer's
message: the inbound webhook answers with :func:`message_reply`. Every document is built
with the ``twilio`` library's TwiML classes, which escape what they are given. It names
no other part of the app.
"""

from __future__ import annotations

import re

from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse


def bridge_to(phone: str, *, caller_id: str | None) -> str:
    """Connect the answered call to ``phone``, showing ``caller_id`` (our number).

    ``answer_on_bridge`` keeps the customer hearing ringing, not silence, until the
    staff phone picks up.
    """
    response = VoiceResponse()
    response.dial(phone, caller_id=caller_id or None, answer_on_bridge=True)
    return str(response)


def hang_up() -> str:
    """End the call: nobody to connect, or an answering machine picked up."""
    response = VoiceResponse()
    response.hangup()
    return str(response)


#: Characters XML 1.0 cannot hold, even escaped (control characters, lone surrogates,
#: U+FFFE/U+FFFF): left in, they would make the whole answer unreadable to Twilio.
NOT_IN_XML = re.compile(r"[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def message_reply(text: str | None) -> str:
    """The answer to an incoming message: ``<Message>text</Message>``, or, without
    ``text``, an empty ``<Response/>`` (Twilio then sends nothing back)."""
    response = MessagingResponse()
    text = NOT_IN_XML.sub("", text or "")
    if text:
        response.message(text)
    return str(response)
