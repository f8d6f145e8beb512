"""The notification admin's one search box: name, email, phone, address, gateway id, UUID.

What the term looks like decides where it is looked for, so that every lookup over the
notification table is an exact match on an indexed column:

* a UUID: the notification's id or its context id;
* a phone number in any common format (``07700 900102``, ``+44 7700 900102``,
  ``447700900102``): the address a message went to (E.164, and ``whatsapp:`` + E.164)
  and the recipients whose phone field holds that number as commonly written;
* an email address: the address a message went to, and recipients with that email (as
  typed or in lower case);
* a gateway id (``SM…``, one word of letters and digits): receipts with that id;
* anything else but a Twilio SID: recipients by name, login name or email (a ``LIKE``
  over the user table, bounded, never over the notifications).

The user lookups by phone and email are exact matches on the user model's columns; the
project's user model should index them (``docs/staff/index.rst``) for a large customer
base.

Users and receipts are looked up first (one bounded query each), so the final condition
is ``address IN (…) OR recipient_id IN (…) OR id IN (…)``: each arm an index lookup,
which PostgreSQL combines with a bitmap OR instead of scanning a million rows.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from ..models import DeliveryReceipt, Notification
from ..recipients import user_column, written_forms
from .phone_search import phone_search_terms

#: How many users or receipts a term may match before the search stops adding more:
#: enough for any real search, and the page shows at most a hundred rows anyway.
MATCH_LIMIT = 500

#: A Twilio resource SID (SM…, MM…, CA…): never a name, so no user is searched for it.
TWILIO_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")

#: One word that may be a gateway's message id (Twilio: SM/MM/CA + 32 hex digits; an
#: email backend's Message-ID is longer and has "@" and "<>").
GATEWAY_ID = re.compile(r"<?[\w.@:+=-]{6,100}>?")


def search_notifications(queryset: QuerySet[Notification], term: str) -> QuerySet[Notification]:
    """``queryset`` narrowed to what ``term`` finds (see the module's docstring)."""
    term = term.strip()
    if not term:
        return queryset
    condition = Q(pk__in=[])
    addresses: list[str] = []
    user_condition: Q | None = None
    as_uuid = parse_uuid(term)
    if as_uuid is not None:
        condition |= Q(pk=as_uuid) | Q(context_id=as_uuid)
    phones = phone_search_terms(term)
    if phones:
        addresses += phones + [f"whatsapp:{phone}" for phone in phones]
        phone_field = user_column("PHONE_ATTRIBUTE")
        if phone_field:
            user_condition = Q(**{f"{phone_field}__in": written_forms(phones)})
    elif "@" in term and " " not in term:
        addresses += sorted({term, term.lower()})
        email_field = user_column("EMAIL_ATTRIBUTE")
        if email_field:
            # Exact (as typed, and lower-cased), not iexact: a plain index on the
            # email column serves it, where UPPER(email) would need one of its own.
            user_condition = Q(**{f"{email_field}__in": sorted({term, term.lower()})})
    elif as_uuid is None and not TWILIO_SID.fullmatch(term) and "@" not in term:
        user_condition = name_condition(term)
    if addresses:
        condition |= Q(address__in=addresses)
    if user_condition is not None:
        user_ids = list(
            get_user_model()
            ._default_manager.filter(user_condition)
            .values_list("pk", flat=True)[:MATCH_LIMIT]
        )
        if user_ids:
            condition |= Q(recipient_id__in=user_ids)
    if as_uuid is None and not phones and GATEWAY_ID.fullmatch(term):
        notification_ids = list(
            DeliveryReceipt.objects.filter(gateway_message_id=term)
            .values_list("notification_id", flat=True)
            .distinct()[:MATCH_LIMIT]
        )
        if notification_ids:
            condition |= Q(pk__in=notification_ids)
    return queryset.filter(condition)


def parse_uuid(term: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(term)
    except ValueError:
        return None


def name_condition(term: str) -> Q:
    """Users whose name, login name or email contains every word of ``term``."""
    user_model: Any = get_user_model()
    field_names = {field.name for field in user_model._meta.get_fields()}
    columns = [
        name
        for name in (
            "first_name",
            "last_name",
            user_model.USERNAME_FIELD,
            user_model.get_email_field_name(),
        )
        if name in field_names
    ]
    condition = Q()
    for word in term.split()[:5]:
        any_column = Q()
        for column in columns:
            any_column |= Q(**{f"{column}__icontains": word})
        condition &= any_column
    return condition
