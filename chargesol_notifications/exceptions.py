r"""Every exception chargesol_notifications raises, in one place.

Three families, kept apart on purpose:

* :class:`NotificationError` (also a ``ValueError``): something is wrong with the
  *caller's arguments* to ``notify()``, ``notify_many()``, ``log_call()`` or
  ``place_call()``. Raised before anything is written; lead code may catch it.
* Runtime errors that are nobody's argument: :class:`DeliveryError` (a gateway refused a
  message or did not answer) and :class:`WebhookError` (a request to a webhook that is
  not signed, or not readable). They are not ``ValueError``\ s; the webhook ones are also
  Django's ``SuspiciousOperation``, so Django answers them with 400 wherever they escape.
* :class:`ConfigurationError`, an ``ImproperlyConfigured``: a broken deployment. It is in
  neither runtime family, so a broad ``except NotificationError`` in lead code, or a
  backend's ``fail_silently``, can never hide it.

The template engine's own errors (:class:`ForbiddenTemplateSyntaxError`,
:class:`TemplateBudgetError`) are ``TemplateSyntaxError``\ s, as Django's parser needs;
callers see them as :class:`TemplateRenderError` or as a ``ValidationError`` on the
template's field.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.template import TemplateSyntaxError


class ConfigurationError(ImproperlyConfigured):
    """A setting of ``CHARGESOL_NOTIFICATIONS`` (or one it names) that cannot work."""


class NotificationError(ValueError):
    """The caller's arguments cannot describe a notification or a call."""


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


class InvalidSampleError(ValueError):
    """Sample data typed into the template admin's preview that cannot be used: not
    JSON, not an object, or over a limit. Staff's input, not a caller's argument."""


class InvalidCallError(NotificationError):
    """Arguments of log_call() or place_call() that cannot describe a call."""


class DeliveryError(Exception):
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


class ThrottledDeliveryError(TransientDeliveryError):
    """The gateway refused the request because of its rate limit (HTTP 429).

    Nothing was created at the gateway, so sending again is safe. Delivery pauses the
    channel for every worker (see :mod:`chargesol_notifications.throttle`) and sends the
    message again after the pause, without counting the refusal as a failed attempt.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        response: Any = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code, response=response)
        #: Seconds the gateway asked to wait (a ``Retry-After`` header), when it said.
        self.retry_after = retry_after


class NoAddressError(PermanentDeliveryError):
    """The recipient has no address (phone, email, push token) for the channel."""


class MessageTooLongError(PermanentDeliveryError):
    """The rendered body is longer than the channel accepts."""


class WebhookError(SuspiciousOperation):
    """A request to a webhook that cannot be taken as it is."""


class WebhookValidationError(WebhookError):
    """A webhook request whose signature does not check out (answered with 403)."""


class MalformedWebhookError(WebhookError):
    """A signed request that lacks what the webhook needs, or has values it cannot read
    (answered with 400)."""


class ForbiddenTemplateSyntaxError(TemplateSyntaxError):
    """A tag or ``{% load %}`` library that notification templates may not use."""


class TemplateBudgetError(TemplateSyntaxError):
    """A template that is over its render budget before it runs (found at compile time)."""


class RenderBudgetExceededError(Exception):
    """Raised inside Django's renderer when a render runs over its budget; rendering
    turns it into :class:`TemplateRenderError`."""


class MissingPlaceholderError(Exception):
    """Raised inside Django's renderer when a placeholder has no value; rendering turns
    it into :class:`TemplateRenderError`."""

    def __init__(self, variable: str | None) -> None:
        super().__init__(variable)
        self.variable = variable


class UnreadableRecipientError(Exception):
    """Internal: carries the :class:`InvalidContextError` of a ``recipient`` value read
    while a template renders (see ``recipient_data.LazyRecipient``). Django's variable
    lookup swallows a ``ValueError`` and takes the variable for missing, so the error
    travels in this, and ``rendering.render_errors`` raises the one it carries."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error
