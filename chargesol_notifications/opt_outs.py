"""The opt-out list: who must not be sent to on which channel, and why.

Every way onto the list goes through :func:`record_opt_out` (a STOP reply, a gateway's
21610 refusal, staff in the admin, an email hard bounce) and every way off through
:func:`lift_opt_out` (a START reply, staff). Delivery asks :func:`opted_out` once per
wave for the addresses it is about to send to.

Addresses are written as ``Notification.address`` writes them: E.164 for SMS and calls,
``whatsapp:+…`` for WhatsApp, the email address for email (compared in lower case).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .choices import Channel
from .models import InboundMessage, OptOut
from .pg_arrays import AnyOf


def normal_address(channel: str, address: str) -> str:
    """``address`` as the list keeps it: emails in lower case, others as given."""
    address = address.strip()
    return address.lower() if channel == Channel.EMAIL else address


def record_opt_out(
    channel: str,
    address: str,
    reason: str,
    *,
    detail: str = "",
    created_by: Any = None,
    inbound_message: InboundMessage | None = None,
) -> OptOut:
    """Put (``channel``, ``address``) on the list, or back on it; the row.

    An address already opted out keeps its first reason (the one staff need to see); one
    whose opt-out was lifted is opted out again with the new reason.
    """
    address = normal_address(channel, address)
    values = {
        "reason": reason,
        "detail": detail,
        "created_by": created_by,
        "inbound_message": inbound_message,
    }
    try:
        with transaction.atomic():
            return OptOut.objects.create(channel=channel, address=address, **values)
    except IntegrityError:
        pass  # on the list already (or a concurrent STOP put it there): update it below
    with transaction.atomic():
        existing = OptOut.objects.select_for_update().get(channel=channel, address=address)
        if existing.lifted_at is not None:
            for name, value in values.items():
                setattr(existing, name, value)
            existing.lifted_at = None
            existing.created_at = timezone.now()
            existing.save()
        return existing


def lift_opt_out(channel: str, address: str) -> bool:
    """Take (``channel``, ``address``) off the list; whether it was on it."""
    lifted = OptOut.objects.filter(
        channel=channel, address=normal_address(channel, address), lifted_at__isnull=True
    ).update(lifted_at=timezone.now())
    return bool(lifted)


def opted_out(pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of the (channel, address) ``pairs`` are opted out now, as
    (channel, :func:`normal_address`) pairs: one query, or none when there are no pairs."""
    wanted = {(channel, normal_address(channel, address)) for channel, address in pairs}
    if not wanted:
        return set()
    rows = (
        OptOut.objects.filter(
            AnyOf(F("address"), {address for _channel, address in wanted}),
            lifted_at__isnull=True,
            channel__in={channel for channel, _address in wanted},
        )
        .values_list("channel", "address")
        .order_by()  # the model's ORDER BY would be a sort for nothing
    )
    return {pair for pair in rows if pair in wanted}


def is_opted_out(channel: str, address: str) -> bool:
    return bool(opted_out([(channel, address)]))
