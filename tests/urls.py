from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def context_page(request: HttpRequest, pk: object) -> HttpResponse:
    """Stands for a host project's page of an installation (the CONTEXT_URLS setting)."""
    return HttpResponse(f"installation {pk}")


urlpatterns = [
    path("admin/", admin.site.urls),
    path("notifications/", include("chargesol_notifications.urls")),
    path("context/installation/<uuid:pk>/", context_page, name="testapp-context"),
]
