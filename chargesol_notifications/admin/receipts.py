"""Delivery receipts in the admin: read-only, never deleted by hand."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ..models import DeliveryReceipt
from .paging import FastCountAdminMixin
from .permissions import NotDeletedInOwnAdminMixin, ReadOnlyAdminMixin


@admin.register(DeliveryReceipt)
class DeliveryReceiptAdmin(
    FastCountAdminMixin, NotDeletedInOwnAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    """About two receipts per notification, the biggest table: counts are estimated or
    capped (``paging.py``), and nothing on the page reads every row."""

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
    # Newest first: what staff look for is today's, not the oldest receipt kept.
    ordering = ("-received_at",)
    # No date_hierarchy: its year links are a DISTINCT over every receipt's date (1.9 s
    # at 1.8 million receipts); the received_at filter above narrows by date for free.
    raw_id_fields = ("notification",)
    search_fields = ("=gateway_message_id", "=error_code")
    search_help_text = _("A gateway message id (SM…) or an error code (30003).")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[DeliveryReceipt], search_term: str
    ) -> tuple[QuerySet[DeliveryReceipt], bool]:
        # One exact match, chosen by the term's shape: Django's default ORs every search
        # field, so a gateway id search would also scan every row's error code.
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isdigit():
            return queryset.filter(error_code=term), False
        return queryset.filter(gateway_message_id=term), False
