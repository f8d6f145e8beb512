"""Notifications in the admin: written by notify(), moved on by gateways, read by staff.

The list answers "what happened to this customer's messages?" without opening anything:
who, which channel, a status badge, when a scheduled one goes and, for a failure, its
code and a sentence staff can read out. The failure comes from the newest failed
receipt, joined into the list's one query as two correlated subqueries (evaluated for
the rows on the page only). The page of a notification is read-only: its receipts in
time order, each failure explained, the address used, SMS segments, links to what it
was resent from or as, its escalation chain, and the customer's replies to it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from ..choices import Channel, NotificationStatus, ReceiptStatus
from ..conf import get_setting
from ..failure_reasons import failure_reason
from ..models import DeliveryReceipt, Notification, display_name
from ..segments import count_segments
from .inbound import ReplyInline
from .notification_actions import NotificationActionsMixin
from .notification_search import search_notifications
from .overview import overview_context
from .paging import FastCountAdminMixin
from .permissions import NotDeletedInOwnAdminMixin, ReadOnlyAdminMixin

#: How much of a failure reason the list shows; the page shows all of it.
REASON_IN_LIST = 90


def status_badge(status: str, label: str) -> SafeString:
    return format_html('<span class="csn-badge csn-badge-{}">{}</span>', status, label)


class ScheduleFilter(admin.SimpleListFilter):
    """Scheduled notifications still to go: later (``scheduled``) or now (``due``).

    ``due`` are those whose time has come and that are still queued: delivery is on its
    way, or, with a task backend that cannot defer, waiting for ``deliver_queued``.
    """

    title = _("scheduled / due")
    parameter_name = "schedule"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("scheduled", _("scheduled for later")), ("due", _("due, not sent yet"))]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Notification]
    ) -> QuerySet[Notification]:
        now = timezone.now()
        queued = queryset.filter(status=NotificationStatus.QUEUED)
        if self.value() == "scheduled":
            return queued.filter(scheduled_for__gt=now)
        if self.value() == "due":
            return queued.filter(scheduled_for__lte=now)
        return queryset


class DeliveryReceiptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DeliveryReceipt
    extra = 0
    can_delete = False
    fields = ("received_at", "status", "gateway_message_id", "error_code", "explanation")
    readonly_fields = fields
    ordering = ("received_at",)
    verbose_name_plural = _("receipts, oldest first")

    @admin.display(description=_("what it means"))
    def explanation(self, receipt: DeliveryReceipt) -> str:
        if receipt.status != ReceiptStatus.FAILED:
            return ""
        reason = failure_reason(receipt.error_code, receipt.error_message)
        # The gateway's own words too, when the sentence is ours and they add something.
        if receipt.error_message and receipt.error_message.strip() != reason:
            return f"{reason} ({receipt.error_message.strip()})"
        return reason


@admin.register(Notification)
class NotificationAdmin(
    FastCountAdminMixin,
    NotificationActionsMixin,
    NotDeletedInOwnAdminMixin,
    ReadOnlyAdminMixin,
    admin.ModelAdmin,
):
    """Notifications are written by notify() and moved on by gateways, never by hand."""

    list_display = (
        "created_at",
        "recipient_name",
        "channel",
        "status_badge",
        "failure",
        "context",
        "template",
        "scheduled_for",
        "sent_at",
        "delivered_at",
    )
    list_display_links = ("created_at", "recipient_name")
    list_filter = (
        "channel",
        "status",
        ScheduleFilter,
        "context_type",
        "template",
        ("created_at", admin.DateFieldListFilter),
    )
    list_select_related = ("recipient", "template")
    # Fifty rows: rendering a row costs more than its query (the action checkbox alone
    # renders a widget template), and staff narrow by search or filter anyway.
    list_per_page = 50
    # No date_hierarchy: its year links need a DISTINCT over every row's date.
    search_fields = ("address",)  # shows the box; get_search_results does the work
    search_help_text = _(
        "Name, email, phone (any format), the address used, a gateway id (SM…) or an id."
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "recipient_link",
                    "channel",
                    "status_badge",
                    "address",
                    "template",
                    "context_link",
                    "created_at",
                    "scheduled_for",
                    "sent_at",
                    "delivered_at",
                )
            },
        ),
        (_("Message"), {"fields": ("subject", "body", "sms_segments")}),
        (_("Resends"), {"fields": ("resent_from", "resent_as")}),
        (_("Escalation"), {"fields": ("escalation_chain", "fallback_channels")}),
    )
    readonly_fields = (
        "recipient_link",
        "status_badge",
        "context_link",
        "sms_segments",
        "resent_as",
        "escalation_chain",
        "created_at",
    )
    inlines = [DeliveryReceiptInline, ReplyInline]

    class Media:
        css = {"all": ["chargesol_notifications/admin.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notification]:
        newest_failure = DeliveryReceipt.objects.filter(
            notification=OuterRef("pk"), status=ReceiptStatus.FAILED
        ).order_by("-received_at")
        return (
            super()
            .get_queryset(request)
            .annotate(
                failure_code=Subquery(newest_failure.values("error_code")[:1]),
                failure_message=Subquery(newest_failure.values("error_message")[:1]),
            )
        )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Notification], search_term: str
    ) -> tuple[QuerySet[Notification], bool]:
        return search_notifications(queryset, search_term), False

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> Any:
        # The overview is about everything, so it tops the plain list only: a search or
        # a filter is a question about something else, and need not pay for it.
        if not set(request.GET) - {"p", "o"}:
            extra_context = {**(extra_context or {}), "overview": overview_context()}
        return super().changelist_view(request, extra_context)

    # -- columns and fields ------------------------------------------------------------

    @admin.display(description=_("recipient"), ordering="recipient__last_name")
    def recipient_name(self, obj: Notification) -> str:
        return display_name(obj.recipient)

    @admin.display(description=_("recipient"))
    def recipient_link(self, obj: Notification) -> SafeString | str:
        name = display_name(obj.recipient)
        url = admin_url(obj.recipient, "change")
        return format_html('<a href="{}">{}</a>', url, name) if url else name

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, obj: Notification) -> SafeString:
        return status_badge(obj.status, obj.get_status_display())

    @admin.display(description=_("why it failed"))
    def failure(self, obj: Notification) -> SafeString | str:
        if obj.status != "failed":
            return ""
        code = getattr(obj, "failure_code", None)
        reason = failure_reason(code, getattr(obj, "failure_message", "") or "")
        return format_html(
            '<span class="csn-failure"><code>{}</code> {}</span>',
            code or "",
            Truncator(reason).chars(REASON_IN_LIST),
        )

    @admin.display(description=_("context"), ordering="context_type")
    def context(self, obj: Notification) -> str:
        if not obj.context_type:
            return ""
        label = obj.get_context_type_display()
        return f"{label} {str(obj.context_id)[:8]}" if obj.context_id else str(label)

    @admin.display(description=_("context"))
    def context_link(self, obj: Notification) -> SafeString | str:
        text = (
            self.context(obj)
            if obj.context_id is None
            else (f"{obj.get_context_type_display()} {obj.context_id}")
        )
        url = context_url(obj.context_type, obj.context_id)
        return format_html('<a href="{}">{}</a>', url, text) if url else text

    @admin.display(description=_("SMS parts"))
    def sms_segments(self, obj: Notification) -> str:
        if obj.channel != Channel.SMS:
            return "-"
        count = count_segments(obj.body)
        return f"{count.segments} ({count.encoding})"

    @admin.display(description=_("resent as"))
    def resent_as(self, obj: Notification) -> SafeString | str:
        resends = obj.resends.order_by("created_at")[:20]
        links = (
            (admin_url(n, "change"), f"{n.created_at:%Y-%m-%d %H:%M} ({n.get_status_display()})")
            for n in resends
        )
        return format_html_join(", ", '<a href="{}">{}</a>', links) or "-"

    @admin.display(description=_("escalation chain"))
    def escalation_chain(self, obj: Notification) -> SafeString | str:
        """Every step of the chain ``obj`` is in, first to last: the others linked."""
        steps = escalation_steps(obj)
        if len(steps) == 1:
            return "-"
        items = []
        for step in steps:
            text = f"{step.get_channel_display()} ({step.get_status_display().lower()})"
            url = admin_url(step, "change") if step.pk != obj.pk else None
            if url:
                items.append(format_html('<li><a href="{}">{}</a></li>', url, text))
            else:
                items.append(format_html("<li><strong>{}</strong></li>", text))
        return format_html("<ol>{}</ol>", format_html_join("", "{}", ((i,) for i in items)))


#: A chain has a step per channel at most; the walk stops there whatever the rows say.
MAX_CHAIN_STEPS = len(Channel.values)


def escalation_steps(notification: Notification) -> list[Notification]:
    """The steps before ``notification`` (up ``escalated_from``) and after it (down its
    escalations), in order; a query per step, and one more to find there is no next."""
    before: list[Notification] = []
    current = notification
    while current.escalated_from_id is not None and len(before) < MAX_CHAIN_STEPS:
        current = Notification.objects.get(pk=current.escalated_from_id)
        before.insert(0, current)
    after: list[Notification] = []
    current = notification
    while len(after) < MAX_CHAIN_STEPS:
        # No ORDER BY (a step escalates once, so there is one next step at most): with
        # the model's -created_at ordering, PostgreSQL walks the created_at index of a
        # million rows looking for it instead of using escalated_from's.
        following = next(
            iter(Notification.objects.filter(escalated_from=current).order_by()[:1]), None
        )
        if following is None:
            break
        after.append(following)
        current = following
    return [*before, notification, *after]


def admin_url(obj: Any, view: str) -> str | None:
    """The admin URL of ``obj``'s ``view`` page, or None when its model is not registered."""
    meta = obj._meta
    try:
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=[obj.pk])
    except NoReverseMatch:
        return None


def context_url(context_type: str, context_id: Any) -> str | None:
    """The host project's page of the object that triggered a notification, if it
    registered one for ``context_type`` in the ``CONTEXT_URLS`` setting."""
    if not context_type or context_id is None:
        return None
    name = (get_setting("CONTEXT_URLS") or {}).get(context_type)
    if not name:
        return None
    try:
        return reverse(name, args=[context_id])
    except NoReverseMatch:
        return None
