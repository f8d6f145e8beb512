"""The opt-out list in the admin: why each address is on it, add one by hand, lift some.

Staff add an opt-out when a customer asks by phone: the channel and the address as they
would write it (``07700 900102``), stored as delivery compares it (E.164,
``whatsapp:+…``, an email in lower case); the reason is ``staff`` and the one who added
it is whoever is signed in. A saved opt-out is never edited: lifting it (the "Lift
selected opt-outs" action, gated by the model's change permission) is the one change,
and the row stays as the record of both. Nobody deletes one.

Every way on and off the list goes through :mod:`chargesol_notifications.opt_outs`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.formats import date_format
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from ..arguments import UNSTORABLE_CHARACTERS
from ..choices import Channel, OptOutReason
from ..exceptions import InvalidPhoneNumberError
from ..models import OptOut, display_name
from ..opt_outs import lift_opt_out, normal_address, record_opt_out
from ..recipients import PHONE_CHANNELS, normalise_phone
from .paging import FastCountAdminMixin
from .permissions import NeverDeletedAdminMixin
from .phone_search import phone_search_terms

#: The lift action touches at most this many opt-outs ("select all" on a long list).
MAX_ROWS = 1000

#: Channels staff can opt an address out of: every one with an address a person can
#: tell over the phone (a push token is not one).
ADDABLE_CHANNELS = [(value, label) for value, label in Channel.choices if value != Channel.PUSH]

#: What the page of a saved opt-out shows, every field read-only.
OPT_OUT_FIELDS = (
    "channel",
    "address",
    "reason",
    "detail",
    "inbound_message",
    "created_by",
    "created_at",
    "lifted_at",
)

#: Reasons the gateway itself keeps to: lifting ours does not make Twilio send again.
GATEWAY_KEEPS = frozenset({OptOutReason.STOP_KEYWORD, OptOutReason.GATEWAY_REFUSED})


def listed_address(channel: str, text: str) -> str:
    """``text`` as the opt-out list keeps it for ``channel``, or a ``ValidationError``.

    Numbers in any common format become E.164 (``whatsapp:`` + E.164 for WhatsApp);
    email addresses are checked and lower-cased.
    """
    text = text.strip()
    if channel == Channel.EMAIL:
        validate_email(text)
        return normal_address(channel, text)
    if channel not in PHONE_CHANNELS:
        raise ValidationError(_("Opt-outs by hand are for phone numbers and email addresses."))
    try:
        number = normalise_phone(text.removeprefix("whatsapp:"))
    except InvalidPhoneNumberError as exc:
        raise ValidationError(str(exc), code="invalid_phone") from exc
    return f"whatsapp:{number}" if channel == Channel.WHATSAPP else number


class OptOutAddForm(forms.ModelForm):
    """An opt-out a customer asked for by phone; the admin records who added it."""

    channel = forms.ChoiceField(label=_("Channel"), choices=[("", "---------"), *ADDABLE_CHANNELS])
    address = forms.CharField(
        label=_("Address"),
        # Longer than E.164: what staff type has spaces and brackets.
        max_length=255,
        help_text=_("The number as you would dial it (07700 900102), or the email address."),
    )

    class Meta:
        model = OptOut
        fields = ("channel", "address", "detail")
        help_texts = {"detail": _("What the customer asked for, and when.")}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        channel, address = cleaned.get("channel"), cleaned.get("address")
        if not channel or not address:
            return cleaned
        try:
            cleaned["address"] = listed_address(channel, address)
        except ValidationError as exc:
            self.add_error("address", exc)
            return cleaned
        existing = OptOut.objects.filter(channel=channel, address=cleaned["address"]).first()
        if existing is not None and existing.is_active:
            raise ValidationError(
                gettext("%(address)s is already opted out of %(channel)s since %(date)s: %(why)s.")
                % {
                    "address": existing.address,
                    "channel": existing.get_channel_display(),
                    "date": date_format(existing.created_at, "DATE_FORMAT"),
                    "why": existing.get_reason_display(),
                },
                code="already_opted_out",
            )
        if existing is not None:
            # Lifted earlier: the same row goes back on the list (one row per address).
            self.instance = existing
        return cleaned


class ActiveFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", _("Active")), ("lifted", _("Lifted"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[OptOut]) -> QuerySet[OptOut]:
        if self.value() == "active":
            return queryset.filter(lifted_at__isnull=True)
        if self.value() == "lifted":
            return queryset.filter(lifted_at__isnull=False)
        return queryset


def search_opt_outs(queryset: QuerySet[OptOut], term: str) -> QuerySet[OptOut]:
    """Opt-outs of the number ``term`` means (any format, SMS and WhatsApp), or of that
    email address; exact matches on the (channel, address) index."""
    term = term.strip()
    if not term:
        return queryset
    if UNSTORABLE_CHARACTERS.search(term):
        return queryset.none()
    phones = phone_search_terms(term.removeprefix("whatsapp:"))
    if phones:
        return queryset.filter(address__in=[*phones, *(f"whatsapp:{p}" for p in phones)])
    return queryset.filter(address=normal_address(Channel.EMAIL, term))


@admin.register(OptOut)
class OptOutAdmin(FastCountAdminMixin, NeverDeletedAdminMixin, admin.ModelAdmin):
    """The opt-out list: added by STOP, the gateway, bounces and staff; lifted here."""

    add_form = OptOutAddForm
    list_display = (
        "created_at",
        "address",
        "channel",
        "reason",
        "active",
        "added_by",
    )
    list_filter = (
        ActiveFilter,
        "channel",
        "reason",
        ("created_at", admin.DateFieldListFilter),
    )
    list_select_related = ("created_by",)
    ordering = ("-created_at",)
    show_facets = admin.ShowFacets.NEVER
    actions = ["lift_selected"]
    search_help_text = _("A number in any format (07700 900102), or an email address.")

    # -- permissions: add, lift, never edit or delete ------------------------------------

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # A saved opt-out is a record, never edited; the model's change permission allows
        # lifting (the action), which the list checks without an object.
        return obj is None and super().has_change_permission(request)

    # -- the add form and the read-only page ---------------------------------------------

    def get_fieldsets(self, request: HttpRequest, obj: OptOut | None = None) -> Any:
        if obj is not None:
            return [(None, {"fields": OPT_OUT_FIELDS})]
        description = gettext(
            "Recorded as added by staff, by you, %(name)s. Nothing more is sent to this "
            "address on this channel until the opt-out is lifted."
        ) % {"name": display_name(request.user)}
        return [(None, {"fields": ("channel", "address", "detail"), "description": description})]

    def get_readonly_fields(self, request: HttpRequest, obj: OptOut | None = None) -> Any:
        return OPT_OUT_FIELDS if obj is not None else ()

    def get_form(
        self, request: HttpRequest, obj: OptOut | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request: HttpRequest, obj: OptOut, form: Any, change: bool) -> None:
        row = record_opt_out(
            obj.channel,
            obj.address,
            OptOutReason.STAFF,
            detail=obj.detail,
            created_by=request.user,
        )
        # The admin goes on with ``obj`` (its history entry, the redirect): make it the row.
        obj.pk = row.pk
        obj.refresh_from_db()

    # -- the list ------------------------------------------------------------------------

    @admin.display(description=_("active"), boolean=True, ordering="lifted_at")
    def active(self, obj: OptOut) -> bool:
        return obj.is_active

    @admin.display(description=_("added by"), ordering="created_by")
    def added_by(self, obj: OptOut) -> str:
        return display_name(obj.created_by) if obj.created_by_id else ""

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        # Shows the search box; search_opt_outs() does the searching.
        return ("address",)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[OptOut], search_term: str
    ) -> tuple[QuerySet[OptOut], bool]:
        return search_opt_outs(queryset, search_term), False

    # -- lifting -------------------------------------------------------------------------

    @admin.action(permissions=["change"], description=_("Lift selected opt-outs"))
    def lift_selected(self, request: HttpRequest, queryset: QuerySet[OptOut]) -> None:
        active = list(queryset.filter(lifted_at__isnull=True).order_by()[: MAX_ROWS + 1])
        if len(active) > MAX_ROWS:
            self.message_user(
                request,
                gettext("Select at most %(max)d active opt-outs at a time.") % {"max": MAX_ROWS},
                messages.ERROR,
            )
            return
        lifted = [row for row in active if lift_opt_out(row.channel, row.address)]
        for row in lifted:
            self.log_change(request, row, gettext("Lifted the opt-out."))
        text = ngettext(
            "Lifted %(count)d opt-out: messages to that address are sent again.",
            "Lifted %(count)d opt-outs: messages to those addresses are sent again.",
            len(lifted),
        ) % {"count": len(lifted)}
        self.message_user(request, text, messages.SUCCESS)
        at_gateway = [row.address for row in lifted if row.reason in GATEWAY_KEEPS]
        if at_gateway:
            self.message_user(
                request,
                gettext(
                    "Twilio keeps refusing %(addresses)s until the customer replies START "
                    "themselves."
                )
                % {"addresses": ", ".join(at_gateway[:5])},
                messages.WARNING,
            )
