"""Data retention: delete old notifications (with their receipts) and old call logs.

This is the one way rows leave the app's tables apart from deleting a user (the admin
deletes nothing). Tables may hold millions of rows, so the work goes in batches, each in
a transaction of its own:

1. ``SELECT`` the next batch of primary keys, oldest first (``ORDER BY created_at``),
   locking those rows (``FOR UPDATE``) so nobody requeues or resends one in between;
2. clear ``resent_from`` of the notifications that repeat one of them,
   ``escalated_from`` of the escalation steps that follow one of them, and
   ``in_reply_to`` of the customers' replies to them (both ``SET_NULL``, which Django
   emulates in Python, so the database would refuse);
3. ``DELETE`` their receipts by notification id (no reliance on ``ON DELETE CASCADE``,
   which Django does not create);
4. ``DELETE`` the notifications by id.

Locks last one batch. Memory holds one batch of ids: nothing is collected in Python, so
no ``pre_delete``/``post_delete`` signals are sent (as with ``QuerySet.update()``).

Each batch deletes every row it selects, so the next one starts from the time of the
last row of the previous batch (``created_at >= t``): notifications that are kept (still
queued) are stepped over once, instead of being scanned again by every batch.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connections, models, router, transaction
from django.db.models import QuerySet

from .choices import NotificationStatus
from .models import CallLog, DeliveryReceipt, InboundMessage, Notification

DEFAULT_BATCH_SIZE = 1000
MAX_BATCH_SIZE = 10_000

# Hours, days, weeks. No "m": minutes or months, the reader cannot tell; no "y": a year
# is 365 or 366 days. A bare number is refused for the same reason.
UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
AGE = re.compile(r"(?P<count>[0-9]+)(?P<unit>[a-z])")


@dataclass(frozen=True)
class Batch:
    """What one batch deleted (or, in a dry run, would delete)."""

    rows: int
    receipts: int = 0


@dataclass(frozen=True)
class Purged:
    """Totals of a purge: notifications and their receipts, or call logs (``rows``)."""

    rows: int = 0
    receipts: int = 0
    batches: int = 0

    def __add__(self, batch: Batch) -> Purged:
        return Purged(self.rows + batch.rows, self.receipts + batch.receipts, self.batches + 1)


OnBatch = Callable[[Purged], None]


def parse_age(text: str) -> timedelta:
    """``"365d"`` -> 365 days. Units are ``h``, ``d`` and ``w``; the count must be 1 or
    more. Anything else is a ``ValueError`` saying what is accepted."""
    match = AGE.fullmatch(text.strip())
    if not match or match["unit"] not in UNITS:
        raise ValueError(
            f"{text!r} is not an age: write a whole number and a unit, h (hours), d (days) "
            "or w (weeks), e.g. 365d. (There is no m: minutes or months would be a guess.)"
        )
    count = int(match["count"])
    if count < 1:
        raise ValueError(
            f"{text!r} would delete everything: an age must be 1{match['unit']} or more."
        )
    try:
        return count * UNITS[match["unit"]]
    except OverflowError:
        raise ValueError(f"{text!r} is longer than the calendar goes.") from None


def cutoff_for(age: timedelta, now: datetime) -> datetime:
    """``now - age``, or a ``ValueError`` when that is before year 1."""
    try:
        return now - age
    except OverflowError:
        raise ValueError(f"{age.days} days ago is before year 1.") from None


def check_batch_size(size: int) -> int:
    """``size`` if the database can take that many ids in one statement, else ValueError."""
    limit = min(MAX_BATCH_SIZE, _parameter_limit(router.db_for_write(Notification)))
    if not 1 <= size <= limit:
        raise ValueError(f"The batch size must be from 1 to {limit:,}; {size:,} is not.")
    return size


def _parameter_limit(alias: str) -> int:
    # SQLite refuses statements with more bound parameters than it was built for (999
    # before 3.32, 32,766 or more since); Django's own figure is the old minimum.
    connection = connections[alias]
    if connection.vendor != "sqlite":
        return MAX_BATCH_SIZE
    connection.ensure_connection()
    return int(connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))


# -- notifications ----------------------------------------------------------------------


def purgeable_notifications(
    cutoff: datetime, *, include_queued: bool = False
) -> QuerySet[Notification]:
    """The notifications a purge at ``cutoff`` deletes: created before it and, unless
    ``include_queued``, no longer ``queued`` (an undelivered message is kept).

    With ``include_queued``, a queued notification scheduled for ``cutoff`` or later is
    kept all the same: it waits for its time and is not old, however long ago it was
    made (its age counts from its scheduled time, as ``deliver_queued`` counts it)."""
    rows = Notification.objects.filter(created_at__lt=cutoff)
    if include_queued:
        return rows.exclude(status=NotificationStatus.QUEUED, scheduled_for__gte=cutoff)
    return rows.exclude(status=NotificationStatus.QUEUED)


def count_notifications(cutoff: datetime, *, include_queued: bool = False) -> Purged:
    """What :func:`purge_notifications` would delete, counted (two ``COUNT`` queries)."""
    rows = purgeable_notifications(cutoff, include_queued=include_queued)
    receipts = DeliveryReceipt.objects.filter(notification__in=rows.values("pk"))
    return Purged(rows=rows.count(), receipts=receipts.count())


def purge_notifications(
    cutoff: datetime,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    include_queued: bool = False,
    on_batch: OnBatch | None = None,
) -> Purged:
    """Delete the notifications created before ``cutoff``, and their receipts, in batches
    of ``batch_size``; ``on_batch`` is called with the running totals after each."""
    rows = purgeable_notifications(cutoff, include_queued=include_queued)
    return _purge(rows, "created_at", batch_size, _delete_notifications, on_batch)


def _delete_notifications(ids: Sequence[Any]) -> Batch:
    # A newer notification that resends one of these keeps existing, without the link.
    _set_null_where_in(Notification, "resent_from", ids)
    # So does a newer step of an escalation chain: it loses the step it followed.
    _set_null_where_in(Notification, "escalated_from", ids)
    # A customer's reply is kept; it no longer says which message it answered.
    _set_null_where_in(InboundMessage, "in_reply_to", ids)
    receipts = _delete_where_in(DeliveryReceipt, "notification", ids)
    return Batch(rows=_delete_where_in(Notification, "id", ids), receipts=receipts)


# -- call logs --------------------------------------------------------------------------


def purgeable_call_logs(cutoff: datetime) -> QuerySet[CallLog]:
    """The call logs a purge at ``cutoff`` deletes: those of calls made before it."""
    return CallLog.objects.filter(called_at__lt=cutoff)


def purge_call_logs(
    cutoff: datetime, *, batch_size: int = DEFAULT_BATCH_SIZE, on_batch: OnBatch | None = None
) -> Purged:
    """Delete the call logs of calls made before ``cutoff``, in batches."""
    return _purge(
        purgeable_call_logs(cutoff),
        "called_at",
        batch_size,
        lambda ids: Batch(rows=_delete_where_in(CallLog, "id", ids)),
        on_batch,
    )


# -- the batch loop ---------------------------------------------------------------------


def _purge(
    rows: QuerySet[Any],
    time_field: str,
    batch_size: int,
    delete: Callable[[Sequence[Any]], Batch],
    on_batch: OnBatch | None,
) -> Purged:
    check_batch_size(batch_size)
    using = router.db_for_write(rows.model)
    # Ordered by the indexed time column alone: adding the primary key would make every
    # database but MySQL sort all the remaining rows for each batch (notify_many() gives
    # thousands of rows one timestamp, so ties are common and a tie-break is not free).
    ordered = rows.using(using).order_by(time_field).values_list(time_field, "pk")
    totals = Purged()
    since: datetime | None = None
    while True:
        with transaction.atomic(using=using):
            page = ordered.select_for_update()
            if since is not None:
                page = page.filter(**{f"{time_field}__gte": since})
            keys = list(page[:batch_size])
            if not keys:
                return totals
            batch = delete([pk for _, pk in keys])
        totals += batch
        if on_batch is not None:
            on_batch(totals)
        if len(keys) < batch_size or not batch.rows:
            return totals
        since = keys[-1][0]


def _delete_where_in(model: type[models.Model], field_name: str, values: Sequence[Any]) -> int:
    """``DELETE FROM <model> WHERE <field> IN (...)``: one statement, the rows never loaded
    (``QuerySet.delete()`` would fetch them to emulate cascades and send signals)."""
    return _where_in(model, "DELETE FROM {table}", field_name, values)


def _set_null_where_in(model: type[models.Model], field_name: str, values: Sequence[Any]) -> int:
    """``UPDATE <model> SET <field> = NULL WHERE <field> IN (...)``."""
    return _where_in(model, "UPDATE {table} SET {column} = NULL", field_name, values)


def _where_in(
    model: type[models.Model], statement: str, field_name: str, values: Sequence[Any]
) -> int:
    """Run ``statement`` + ``WHERE <field> IN (...)``; the row count. Written by hand, the
    values prepared as the field prepares them: Django's ``__in`` lookup costs more in
    Python than the statement takes in SQLite."""
    connection = connections[router.db_for_write(model)]
    field = model._meta.get_field(field_name)
    target = field.target_field if isinstance(field, models.ForeignKey) else field
    quote = connection.ops.quote_name
    column = quote(field.column)
    placeholders = ", ".join(["%s"] * len(values))
    sql = statement.format(table=quote(model._meta.db_table), column=column)
    params = [target.get_db_prep_value(value, connection) for value in values]
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} WHERE {column} IN ({placeholders})", params)
        return int(cursor.rowcount)
