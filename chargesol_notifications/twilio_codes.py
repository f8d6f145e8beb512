"""Twilio's limits and error codes as ChargeSol's staff read them: one place for the app.

The send path (``backends/twilio/errors.py``) decides from it whether a refusal is worth
retrying, the status webhook explains the delivery failures Twilio reports later, and
the Twilio stand-in of ``chargesol_notifications.testing`` answers with the same codes.
Codes are Twilio's (https://www.twilio.com/docs/api/errors). This module names no other
part of the app, so any of them may import it.
"""

from __future__ import annotations

#: The longest message body Twilio accepts, in characters (error 21617 beyond). The SMS
#: and WhatsApp backends refuse longer bodies, and the render budget stops a template there.
MAX_BODY_LENGTH = 1600

#: What a code means, in a sentence for the receipt that staff read.
EXPLANATIONS: dict[int, str] = {
    20003: "Twilio refused the credentials (check ACCOUNT_SID and AUTH_TOKEN).",
    20404: "Twilio has no such resource (check the account and sender).",
    21211: "The 'To' number is not a valid phone number.",
    21214: "The 'To' number cannot be reached.",
    21215: "Calling this number's region is not enabled.",
    21216: "This number is blocked from being called.",
    21217: "The phone number does not appear to be valid.",
    21219: "The 'To' number is not verified on this trial account.",
    21408: "Permission to send to this region is not enabled.",
    21602: "The message body is required.",
    21606: "The 'From' number cannot send this kind of message.",
    21608: "Trial accounts can only send to verified numbers.",
    21610: "The recipient has opted out (replied STOP).",
    21612: "Twilio cannot route a message from this 'From' to this 'To'.",
    21614: "The 'To' number is not a mobile number.",
    21617: "The message body is too long.",
    21656: "The ContentVariables are not valid for the Content template.",
    21660: "The 'From' number does not belong to this account.",
    13223: "The phone number to dial is not valid.",
    13224: "The phone number to dial cannot be called.",
    30003: "The handset is unreachable (switched off or out of coverage).",
    30004: "The message was blocked by the recipient or the carrier.",
    30005: "The number is unknown or no longer in service.",
    30006: "The number is a landline or cannot receive SMS.",
    30007: "The carrier filtered the message as spam.",
    30008: "The carrier reported an unknown error.",
    63007: "No WhatsApp sender is set up for the 'From' address.",
    63016: (
        "WhatsApp refuses free-form messages outside the 24-hour customer service window. "
        "Business-initiated messages need an approved Content template: map this "
        "notification template to its Content SID in WHATSAPP_CONTENT_TEMPLATES."
    ),
}

#: Refusals that mean the recipient opted out at Twilio (replied STOP to that sender):
#: delivery puts the address on the app's own opt-out list.
OPT_OUT_CODES: frozenset[str] = frozenset({"21610"})

#: Refusals of a send that sending again cannot fix.
PERMANENT_SEND_CODES: frozenset[int] = frozenset(
    {
        20003, 20404, 21211, 21214, 21215, 21216, 21217, 21219, 21408, 21602, 21606,
        21608, 21610, 21612, 21614, 21617, 21656, 21660, 13223, 13224, 63007, 63016,
    }
)  # fmt: skip

#: Gateway faults and throttling that pass.
TRANSIENT_SEND_CODES: frozenset[int] = frozenset({20429, 20500, 20503, 30500})

#: Codes whose explanation says more than Twilio's own message, so staff see both.
EXPLAIN_ALWAYS: frozenset[int] = frozenset({63016})


def explain(code: int | str | None) -> str:
    """The staff explanation of a Twilio error code, or ``""`` when there is none."""
    try:
        return EXPLANATIONS.get(int(code), "") if code is not None else ""
    except (TypeError, ValueError):
        return ""
