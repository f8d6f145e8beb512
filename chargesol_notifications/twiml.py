"""The TwiML of click-to-call, in one place for the call backend and the answer webhook.

When the customer answers, Twilio asks the answer webhook what to do (or, without a
public webhook URL, runs the TwiML the backend sent with the call). Both answers come
from here, so the bridge to the staff phone is described once. It names no other part
of the app.
"""

from __future__ import annotations

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
