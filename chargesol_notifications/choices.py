"""Choice lists of ``spec/models.rst``, as ``TextChoices``.

Each list is written out once here and used by the models, the service layer and the
conformance test, so a value can only drift in one place.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    SMS = "sms", _("SMS")
    EMAIL = "email", _("Email")
    WHATSAPP = "whatsapp", _("WhatsApp")
    PUSH = "push", _("Push")
    CALL = "call", _("Phone call")


class TemplateChannel(models.TextChoices):
    """A template is rendered text, so the voice-call channel has no templates of its own."""

    SMS = "sms", _("SMS")
    EMAIL = "email", _("Email")
    WHATSAPP = "whatsapp", _("WhatsApp")
    PUSH = "push", _("Push")


class ContextType(models.TextChoices):
    LEAD = "lead", _("Lead")
    SURVEY = "survey", _("Survey")
    INSTALLATION = "installation", _("Installation")
    PAYMENT = "payment", _("Payment")
    EMERGENCY = "emergency", _("Emergency")


class NotificationStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


class ReceiptStatus(models.TextChoices):
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    READ = "read", _("Read")
    FAILED = "failed", _("Failed")


class CallType(models.TextChoices):
    INTRODUCTORY = "introductory", _("Introductory")
    SURVEY_CONFIRMATION = "survey_confirmation", _("Survey confirmation")
    INSTALLATION_CONFIRMATION = "installation_confirmation", _("Installation confirmation")
    POST_INSTALL = "post_install", _("Post-install")
    EMERGENCY = "emergency", _("Emergency")
    RESCHEDULE = "reschedule", _("Reschedule")


class CallOutcome(models.TextChoices):
    CONNECTED = "connected", _("Connected")
    NO_ANSWER = "no_answer", _("No answer")
    BUSY = "busy", _("Busy")
    VOICEMAIL = "voicemail", _("Voicemail")
    CALLBACK_REQUESTED = "callback_requested", _("Callback requested")


class InboundChannel(models.TextChoices):
    """Channels customers can answer on (addition: the replies issue)."""

    SMS = "sms", _("SMS")
    WHATSAPP = "whatsapp", _("WhatsApp")


class OptOutReason(models.TextChoices):
    """Why an address is on the opt-out list (addition: the replies issue)."""

    STOP_KEYWORD = "stop_keyword", _("Customer replied STOP")
    GATEWAY_REFUSED = "gateway_refused", _("Gateway refused: recipient opted out (21610)")
    STAFF = "staff", _("Added by staff")
    EMAIL_BOUNCE = "email_bounce", _("Email hard bounce")
