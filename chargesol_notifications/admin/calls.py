"""Call logs in the admin."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from ..models import CallLog
from .permissions import NeverDeletedAdminMixin, ReadOnlyAdminMixin
from .search import user_search_fields


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
        return (*user_search_fields("caller"), "callee_phone", "=context_id")
