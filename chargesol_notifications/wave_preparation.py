"""The first half of a wave (see :mod:`.waves`): claiming its rows, building each
message, and settling those whose address is on the opt-out list."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router
from django.db.models import Exists, F, OuterRef
from django.db.models.lookups import Exact, IsNull

from .attempts import AttemptHistory, uncertain_attempt
from .backends import get_backend
from .backends.base import BaseChannelBackend, as_delivery_error
from .choices import NotificationStatus, ReceiptStatus
from .exceptions import PermanentDeliveryError, TransientDeliveryError
from .model_loading import attnames, builder, load_by_pk
from .models import DeliveryReceipt, Notification, NotificationTemplate
from .opt_outs import normal_address, opted_out
from .outgoing import address_used, build_message
from .pg_arrays import AnyOf
from .pg_timestamps import native_timestamps
from .unindexed import Unindexed
from .wave_decisions import Prepared

logger = logging.getLogger("chargesol_notifications.delivery")

#: What a claim reads of each notification: its fields, then whether it failed before.
CLAIM_COLUMNS: tuple[str, ...] = (*attnames(Notification), "has_failed_before")
STATUS_COLUMN = CLAIM_COLUMNS.index("status")
RECIPIENT_FIELD = Notification._meta.get_field("recipient")
TEMPLATE_FIELD = Notification._meta.get_field("template")


def claim(
    ids: Sequence[uuid.UUID], templates: dict[Any, NotificationTemplate]
) -> list[Notification]:
    """Lock the rows of ``ids`` still ``queued`` that no other worker holds; load them
    with their recipient and template, in the order of ``ids``. ``templates`` keeps the
    templates loaded so far, across the waves of one batch.

    The notifications come in one query and their recipients in a second, each built
    by :mod:`.model_loading` (joined, PostgreSQL hashed the whole user table on every
    wave of the benchmark, and Django built each user through ``Model.__init__``).
    Their timestamps are read by psycopg's compiled loader where it gives what Django's
    gives (:mod:`.pg_timestamps`).
    """
    alias = router.db_for_write(Notification)
    with native_timestamps(alias):
        claimed = lock_and_load(ids, alias)
        attach_recipients(claimed, alias)
        attach_templates(claimed, alias, templates)
    order = {pk: index for index, pk in enumerate(ids)}
    return sorted(claimed, key=lambda n: order[n.pk])


def lock_and_load(ids: Sequence[uuid.UUID], alias: str) -> list[Notification]:
    """The notifications of ``ids`` still ``queued``, locked where the database can lock
    rows, each with ``has_failed_before`` set (see :func:`failed_before`)."""
    features = connections[alias].features
    # No ORDER BY (the model's is created_at): claim() puts the rows in the order of ids.
    loading = (
        Notification.objects.using(alias)
        .annotate(has_failed_before=failed_before(alias))
        .order_by()
        .values_list(*CLAIM_COLUMNS)
    )
    if features.has_select_for_update_of:
        # PostgreSQL: one query locks and loads the rows (FOR UPDATE locks the rows of
        # the FROM list only, not those the subquery reads).
        rows = list(
            loading.filter(AnyOf(F("pk"), ids), status=NotificationStatus.QUEUED).select_for_update(
                skip_locked=True
            )
        )
    elif features.has_select_for_update:
        # MariaDB/MySQL: lock alone, with no subquery in the locking read (whose rows
        # InnoDB might lock too), then load.
        locked = list(
            Notification.objects.using(alias)
            .filter(AnyOf(F("pk"), ids), status=NotificationStatus.QUEUED)
            .order_by()
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)
        )
        rows = list(loading.filter(AnyOf(F("pk"), locked)))
    else:
        # SQLite: no row locks (one deliverer; Django leaves FOR UPDATE out). Without
        # statistics its planner answers "status = 'queued'" from the status index,
        # reading every queued row of the table on each wave (delivering a backlog of
        # 10,000, the 40 claims took 448 ms that way and 379 ms by the ids alone). So
        # the ids find the rows, and those no longer queued are left out here, in the
        # same transaction.
        rows = [
            row
            for row in loading.filter(AnyOf(F("pk"), ids))
            if row[STATUS_COLUMN] == NotificationStatus.QUEUED
        ]
    build = builder(Notification, alias)
    claimed: list[Notification] = []
    for row in rows:
        notification = build(row[:-1])
        notification.has_failed_before = row[-1]  # type: ignore[attr-defined]
        claimed.append(notification)
    return claimed


def attach_recipients(claimed: Sequence[Notification], alias: str) -> None:
    """Load the recipients of ``claimed`` in one query and cache each on its notification."""
    recipients = load_by_pk(RECIPIENT_FIELD.related_model, alias, (n.recipient_id for n in claimed))
    for notification in claimed:
        recipient = recipients.get(notification.recipient_id)
        if recipient is not None:  # else deleted meanwhile: reading it says so
            RECIPIENT_FIELD.set_cached_value(notification, recipient)


def attach_templates(
    claimed: Sequence[Notification], alias: str, templates: dict[Any, NotificationTemplate]
) -> None:
    """Cache each notification's template, loading those not in ``templates`` yet."""
    # A batch's notifications share one template, or a few: load each once, not per row.
    template_ids = {n.template_id for n in claimed if n.template_id is not None} - templates.keys()
    if template_ids:
        templates.update(NotificationTemplate.objects.using(alias).in_bulk(template_ids))
    for notification in claimed:
        if notification.template_id is not None:
            # None: deleted since the row was read; the stored body is what is sent.
            # Cached as assigning it would, without the descriptor's checks (the id is
            # the template's already).
            TEMPLATE_FIELD.set_cached_value(notification, templates.get(notification.template_id))


