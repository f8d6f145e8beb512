"""Delivery receipts in the admin: read-only, never deleted by hand."""

from __future__ import annotations

from django.contrib import admin

from ..models import DeliveryReceipt
from .paging import FastCountAdminMixin
from .permissions import NotDeletedInOwnAdminMixin, ReadOnlyAdminMixin


@admin.register(DeliveryReceipt)
class DeliveryReceiptAdmin(
    FastCountAdminMixin, NotDeletedInOwnAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    """About two receipts per notification: the biggest table, so counts are estimated
    or capped (``paging.py``)."""

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
    list_select_related = ("notification__recipient",)
    date_hierarchy = "received_at"
    raw_id_fields = ("notification",)
    search_fields = ("=gateway_message_id", "error_code")
