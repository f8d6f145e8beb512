"""Why a message failed, in a sentence staff can read to a customer on the phone.

A failed receipt carries a code: Twilio's number (``30003``) when the gateway reported
it, or one of the app's own (``no_address``) when delivery never reached a gateway. The
admin shows :func:`failure_reason` in the notification list and beside each receipt.
Twilio's codes are explained by :mod:`.twilio_codes`; this module adds the app's own.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from .twilio_codes import explain

#: The app's own failure codes (``DeliveryError.code``), as staff read them.
APP_CODES = {
    "no_address": _("The customer has no address for this channel on their account."),
    "invalid_phone": _("The customer's phone number is not a valid number."),
    "invalid_email": _("The customer's email address is not valid."),
    "invalid_address": _("The customer's address for this channel could not be used."),
    "body_too_long": _("The message is longer than the gateway accepts."),
    "missing_subject": _("The email had no subject."),
    "subject_not_allowed": _("Only emails have a subject."),
    "content_variables_missing": _(
        "The WhatsApp Content template needs values the message did not provide."
    ),
    "timeout": _("The gateway did not answer in time."),
    "connection_error": _("The gateway could not be reached."),
    "twilio_error": _("Twilio answered with an error."),
    "backend_error": _("The sending backend failed unexpectedly."),
    "lookup_failed": _("Whether an earlier attempt reached the gateway could not be checked."),
    "improperly_configured": _("The channel is not configured correctly."),
    "opted_out": _(
        "The customer opted out of messages on this channel (a STOP reply, the gateway's "
        "refusal, an email bounce, or staff at their request): nothing was sent."
    ),
    "not_sent": _("The mail server accepted no message."),
    "recipients_refused": _("The mail server refused the address."),
    "smtp_refused": _("The mail server refused the message."),
    "smtp_connection": _("The mail server could not be reached."),
    "email_error": _("Sending the email failed."),
    # django-anymail's reject reasons, as email_tracking.py prefixes them.
    "email_bounced": _("The email bounced: the mailbox does not exist or refused it."),
    "email_blocked": _("The receiving mail server blocked the email."),
    "email_spam": _("The receiving mail server treated the email as spam."),
    "email_unsubscribed": _("The customer unsubscribed from these emails."),
    "email_invalid": _("The email address is not valid."),
    "email_timed_out": _("The receiving mail server did not accept the email in time."),
    "email_other": _("The email provider reported the email as not delivered."),
    "email_rejected": _("The email provider refused to send the email."),
    "email_failed": _("The email provider could not send the email."),
}


def failure_reason(code: str | None, message: str = "") -> str:
    """A staff-facing sentence for a failure's ``code``; its ``message`` when the code
    is unknown (or absent), so a reason is never blank while there is something to say."""
    if code:
        sentence = explain(code) or APP_CODES.get(code, "")
        if sentence:
            return str(sentence)
    return message.strip()
