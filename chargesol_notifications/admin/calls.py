"""Call logs in the admin: staff log calls made by hand and place calls (click-to-call).

A call log is a record of what was said to a customer: once written it is read-only here,
and nobody deletes one. The caller of a call logged by hand is whoever is signed in, not
a choice: staff record their own calls, and the log cannot say that someone else made a
call they did not.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import router, transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ..calls import place_call
from ..choices import Channel
from ..exceptions import InvalidCallError, InvalidPhoneNumberError
from ..models import CallLog, Notification, display_name
from ..recipients import normalise_phone, resolve_address
from .call_durations import format_duration
from .call_filters import CallerFilter, ContextTypeFilter
from .call_forms import CallLogAddForm, CallLogViewForm, PlaceCallForm
from .call_search import search_call_logs
from .paging import FastCountAdminMixin
from .permissions import NeverDeletedAdminMixin

CALL_URL_NAME = "chargesol_notifications_calllog_call"

#: What the page of a saved call log shows, every one of them read-only.
LOGGED_FIELDS = (
    "caller_name",
    "callee_phone",
    "call_type",
    "context_type",
    "context_id",
    "outcome",
    "duration",
    "notes",
    "called_at",
)


@admin.register(CallLog)
class CallLogAdmin(FastCountAdminMixin, NeverDeletedAdminMixin, admin.ModelAdmin):
    """Call logs hold their caller (``on_delete=PROTECT``), so no cascade reaches them."""

    form = CallLogViewForm
    add_form = CallLogAddForm
    add_fields = ("callee_phone", "call_type", "context_type", "context_id", "outcome")
    list_display = (
        "called_at",
        "caller_name",
        "callee_phone",
        "call_type",
        "context_type",
        "outcome",
        "duration",
    )
    list_filter = (
        "call_type",
        "outcome",
        CallerFilter,
        ContextTypeFilter,
        ("called_at", admin.DateFieldListFilter),
    )
    list_select_related = ("caller",)
    # No date_hierarchy: its year and month links come from a SELECT DISTINCT over every
    # call. Counts are FastCountAdminMixin's (estimated or capped); "Show counts" would
    # count each filter choice over the whole table, so it is off.
    show_facets = admin.ShowFacets.NEVER
    search_help_text = _(
        "A number in any format (07700 900102), a caller's username or email, or a context id."
    )

    # -- permissions: add by hand, never change or delete ------------------------------

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_place_call_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.place_call")

    # -- the add form and the read-only page ---------------------------------------------

    def get_fieldsets(self, request: HttpRequest, obj: CallLog | None = None) -> Any:
        if obj is not None:
            return [(None, {"fields": LOGGED_FIELDS})]
        caller = gettext("You, %(name)s, are recorded as the caller.") % {
            "name": display_name(request.user)
        }
        fields = (*self.add_fields, "duration", "notes")
        return [(None, {"fields": fields, "description": caller})]

    def get_readonly_fields(self, request: HttpRequest, obj: CallLog | None = None) -> Any:
        return LOGGED_FIELDS if obj is not None else ()

    def get_form(
        self, request: HttpRequest, obj: CallLog | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            # A subclass per request carries the signed-in user: the admin builds the
            # form from the class and gives it no request.
            kwargs["form"] = type("CallLogAddForm", (self.add_form,), {"caller": request.user})
        return super().get_form(request, obj, change=change, **kwargs)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_place_call": self.can_call(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    def can_call(self, request: HttpRequest) -> bool:
        return self.has_place_call_permission(request) and self.has_view_permission(request)

    # -- the changelist ----------------------------------------------------------------

    @admin.display(description=_("caller"), ordering="caller")
    def caller_name(self, obj: CallLog) -> str:
        return display_name(obj.caller)

    @admin.display(description=_("duration"), ordering="duration_seconds")
    def duration(self, obj: CallLog) -> str:
        return format_duration(obj.duration_seconds) or "-"

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        # What the search box covers; the changelist shows the box only when this is
        # not empty. get_search_results() below does the searching, on indexes.
        return ("callee_phone", "caller", "context_id")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[CallLog], search_term: str
    ) -> tuple[QuerySet[CallLog], bool]:
        return search_call_logs(queryset, search_term), False

    # -- click-to-call -----------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        # Before the default URLs: their "<path:object_id>/" would take "call/".
        call = path("call/", self.admin_site.admin_view(self.call_view), name=CALL_URL_NAME)
        return [call, *super().get_urls()]

    def call_view(self, request: HttpRequest) -> HttpResponse:
        """Confirm a call (GET), then place it and open its new log (POST).

        ``?call_log=<id>`` calls the number of that call again; ``?notification=<id>``
        calls the recipient of that notification. Both prefill the form, which staff
        can change before calling.
        """
        if not self.has_place_call_permission(request):
            raise PermissionDenied
        initial = self.call_initial(request)
        form = PlaceCallForm(request.POST if request.method == "POST" else None, initial=initial)
        if form.is_valid():
            try:
                with transaction.atomic(using=router.db_for_write(CallLog)):
                    call_log = place_call(caller=request.user, **form.call_arguments())
            except InvalidCallError as exc:
                # The caller's own phone is missing or unusable: nothing was written.
                form.add_error(None, str(exc))
            else:
                return self.call_placed(request, call_log)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Place a call"),
            "opts": self.opts,
            "form": form,
            "caller_phone": phone_of(request.user),
            "has_view_permission": self.has_view_permission(request),
        }
        return TemplateResponse(request, "admin/chargesol_notifications/calllog/call.html", context)

    def call_placed(self, request: HttpRequest, call_log: CallLog) -> HttpResponse:
        self.log_addition(request, call_log, [{"added": {}}])
        self.message_user(
            request,
            gettext(
                "Calling %(number)s. Your phone rings when they answer; the outcome and "
                "duration appear on this page when the call ends."
            )
            % {"number": call_log.callee_phone},
            messages.SUCCESS,
        )
        if self.has_view_permission(request, call_log):
            url = reverse(f"admin:{self.opts.app_label}_calllog_change", args=[call_log.pk])
        else:
            url = reverse("admin:index", current_app=self.admin_site.name)
        return HttpResponseRedirect(url)

    def call_initial(self, request: HttpRequest) -> dict[str, Any]:
        """The form's first values, from the call log or notification named in the URL.

        Only what the user may see: a source they may not view is refused.
        """
        if "call_log" in request.GET:
            call_log = get_object_or_404(CallLog, pk=uuid_or_404(request.GET["call_log"]))
            if not self.has_view_permission(request, call_log):
                raise PermissionDenied
            return {
                "callee_phone": call_log.callee_phone,
                "call_type": call_log.call_type,
                "context_type": call_log.context_type,
                "context_id": call_log.context_id,
            }
        if "notification" in request.GET:
            notification = get_object_or_404(
                Notification.objects.select_related("recipient"),
                pk=uuid_or_404(request.GET["notification"]),
            )
            notification_admin = self.admin_site.get_model_admin(Notification)
            if not notification_admin.has_view_permission(request, notification):
                raise PermissionDenied
            return {
                "callee_phone": phone_of(notification.recipient),
                "context_type": notification.context_type,
                "context_id": notification.context_id,
            }
        return {}


def uuid_or_404(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Http404(f"{value!r} is not an id") from None


def phone_of(user: Any) -> str:
    """The user's number for calls, in E.164 when it reads as one (else as written, for
    staff to correct on the form); empty when they have none."""
    address = resolve_address(user, Channel.CALL)
    if not isinstance(address, str):
        return ""
    try:
        return normalise_phone(address)
    except InvalidPhoneNumberError:
        return address
