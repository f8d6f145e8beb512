"""Email through Django's email framework, so any ``EMAIL_BACKEND`` works.

SMTP, django-anymail's ESP backends, the console or locmem mail backends: whatever the
project configured sends the message. The gateway id is the ESP's message id when
django-anymail reports one, else the Message-ID header this backend sets.
"""

from __future__ import annotations

import smtplib
from email.utils import make_msgid
from typing import Any

from django.conf import settings
from django.core import mail
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import DNS_NAME  # type: ignore[attr-defined]
from django.utils.module_loading import import_string

from ..choices import Channel
from ..exceptions import (
    ConfigurationError,
    DeliveryError,
    PermanentDeliveryError,
    ThrottledDeliveryError,
    TransientDeliveryError,
)
from . import channel_setting_name
from .base import BaseChannelBackend, OutgoingMessage

try:
    from anymail.exceptions import (
        AnymailConfigurationError,
        AnymailError,
        AnymailRecipientsRefused,
    )
except ImportError:  # django-anymail is optional: without it, nothing raises its errors.
    ANYMAIL_ERRORS: tuple[type[Exception], ...] = ()
    ANYMAIL_REFUSED: tuple[type[Exception], ...] = ()
else:
    # AnymailConfigurationError is an ImproperlyConfigured, outside AnymailError.
    ANYMAIL_ERRORS = (AnymailError, AnymailConfigurationError)
    ANYMAIL_REFUSED = (AnymailRecipientsRefused,)


class EmailBackend(BaseChannelBackend):
    """Sends the notification's subject and plain-text body as one email.

    OPTIONS: ``FROM_EMAIL`` (default ``DEFAULT_FROM_EMAIL``), ``REPLY_TO``, and where to
    send: ``MAILER``, an alias of Django 6.1's ``MAILERS``, or ``EMAIL_BACKEND``, a dotted
    path to a mail backend class; by default the project's own email configuration.
    """

    channels = frozenset({Channel.EMAIL})
    option_names = frozenset({"FROM_EMAIL", "EMAIL_BACKEND", "MAILER", "REPLY_TO"})
    # Each sending thread has its own instance, so its own mail connection.
    default_concurrency = 4

    def configure(self, **options: Any) -> None:
        self.from_email: str | None = options.get("FROM_EMAIL")
        self.email_backend: str | None = options.get("EMAIL_BACKEND")
        self.mailer: str | None = options.get("MAILER")
        self.reply_to: list[str] | None = options.get("REPLY_TO")
        if self.mailer and not hasattr(mail, "mailers"):
            raise ConfigurationError(
                f"{channel_setting_name(self.channel, 'OPTIONS', 'MAILER')} needs Django "
                "6.1 or newer (MAILERS); use EMAIL_BACKEND on older versions."
            )
        if self.mailer and self.email_backend:
            raise ConfigurationError(
                f"{channel_setting_name(self.channel, 'OPTIONS')}: give MAILER or "
                "EMAIL_BACKEND, not both."
            )

    def send_message(self, message: OutgoingMessage) -> str:
        if not message.subject:
            raise PermanentDeliveryError("An email needs a subject.", code="missing_subject")
        message_id = make_msgid(domain=str(DNS_NAME))
        email = EmailMessage(
            subject=message.subject,
            body=message.body,
            from_email=self.from_email or settings.DEFAULT_FROM_EMAIL,
            to=[str(message.to)],
            reply_to=self.reply_to,
            headers={"Message-ID": message_id},
        )
        try:
            sent = self.deliver_email(email)
        except Exception as exc:
            error = classify_email_error(exc)
            if error is None:
                raise  # not a mail failure anyone classified: the base class's policy
            raise error from exc
        if not sent:
            raise PermanentDeliveryError("The mail backend accepted no message.", code="not_sent")
        # django-anymail puts the ESP's own id on the message.
        esp_message_id = getattr(getattr(email, "anymail_status", None), "message_id", None)
        return str(esp_message_id) if esp_message_id not in (None, "") else message_id

    def deliver_email(self, email: EmailMessage) -> int:
        # Only APIs that no Django version deprecates: send(using=...) exists from 6.1,
        # and a backend named by path is built and used directly.
        if self.mailer:
            return email.send(using=self.mailer)
        if self.email_backend:
            connection: BaseEmailBackend = import_string(self.email_backend)(fail_silently=False)
            return connection.send_messages([email]) or 0
        return email.send()


def classify_email_error(exc: Exception) -> DeliveryError | None:
    """Map a failure of the mail framework to a permanent or transient delivery error.

    None for anything else, which :func:`~.base.as_delivery_error` handles like any
    unexpected error of a backend.
    """
    # Before OSError: anymail's HTTP errors are requests' HTTPErrors, which are OSErrors.
    if isinstance(exc, ANYMAIL_ERRORS):
        return classify_anymail_error(exc)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return PermanentDeliveryError(f"Recipient refused: {exc.recipients}", code="smtp_refused")
    if isinstance(exc, smtplib.SMTPResponseException):
        code = str(exc.smtp_code)
        text = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        # SMTP 4xx replies are temporary by definition (RFC 5321 section 4.2.1).
        error_class = (
            TransientDeliveryError if 400 <= exc.smtp_code < 500 else PermanentDeliveryError
        )
        return error_class(text, code=f"smtp_{code}")
    if isinstance(exc, OSError):  # smtplib's other errors, sockets, TLS
        return TransientDeliveryError(f"{type(exc).__name__}: {exc}", code="smtp_connection")
    if isinstance(exc, ValueError):
        # The message cannot be built as it is (BadHeaderError, an unencodable address):
        # it would fail the same way again.
        return PermanentDeliveryError(f"{type(exc).__name__}: {exc}", code="email_error")
    return None


def classify_anymail_error(exc: Exception) -> DeliveryError:
    """django-anymail's errors: a refused recipient is final; HTTP 429, 5xx and errors
    without an HTTP status are retried; any other HTTP status is final."""
    if isinstance(exc, ANYMAIL_REFUSED):
        return PermanentDeliveryError(str(exc), code="recipients_refused")
    status_code = getattr(exc, "status_code", None)
    if status_code == 429:
        return ThrottledDeliveryError(str(exc), code="esp_429")
    if status_code is None or status_code == 429 or status_code >= 500:
        return TransientDeliveryError(str(exc), code=f"esp_{status_code or 'error'}")
    return PermanentDeliveryError(str(exc), code=f"esp_{status_code}")
