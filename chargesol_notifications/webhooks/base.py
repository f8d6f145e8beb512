"""The loop every gateway webhook shares: validate, parse, record, signal, answer.

:class:`WebhookView` names no provider. A provider module subclasses it and fills in
small hooks:

- :meth:`~WebhookView.validate_request` checks that the gateway sent the request (its
  signature, say) and raises :class:`~chargesol_notifications.exceptions.WebhookValidationError`
  when it did not. Every definition in the class chain runs, so a mixin can add a check.
- :meth:`~WebhookView.parse` reads the request, through declared
  :class:`~.params.Param` rules, into provider-independent :mod:`events <.events>`, and
  raises :class:`~chargesol_notifications.exceptions.MalformedWebhookError` for a payload
  it cannot read.
- :meth:`~WebhookView.answer` (optional) builds the reply the gateway expects; by
  default an empty 200.
- :meth:`~WebhookView.disabled_reason` (optional) says why the webhook is not served in
  this project; it is then answered 404 before anything else.

The base view records each event (:mod:`.recording`) and sends its signals in one
transaction per event (what recording only reads is read before it opens; a delivery
report that this reading settles, see :attr:`WebhookView.record_at_lookup`, opens none),
and owns the error answers:

- 404 when the webhook is disabled;
- 403 when validation fails, before anything is read or written;
- 400 for a :class:`MalformedWebhookError` (or a body Django itself refuses to parse);
- 500 for anything unexpected, logged with its traceback and announced through
  ``got_request_exception`` like any unhandled error.

Error answers are short fixed ``text/plain`` messages: they never echo the request, and
the details go to the ``chargesol_notifications.webhooks`` logger.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import BadRequest, SuspiciousOperation
from django.core.signals import got_request_exception
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.http.multipartparser import MultiPartParserError
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from ..choices import NotificationStatus
from ..exceptions import MalformedWebhookError, WebhookValidationError
from ..models import CallLog, Notification
from ..signals import call_status_recorded, notification_failed, receipt_recorded
from .events import WebhookEvent
from .recording import (
    CallLogRecorded,
    Located,
    ReceiptRecorded,
    Recorded,
    locate,
    record_event,
)

logger = logging.getLogger("chargesol_notifications.webhooks")


@functools.cache
def validators_of(view_class: type[WebhookView]) -> tuple[Callable[..., None], ...]:
    """Every ``validate_request`` defined in ``view_class``'s chain, from the base classes
    down, but the base view's: found once per class rather than at each request."""
    return tuple(
        cls.__dict__["validate_request"]
        for cls in reversed(view_class.__mro__)
        if cls is not WebhookView and "validate_request" in cls.__dict__
    )


def listened_to() -> bool:
    """Whether a receiver listens to a signal that recording a delivery report sends."""
    return bool(receipt_recorded.receivers or notification_failed.receivers)


def plain_response(status: int, text: str) -> HttpResponse:
    """A short fixed message as ``text/plain``: what every error answer of a webhook is."""
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


