"""Notifications in the admin: written by notify(), moved on by gateways, read by staff."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ..choices import Channel
from ..models import DeliveryReceipt, Notification
from ..segments import count_segments
from .permissions import NotDeletedInOwnAdminMixin, ReadOnlyAdminMixin
from .search import user_search_fields


class DeliveryReceiptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DeliveryReceipt
    extra = 0
    can_delete = False
    fields = ("status", "gateway_message_id", "error_code", "error_message", "received_at")
    readonly_fields = fields
    ordering = ("received_at",)


@admin.register(Notification)
class NotificationAdmin(NotDeletedInOwnAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Notifications are written by notify() and moved on by gateways, never by hand."""

    list_display = (
        "created_at",
        "recipient",
        "channel",
        "status",
        "context_type",
        "template",
        "sms_segments",
        "sent_at",
        "delivered_at",
    )
    list_filter = ("channel", "status", "context_type", ("created_at", admin.DateFieldListFilter))
    list_select_related = ("recipient", "template")
    date_hierarchy = "created_at"
    raw_id_fields = ("recipient", "template")
    readonly_fields = ("id", "created_at")
    inlines = [DeliveryReceiptInline]

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return (*user_search_fields("recipient"), "=receipts__gateway_message_id", "=id")

    @admin.display(description=_("SMS parts"))
    def sms_segments(self, obj: Notification) -> str:
        if obj.channel != Channel.SMS:
            return "-"
        count = count_segments(obj.body)
        return f"{count.segments} ({count.encoding})"
