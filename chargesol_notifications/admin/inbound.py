"""Customers' replies in the admin: read-only, found by number or by what they wrote.

The inbound webhook writes each SMS or WhatsApp reply once; staff read them here, never
edit or delete them. A reply's page links to the user who wrote it and to the
notification it answers; the notification's page lists its replies (:class:`ReplyInline`).

Search reads the term as a phone number first (``07700 900102`` in any common format:
``from_address IN (E.164, whatsapp:E.164)``, on the index), then as a Twilio message SID,
and otherwise as words of the body (``icontains``, every word, at most
:data:`MAX_WORDS`): the table holds a row per reply, far fewer than the notifications.
"""

from __future__ import annotations

import operator
from functools import reduce

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from ..arguments import UNSTORABLE_CHARACTERS
from ..models import InboundMessage, display_name
from .notification_search import TWILIO_SID
from .paging import FastCountAdminMixin
from .permissions import NeverDeletedAdminMixin, ReadOnlyAdminMixin
from .phone_search import phone_search_terms

#: How many words of a body search are used; more narrow nothing a person types.
MAX_WORDS = 5
#: How much of a reply the list shows; its page shows all of it.
BODY_IN_LIST = 80

#: What a reply's page shows, every field read-only.
REPLY_FIELDS = (
    "received_at",
    "channel",
    "from_address",
    "user",
    "body",
    "media_count",
    "opt_out_type",
    "in_reply_to",
    "to_address",
    "gateway_message_id",
)


def search_inbound(queryset: QuerySet[InboundMessage], term: str) -> QuerySet[InboundMessage]:
    """Replies from the number ``term`` means, with that SID, or with its words."""
    term = term.strip()
    if not term:
        return queryset
    if UNSTORABLE_CHARACTERS.search(term):
        return queryset.none()  # no row holds a NUL; PostgreSQL refuses one as a parameter
    phones = phone_search_terms(term.removeprefix("whatsapp:"))
    if phones:
        return queryset.filter(from_address__in=[*phones, *(f"whatsapp:{p}" for p in phones)])
    if TWILIO_SID.fullmatch(term):
        return queryset.filter(gateway_message_id=term)
    words = term.split()[:MAX_WORDS]
    return queryset.filter(reduce(operator.and_, (Q(body__icontains=word) for word in words)))


@admin.register(InboundMessage)
class InboundMessageAdmin(
    FastCountAdminMixin, NeverDeletedAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin
):
    """Replies are the customer's words, written by the webhook: read, never changed.

    No deletion reaches them (their user and notification are ``SET_NULL``)."""

    list_display = ("received_at", "sender", "channel", "message", "opt_out_type", "answers")
    list_filter = ("channel", ("received_at", admin.DateFieldListFilter))
    list_select_related = ("user", "in_reply_to")
    ordering = ("-received_at",)
    list_per_page = 50
    # "Show counts" would count each filter choice over the whole table.
    show_facets = admin.ShowFacets.NEVER
    fields = REPLY_FIELDS
    readonly_fields = REPLY_FIELDS
    search_help_text = _(
        "A number in any format (07700 900102), words of the reply, or a message id (SM…)."
    )

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        # Shows the search box; search_inbound() does the searching.
        return ("from_address", "body")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[InboundMessage], search_term: str
    ) -> tuple[QuerySet[InboundMessage], bool]:
        return search_inbound(queryset, search_term), False

    @admin.display(description=_("from"), ordering="from_address")
    def sender(self, obj: InboundMessage) -> str:
        if obj.user_id is None:
            return obj.from_address
        return f"{display_name(obj.user)} ({obj.from_address})"

    @admin.display(description=_("message"))
    def message(self, obj: InboundMessage) -> str:
        return Truncator(obj.body).chars(BODY_IN_LIST)

    @admin.display(description=_("in reply to"), ordering="in_reply_to__created_at")
    def answers(self, obj: InboundMessage) -> SafeString | str:
        notification = obj.in_reply_to
        if notification is None:
            return "-"
        text = f"{notification.get_channel_display()} {notification.created_at:%Y-%m-%d %H:%M}"
        if notification.context_type:
            text += f" ({notification.get_context_type_display()})"
        url = reverse(
            f"admin:{notification._meta.app_label}_{notification._meta.model_name}_change",
            args=[notification.pk],
            current_app=self.admin_site.name,
        )
        return format_html('<a href="{}">{}</a>', url, text)


class ReplyInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The replies to a notification, on its page (shown to staff who may view replies)."""

    model = InboundMessage
    fk_name = "in_reply_to"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("received_at", "from_address", "body", "opt_out_type")
    readonly_fields = fields
    ordering = ("received_at",)
    verbose_name_plural = _("replies from the customer, oldest first")
