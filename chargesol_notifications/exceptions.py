"""Errors raised by chargesol_notifications.

Runtime errors derive from :class:`NotificationError`, which is also a ``ValueError`` so
that calling code can catch either. Configuration problems raise Django's
``ImproperlyConfigured`` instead and deliberately stay outside this tree: a broad
``except NotificationError`` in lead code must never hide a broken deployment.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import SuspiciousOperation


class NotificationError(ValueError):
    """Base of every runtime error of this app."""


class UnknownChannelError(NotificationError):
    """The channel is not one of Notification's channel choices."""


class TemplateNotFoundError(NotificationError):
    """No NotificationTemplate has that name, or it is inactive."""


class TemplateChannelMismatchError(NotificationError):
    """The template was written for another channel than the one requested."""


class InvalidContextTypeError(NotificationError):
    """``context_type`` is not one of the model's choices."""


class InvalidMessageError(NotificationError):
    """The arguments do not describe one message (body and template both, neither, ...)."""


class InvalidContextError(InvalidMessageError):
    """A template context value that is not plain data, or is larger than allowed."""


class TemplateRenderError(NotificationError):
    """A template failed to compile or render, or uses a placeholder the context lacks."""


class InvalidPhoneNumberError(NotificationError):
    """A phone number that is not a valid E.164 number."""


class InvalidCallError(NotificationError):
    """Arguments of log_call() or place_call() that cannot describe a call."""


class DeliveryError(NotificationError):
    """A backend could not deliver a message.

    Carries what staff need to see in the receipt: the gateway's ``code`` and
    ``message``, plus the ``response`` object when the gateway answered.
    """

    #: Whether trying the same message again later may succeed.
    transient = False

    def __init__(self, message: str, *, code: str | None = None, response: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.response = response

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}" if self.code else self.message


class PermanentDeliveryError(DeliveryError):
    """The gateway refused the message; sending it again would fail the same way."""


class TransientDeliveryError(DeliveryError):
    """A timeout, rate limit or gateway fault: the message is retried with backoff."""

    transient = True


class NoAddressError(PermanentDeliveryError):
    """The recipient has no address (phone, email, push token) for the channel."""


class MessageTooLongError(PermanentDeliveryError):
    """The rendered body is longer than the channel accepts."""


class WebhookValidationError(NotificationError, SuspiciousOperation):
    """A webhook request whose signature does not check out (answered with 403)."""
