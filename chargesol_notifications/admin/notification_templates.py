"""Notification templates in the admin: staff edit them, so they are checked like input.

Beside the editor, a live preview renders what staff type (``preview/``, JSON for the
page's script); "send a test to me" queues the saved template to the signed-in staff
member (``<id>/test-send/``). Anyone who may view templates may preview; changing,
activating, deactivating and test-sending need the change permission.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..choices import TemplateChannel
from ..forms import NotificationTemplateAdminForm
from ..models import Notification, NotificationTemplate
from ..outgoing import content_sid_for
from ..template_preview import preview, send_test

#: How far back the "used" column counts notifications.
USAGE_WINDOW = timedelta(days=30)


def with_recent_uses(queryset: QuerySet[NotificationTemplate]) -> QuerySet[NotificationTemplate]:
    """``queryset`` with ``recent_uses``: notifications made from each template in the
    last 30 days, counted in the same query (a correlated subquery, so the changelist
    costs the same whatever the number of rows)."""
    since = timezone.now() - USAGE_WINDOW
    uses = (
        Notification.objects.filter(template=OuterRef("pk"), created_at__gte=since)
        .order_by()
        .values("template")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return queryset.annotate(recent_uses=Coalesce(Subquery(uses, output_field=IntegerField()), 0))


@admin.register(NotificationTemplate)
class NotificationTemplateAdmin(admin.ModelAdmin):
    form = NotificationTemplateAdminForm
    list_display = ("name", "channel", "is_active", "used_last_30_days")
    list_filter = ("channel", "is_active")
    search_fields = ("name", "subject_template", "body_template")
    actions = ["activate", "deactivate"]
    readonly_fields = ("used_last_30_days", "whatsapp_content_sid")

    def get_queryset(self, request: HttpRequest) -> QuerySet[NotificationTemplate]:
        return with_recent_uses(super().get_queryset(request))

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        # sample_context is not listed: the preview panel beside the fields shows it.
        fields: list[str] = ["name", "channel", "is_active", "subject_template", "body_template"]
        if obj is not None:
            fields.append("used_last_30_days")
            if obj.channel == TemplateChannel.WHATSAPP:
                fields.append("whatsapp_content_sid")
        return [(None, {"fields": fields})]

    # -- columns and read-only fields ------------------------------------------------------

    @admin.display(description=_("used (30 days)"), ordering="recent_uses")
    def used_last_30_days(self, obj: NotificationTemplate) -> int:
        uses = getattr(obj, "recent_uses", None)
        if uses is None:  # an instance that did not come from get_queryset()
            since = timezone.now() - USAGE_WINDOW
            uses = obj.notifications.filter(created_at__gte=since).count()
        return int(uses)

    @admin.display(description=_("WhatsApp Content SID"))
    def whatsapp_content_sid(self, obj: NotificationTemplate) -> str:
        sid = content_sid_for(obj.name)
        if sid:
            return str(sid)
        return str(
            _(
                "Not mapped: sent as free-form text, which WhatsApp refuses outside the "
                "24-hour customer service window (Twilio error 63016). Developers map a "
                "template to its approved Content SID in WHATSAPP_CONTENT_TEMPLATES."
            )
        )

    # -- actions --------------------------------------------------------------------------

    @admin.action(description=_("Activate selected templates"), permissions=["change"])
    def activate(self, request: HttpRequest, queryset: QuerySet[NotificationTemplate]) -> None:
        changed = queryset.filter(is_active=False).update(is_active=True)
        message = ngettext(
            "%(count)d template activated.", "%(count)d templates activated.", changed
        )
        self.message_user(request, message % {"count": changed}, messages.SUCCESS)

    @admin.action(description=_("Deactivate selected templates"), permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[NotificationTemplate]) -> None:
        changed = queryset.filter(is_active=True).update(is_active=False)
        message = ngettext(
            "%(count)d template deactivated.", "%(count)d templates deactivated.", changed
        )
        self.message_user(request, message % {"count": changed}, messages.SUCCESS)

    # -- preview and test-send views -----------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "preview/",
                self.admin_site.admin_view(self.preview_view),
                name=self._url_name("preview"),
            ),
            path(
                "<path:object_id>/test-send/",
                self.admin_site.admin_view(self.test_send_view),
                name=self._url_name("test_send"),
            ),
        ]
        return own + super().get_urls()

    def _url_name(self, view: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{view}"

    def _url(self, view: str, *args: Any) -> str:
        return reverse(f"{self.admin_site.name}:{self._url_name(view)}", args=args)

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """The rendered subject and body of the posted fields, as JSON (never HTML)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        data = request.POST
        result = preview(
            name=data.get("name", ""),
            channel=data.get("channel", ""),
            subject_source=data.get("subject_template", ""),
            body_source=data.get("body_template", "").replace("\r\n", "\n"),
            typed_sample=data.get("sample_context", ""),
        )
        return JsonResponse(result)

    def test_send_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Queue the saved template to the signed-in staff member; report with a message."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        template = self.get_object(request, unquote(object_id))
        if template is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_change_permission(request, template):
            raise PermissionDenied
        result = send_test(template, request.user, request.POST.get("sample_context", ""))
        level = messages.SUCCESS if result.notification is not None else messages.ERROR
        self.message_user(request, result.message, level)
        return HttpResponseRedirect(self._url("change", template.pk))

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: NotificationTemplate | None = None,
    ) -> HttpResponse:
        can_test = obj is not None and self.has_change_permission(request, obj)
        context.update(
            preview_url=self._url("preview"),
            test_send_url=self._url("test_send", obj.pk) if can_test and obj else "",
            # What the preview renders when the page has no inputs for these fields
            # (a view-only user sees them as text).
            saved_template={
                "name": obj.name if obj else "",
                "channel": obj.channel if obj else "",
                "subject_template": obj.subject_template if obj else "",
                "body_template": obj.body_template if obj else "",
            },
        )
        return super().render_change_form(request, context, add, change, form_url, obj)