def failed_before(alias: str) -> Exists:
    """Whether the notification has a receipt of a failure before any gateway took it
    (the transient failures that count as attempts, see :mod:`.attempts`)."""
    failures = DeliveryReceipt.objects.filter(notification=OuterRef("pk"))
    if connections[alias].vendor == "sqlite":
        # By the notification's index: SQLite's planner, without statistics, prefers
        # the unique (gateway id, status) index, whose "gateway id IS NULL, failed"
        # holds every failure of the table before a gateway, read once per row.
        return Exists(
            failures.filter(
                Exact(Unindexed("status"), ReceiptStatus.FAILED),
                IsNull(Unindexed("gateway_message_id"), True),
            )
        )
    return Exists(failures.filter(status=ReceiptStatus.FAILED, gateway_message_id=None))


class WaveBackends(dict[str, BaseChannelBackend]):
    """This thread's backend of each channel, looked up once per wave."""

    def __missing__(self, channel: str) -> BaseChannelBackend:
        backend = self[channel] = get_backend(channel)
        return backend


def prepare(
    notification: Notification,
    history: AttemptHistory,
    extra: Mapping[str, Any],
    backends: WaveBackends,
) -> Prepared:
    """Build ``notification``'s message in this thread (the resolver may query)."""
    number = history.count + 1
    backend: BaseChannelBackend | None = None
    try:
        backend = backends[notification.channel]
        message = build_message(
            notification,
            backend,
            extra,
            uncertain_attempt=uncertain_attempt(notification, history),
        )
    except ImproperlyConfigured as exc:
        # A broken channel setting is fixed by a deploy, not by the message: keep the
        # notification for a retry (bounded like any transient failure), and let the
        # other channels go on.
        logger.error("Cannot deliver notification %s: %s", notification.pk, exc)
        error = TransientDeliveryError(str(exc), code="improperly_configured")
        return Prepared(notification, number, backend, error=error)
    except Exception as exc:
        # No address, a bad number, a body too long: the codes staff read. A resolver
        # that crashed goes by the backends' policy for unexpected errors.
        during = f"building the message of notification {notification.pk}"
        return Prepared(notification, number, backend, error=as_delivery_error(exc, during=during))
    return Prepared(notification, number, backend, message=message)


def refuse_opted_out(prepared: Sequence[Prepared]) -> list[Prepared]:
    """``prepared``, with the messages to opted-out addresses settled as ``opted_out``.

    One query for the whole wave (none when no message was built): the opt-out list
    answers with the (channel, address) pairs on it, so the receipt says where the
    message would have gone; the reason is on the opt-out's page in the admin.
    """
    built = {
        index: (item.notification.channel, address_used(item.message))
        for index, item in enumerate(prepared)
        if item.message is not None and item.error is None
    }
    if not built:
        return list(prepared)
    refused = opted_out(built.values())
    if not refused:
        return list(prepared)
    settled = list(prepared)
    for index, (channel, address) in built.items():
        if (channel, normal_address(channel, address)) in refused:
            error = PermanentDeliveryError(
                f"{address} is on the {channel} opt-out list; Opt-outs in the admin says why.",
                code="opted_out",
            )
            settled[index] = replace(prepared[index], error=error)
    return settled
