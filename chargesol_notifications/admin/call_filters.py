"""The call log changelist's filters whose choices Django would otherwise build from rows.

A ``list_filter = ("caller",)`` lists every user in the user table (a million customers
on ChargeSol's site) and ``("context_type",)`` runs a ``SELECT DISTINCT`` over every
call. These filters build their choices from fixed lists or from a bounded query instead.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ..choices import ContextType
from ..models import CallLog, display_name

#: The caller filter offers the people who made the most recent calls: this many calls
#: are read (newest first, on the called_at index) and at most MAX_CALLERS of their
#: callers listed. Anyone else is found by searching their username or email.
RECENT_CALLS = 500
MAX_CALLERS = 20

ME = "me"


class CallerFilter(admin.SimpleListFilter):
    """ "Me", then recent callers (bounded: see RECENT_CALLS), then anyone else by id."""

    title = _("caller")
    parameter_name = "caller"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        recent = CallLog.objects.order_by("-called_at").values_list("caller_id", flat=True)
        caller_ids = list(dict.fromkeys(recent[:RECENT_CALLS]))
        caller_ids = [pk for pk in caller_ids if pk != request.user.pk][:MAX_CALLERS]
        selected = self.selected_pk()
        if selected is not None and selected not in caller_ids and selected != request.user.pk:
            # Chosen from a link or a bookmark: shown, so the filter says what is applied.
            caller_ids.append(selected)
        users = get_user_model()._default_manager.filter(pk__in=caller_ids)
        choices = sorted(((str(user.pk), display_name(user)) for user in users), key=by_name)
        return [(ME, _("Me")), *choices]

    def queryset(self, request: HttpRequest, queryset: QuerySet[CallLog]) -> QuerySet[CallLog]:
        if self.value() is None:
            return queryset
        if self.value() == ME:
            return queryset.filter(caller=request.user.pk)
        selected = self.selected_pk()
        if selected is None:
            raise IncorrectLookupParameters(f"caller={self.value()!r} is not a user id")
        return queryset.filter(caller=selected)

    def selected_pk(self) -> Any:
        """The user id in the URL, read as the user model's key; None when there is none."""
        value = self.value()
        if value is None or value == ME:
            return None
        try:
            return get_user_model()._meta.pk.to_python(value)
        except ValidationError:
            return None


class ContextTypeFilter(admin.SimpleListFilter):
    """The context types of ``ContextType``, without reading a row."""

    title = _("context type")
    parameter_name = "context_type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(ContextType.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[CallLog]) -> QuerySet[CallLog]:
        if self.value() is None:
            return queryset
        return queryset.filter(context_type=self.value())


def by_name(choice: tuple[str, str]) -> str:
    return choice[1].casefold()
