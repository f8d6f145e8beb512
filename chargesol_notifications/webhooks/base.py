"""The loop every Twilio webhook shares: validate the signature, parse, handle.

Subclasses fill in :meth:`TwilioWebhookView.handle`, which receives the POSTed form and
the query of the signed URL, and raise :class:`MalformedWebhook` for a payload they cannot
read. A request whose ``X-Twilio-Signature`` does not match is answered 403 before
anything is read or written.
"""

from __future__ import annotations

import logging
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from twilio.request_validator import RequestValidator

from ..backends import backends
from ..choices import Channel
from ..conf import get_setting
from ..exceptions import NotificationError, WebhookValidationError

logger = logging.getLogger("chargesol_notifications.webhooks")


class MalformedWebhook(NotificationError):
    """The payload lacks what the webhook needs, or has values it cannot read (HTTP 400)."""


def twilio_auth_tokens() -> list[str]:
    """The auth tokens of the configured Twilio backends: Twilio signs with these."""
    tokens: list[str] = []
    for channel in (Channel.SMS, Channel.WHATSAPP, Channel.CALL):
        token = getattr(backends[channel], "auth_token", "")
        if token and token not in tokens:
            tokens.append(token)
    return tokens


def public_url(request: HttpRequest) -> str:
    """The URL Twilio called, as Twilio saw it: ``WEBHOOK_BASE_URL`` + path + query.

    Behind TLS termination or a proxy the request Django sees has another scheme, host
    or port than the one Twilio signed, so the host part comes from the setting.
    """
    base = (get_setting("WEBHOOK_BASE_URL") or "").rstrip("/")
    return f"{base}{request.get_full_path()}"


def validate_signature(request: HttpRequest) -> None:
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        raise WebhookValidationError("The request has no X-Twilio-Signature.")
    url = public_url(request)
    params = request.POST
    for token in twilio_auth_tokens():
        if RequestValidator(token).validate(url, params, signature):
            return
    raise WebhookValidationError(f"The X-Twilio-Signature does not match {url}.")


@method_decorator(csrf_exempt, name="dispatch")
class TwilioWebhookView(View):
    """POST-only, CSRF-exempt, signature-checked: the shape of every Twilio webhook."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            validate_signature(request)
        except WebhookValidationError as exc:
            logger.warning("Rejected %s: %s", request.path, exc)
            return HttpResponseForbidden("Invalid Twilio signature.")
        try:
            return self.handle(request.POST, request.GET)
        except MalformedWebhook as exc:
            logger.warning("Malformed %s: %s", request.path, exc)
            return HttpResponseBadRequest(str(exc))

    def handle(self, form: Any, query: Any) -> HttpResponse:
        raise NotImplementedError(f"{type(self).__name__} must implement handle().")


def required(form: Any, name: str) -> str:
    value = form.get(name, "")
    if not value:
        raise MalformedWebhook(f"{name} is missing.")
    return str(value)
