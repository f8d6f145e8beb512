"""What the demo does with customers' replies: a YES to a survey confirmation confirms it.

``confirm_survey`` listens to ``reply_received`` (connected in ``LeadsConfig.ready``) and
does the work, once per message; ``answer`` is the ``INBOUND_REPLY_HOOK`` and only says
what to text back, since Twilio may ask it twice about the same message.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from chargesol_notifications.models import InboundMessage, Notification

from .models import Survey

CONFIRMED_NOTE = "Customer confirmed by replying YES"


def answers_yes_to_a_survey(message: InboundMessage, notification: Notification | None) -> bool:
    return (
        notification is not None
        and notification.context_type == "survey"
        and message.body.strip().upper() == "YES"
    )


def confirm_survey(
    sender: Any,
    inbound_message: InboundMessage,
    notification: Notification | None,
    user: Any,
    **kwargs: Any,
) -> None:
    """A "YES" to a survey confirmation: note it on the survey, for the surveyor."""
    if not answers_yes_to_a_survey(inbound_message, notification):
        return
    assert notification is not None
    survey = Survey.objects.filter(pk=notification.context_id).first()
    if survey is None or CONFIRMED_NOTE in survey.notes:
        return
    at = timezone.localtime(inbound_message.received_at).strftime("%d %b %H:%M")
    survey.notes = f"{survey.notes}\n{CONFIRMED_NOTE} ({at}).".strip()
    survey.save(update_fields=["notes"])


def answer(message: InboundMessage) -> str | None:
    """The text sent back: a thank-you for a survey's YES, nothing otherwise (Twilio
    itself answers STOP, START and HELP)."""
    if not answers_yes_to_a_survey(message, message.in_reply_to):
        return None
    name = message.user.first_name if message.user else "there"
    return f"Thanks {name}, your ChargeSol home survey is confirmed. See you then!"
