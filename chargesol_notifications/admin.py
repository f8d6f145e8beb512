"""Admin registrations: staff browse messages, calls and receipts.

Users are picked with ``raw_id_fields`` (never a ``<select>`` of every user) and every
changelist joins what its columns show, so a page costs a fixed number of queries.

Notifications, receipts and call logs are the audit trail of what was said to customers:
nobody deletes them in the admin, superusers included. Rows leave those tables only
through the retention command or with their user (notifications and their receipts
cascade; a user who made calls is protected by their call logs).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .choices import Channel
from .forms import NotificationTemplateForm
from .models import CallLog, DeliveryReceipt, Notification, NotificationTemplate
from .segments import count_segments


def _user_search_fields(prefix: str) -> tuple[str, ...]:
    """Search the user's login name and email, whatever the custom user calls them."""
    user_model = get_user_model()
    names = {user_model.USERNAME_FIELD, user_model.get_email_field_name()}
    field_names = {field.name for field in user_model._meta.get_fields()}
    return tuple(f"{prefix}__{name}" for name in sorted(names) if name in field_names)


class ReadOnlyAdminMixin:
    """Rows written by the app and its webhooks: staff may look, not add or edit."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class NotDeletedInOwnAdminMixin:
    """Rows nobody deletes in their own admin pages, that still go with their user.

    Deleting a user in the user admin cascades to their notifications and receipts, and
    Django's confirmation page asks the admin of every model the deletion reaches for
    delete permission; refusing it outright there would make users undeletable. So the
    refusal is for requests to this admin's own views (delete view, "delete selected",
    the change page's delete link); a deletion started elsewhere gets the usual check of
    the model's delete permission. A request that does not say which view it is for is
    refused.
    """

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        match = getattr(request, "resolver_match", None)
        started_elsewhere = (
            match is not None and getattr(match.func, "model_admin", self) is not self
        )
        return started_elsewhere and super().has_delete_permission(request, obj)


class NeverDeletedAdminMixin:
    """Rows nobody deletes in the admin, and that no deletion in the admin reaches."""

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class DeliveryReceiptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DeliveryReceipt
    extra = 0
    can_delete = False
    fields = ("status", "gateway_message_id", "error_code", "error_message", "received_at")
    readonly_fields = fields
    ordering = ("received_at",)


@admin.register(NotificationTemplate)
class NotificationTemplateAdmin(admin.ModelAdmin):
    form = NotificationTemplateForm
    list_display = ("name", "channel", "is_active")
    list_filter = ("channel", "is_active")
    search_fields = ("name", "subject_template", "body_template")


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
        return (*_user_search_fields("recipient"), "=receipts__gateway_message_id", "=id")

    @admin.display(description=_("SMS parts"))
    def sms_segments(self, obj: Notification) -> str:
        if obj.channel != Channel.SMS:
            return "-"
        count = count_segments(obj.body)
        return f"{count.segments} ({count.encoding})"


@admin.register(CallLog)
class CallLogAdmin(NeverDeletedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Call logs hold their caller (``on_delete=PROTECT``), so no cascade reaches them."""

    list_display = (
        "called_at",
        "caller",
        "callee_phone",
        "call_type",
        "context_type",
        "outcome",
        "duration_seconds",
    )
    list_filter = ("call_type", "outcome", "context_type", ("called_at", admin.DateFieldListFilter))
    list_select_related = ("caller",)
    date_hierarchy = "called_at"
    raw_id_fields = ("caller",)

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return (*_user_search_fields("caller"), "callee_phone", "=context_id")


@admin.register(DeliveryReceipt)
class DeliveryReceiptAdmin(NotDeletedInOwnAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "received_at",
        "notification",
        "status",
        "gateway_message_id",
        "error_code",
    )
    list_filter = (
        "status",
        ("notification__channel", admin.ChoicesFieldListFilter),
        ("received_at", admin.DateFieldListFilter),
    )
    list_select_related = ("notification",)
    date_hierarchy = "received_at"
    raw_id_fields = ("notification",)
    search_fields = ("=gateway_message_id", "error_code")