class WebhookView(View):
    """POST-only and validated: the shape of every gateway webhook.

    CSRF-exempt and ``login_not_required`` (so ``LoginRequiredMiddleware`` lets the
    gateway in): :meth:`validate_request` is what protects these views. See the module
    docstring for the hooks a provider fills in.
    """

    http_method_names = ["post"]

    #: Whether a delivery report that its lookup settles is recorded and signalled without a
    #: transaction of the view's (:meth:`process`): one whose lookup found it unknown, a
    #: duplicate or misrouted, or wrote its receipt itself (PostgreSQL, while nobody
    #: listens to the signals recording sends). A view whose :meth:`record` or
    #: :meth:`signal` writes something of its own, to be rolled back with the receipt,
    #: sets it to ``False``.
    record_at_lookup: bool = True

    #: The fixed bodies of the error answers; a provider may name itself in them.
    not_found_text = "This webhook is not enabled."
    forbidden_text = "Invalid webhook signature."
    malformed_text = "Malformed webhook request."
    failed_text = "The webhook could not be processed."

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., HttpResponseBase]:
        """The view function, CSRF-exempt and ``login_not_required``.

        Decorated once, here: ``method_decorator`` on ``dispatch`` would wrap the method
        anew at every request.
        """
        return csrf_exempt(login_not_required(super().as_view(**initkwargs)))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            reason = self.disabled_reason()
            if reason is not None:
                logger.warning("Not served %s: %s", request.path, reason)
                return plain_response(404, self.not_found_text)
            self.run_validators(request)
            events = self.parse(request)
            return self.answer(request, [self.process(event) for event in events])
        except WebhookValidationError as exc:
            logger.warning("Rejected %s: %s", request.path, exc)
            return plain_response(403, self.forbidden_text)
        except MalformedWebhookError as exc:
            logger.warning("Malformed %s: %s", request.path, exc)
            return plain_response(400, self.malformed_text)
        except (SuspiciousOperation, BadRequest, MultiPartParserError) as exc:
            # A body Django refuses to parse (too big, too many fields, broken multipart).
            logger.warning("Unreadable %s: %s: %s", request.path, type(exc).__name__, exc)
            return plain_response(400, self.malformed_text)
        except Exception:
            # Whatever it was, its message may quote the payload: log it, tell error
            # reporters as Django would, and answer with a fixed text (even with DEBUG on).
            logger.exception("Failed %s", request.path)
            got_request_exception.send(sender=type(self), request=request)
            return plain_response(500, self.failed_text)

    def run_validators(self, request: HttpRequest) -> None:
        """Run every ``validate_request`` in the class chain, from the base classes down.

        A view that defines none is an error (answered 500), never a webhook that takes
        anyone's word.
        """
        validators = validators_of(type(self))
        if not validators:
            raise NotImplementedError(f"{type(self).__name__} must implement validate_request().")
        for validator in validators:
            validator.__get__(self, type(self))(request)

    def process(self, event: WebhookEvent) -> Recorded | None:
        """Record ``event`` and send its signals, in one transaction.

        What recording only reads is read before the transaction opens
        (:func:`.recording.locate`), so the transaction is no longer than the writes and
        the signals. A delivery report that the lookup settles opens none (see
        :attr:`record_at_lookup`): a duplicate, an unknown or misrouted report, and on
        PostgreSQL, while no receiver listens to ``receipt_recorded`` or
        ``notification_failed``, a new receipt, which the lookup's statement writes itself.
        """
        at_lookup = self.record_at_lookup
        located = locate(event, write=at_lookup and not listened_to())
        if at_lookup and isinstance(located, Located) and located.settled:
            return self.record_and_signal(located)
        # No savepoint when nested (ATOMIC_REQUESTS, a test case): an error escaping this
        # block is answered 500, so the enclosing transaction is rightly rolled back too.
        with transaction.atomic(savepoint=False):
            return self.record_and_signal(located)

    def record_and_signal(self, event: WebhookEvent | Located) -> Recorded | None:
        """Record ``event`` (:meth:`record`), then announce what changed (:meth:`signal`)."""
        recorded = self.record(event)
        if recorded is not None:
            self.signal(recorded)
        return recorded

    # -- hooks ------------------------------------------------------------------------------

    def disabled_reason(self) -> str | None:
        """Why this webhook is not served in this project (answered 404), or ``None``."""
        return None

    def validate_request(self, request: HttpRequest) -> None:
        """Raise ``WebhookValidationError`` unless the gateway sent ``request``.

        Every definition in the class chain runs (see :meth:`run_validators`); there is
        no need to call ``super()``. Read the signature before the body, so a request
        without one is refused before Django parses what it sent.
        """

    def parse(self, request: HttpRequest) -> list[WebhookEvent]:
        """The events ``request`` reports; ``[]`` for a progress report worth no record.

        Raise ``MalformedWebhookError`` for a payload that cannot be read, before anything
        is looked up or written.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement parse().")

    def record(self, event: WebhookEvent | Located) -> Recorded | None:
        """Apply ``event`` to the database (:func:`.recording.record_event`)."""
        return record_event(event)

    def signal(self, recorded: Recorded) -> None:
        """Announce what :meth:`record` changed, inside its transaction.

        ``receipt_recorded`` is sent by the receipt bookkeeping itself; this adds
        ``notification_failed`` when a receipt failed the notification, and
        ``call_status_recorded`` when a call log changed.
        """
        if isinstance(recorded, ReceiptRecorded):
            notification, outcome = recorded.notification, recorded.outcome
            if outcome.advanced and notification.status == NotificationStatus.FAILED:
                notification_failed.send(
                    sender=Notification,
                    notification=notification,
                    receipt=outcome.receipt,
                    error=None,
                )
        elif isinstance(recorded, CallLogRecorded):
            call_status_recorded.send(
                sender=CallLog, call_log=recorded.call_log, call_status=recorded.gateway_status
            )

    def answer(self, request: HttpRequest, recorded: list[Recorded | None]) -> HttpResponse:
        """The reply to a request that was handled; by default an empty 200."""
        return HttpResponse(status=200)
