"""A tiny receiver that checks Twilio signatures, for the stand-in's callback tests.

It validates like the app's webhooks must: ``WEBHOOK_BASE_URL`` + the request's path and
query, with ``RequestValidator``. Each request it sees is appended to :data:`received`.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from twilio.request_validator import RequestValidator

from chargesol_notifications.testing.twilio import DEFAULT_AUTH_TOKEN

received: list[dict[str, str]] = []


@csrf_exempt
def status(request: HttpRequest) -> HttpResponse:
    url = settings.CHARGESOL_NOTIFICATIONS["WEBHOOK_BASE_URL"] + request.get_full_path()
    params = request.POST if request.method == "POST" else {}
    signature = request.headers.get("X-Twilio-Signature", "")
    if not RequestValidator(DEFAULT_AUTH_TOKEN).validate(url, params, signature):
        return HttpResponse(status=403)
    source = request.POST if request.method == "POST" else request.GET
    received.append(source.dict())
    return HttpResponse(status=200)


urlpatterns = [
    path("notifications/twilio/message-status/", status),
    path("notifications/twilio/call-status/", status),
]
