"""URLs of the webhook ingest benchmark: the app's, and the floor it is compared with.

The floor is the least a status-callback endpoint can do behind the same server: read
two form fields and the ``n`` of the query, and INSERT one row. No signature check, no
lookup, no status bookkeeping, no transaction of its own.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from chargesol_notifications.models import DeliveryReceipt


@csrf_exempt
@require_POST
def one_insert(request: HttpRequest) -> HttpResponse:
    """One INSERT per callback: the receipt, as the callback names it."""
    DeliveryReceipt.objects.create(
        notification_id=request.GET["n"],
        status=request.POST["MessageStatus"],
        gateway_message_id=request.POST["MessageSid"],
    )
    return HttpResponse(status=200)


urlpatterns = [
    path("floor/one-insert/", one_insert),
    path("notifications/", include("chargesol_notifications.urls")),
]
