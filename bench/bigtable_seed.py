"""Seeding the admin bench's database: the rows of ``bigtable_rows.py``, written fast.

``seed(plan)`` writes customers, notifications with their receipts, and call logs, then
runs ``VACUUM ANALYZE`` so the planner's statistics are those of a table that has lived a
while. On PostgreSQL the rows go in by ``COPY`` (psycopg 3's ``cursor.copy``); elsewhere
(the smoke run on SQLite or MariaDB) by ``bulk_create``. A marker table, written last,
records the plan and the values the bench searches for.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any

from bigtable_rows import (
    ADMIN_USERNAME,
    CHANNELS,
    STAFF_CALLERS,
    Plan,
    Targets,
    call_logs,
    email,
    notifications,
    now_for_seeding,
    phone,
    users,
)

__all__ = ["ADMIN_USERNAME", "Plan", "Targets", "read_marker", "seed", "write_marker"]

#: Rows go to the database in chunks of this many notifications (one transaction each,
#: so PostgreSQL checks the receipts' deferred foreign keys a chunk at a time).
CHUNK = 50_000

# -- writing ----------------------------------------------------------------------------


class RowWriter:
    """Writes dicts of attribute values to a model's table; absent fields get defaults.

    Columns added by later migrations are filled from their field's default, so the seed
    keeps working while the models grow.
    """

    def __init__(self, model: type) -> None:
        from django.db import connection

        self.model = model
        self.fields = [f for f in model._meta.concrete_fields]
        # A callable default (uuid4, timezone.now) is called for every row, like save().
        self.per_row = {
            f.attname: f for f in self.fields if f.has_default() and callable(f.default)
        }
        self.defaults = {
            f.attname: f.get_db_prep_save(f.get_default(), connection)
            for f in self.fields
            if (f.has_default() or f.null or f.blank) and f.attname not in self.per_row
        }
        self.use_copy = connection.vendor == "postgresql"

    def write(self, rows: Iterable[dict[str, Any]]) -> int:
        from django.db import connection

        attnames = [f.attname for f in self.fields]
        missing = object()

        def ordered(row: dict[str, Any]) -> tuple:
            for attname, field in self.per_row.items():
                if attname not in row:
                    row[attname] = field.get_db_prep_save(field.get_default(), connection)
            values = tuple(row.get(a, self.defaults.get(a, missing)) for a in attnames)
            if missing in values:
                name = attnames[values.index(missing)]
                raise ValueError(f"{self.model.__name__}.{name} has no value and no default")
            return values

        count = 0
        if self.use_copy:
            table = connection.ops.quote_name(self.model._meta.db_table)
            columns = ", ".join(connection.ops.quote_name(f.column) for f in self.fields)
            statement = f"COPY {table} ({columns}) FROM STDIN"
            # Django's cursor wraps psycopg's; COPY needs the real one.
            with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(ordered(row))
                    count += 1
            return count
        batch: list[Any] = []
        for row in rows:
            batch.append(self.model(**dict(zip(attnames, ordered(row), strict=True))))
            if len(batch) == 2_000:
                count += len(self.model.objects.bulk_create(batch))
                batch = []
        return count + len(self.model.objects.bulk_create(batch))


# -- the seeding ------------------------------------------------------------------------

MARKER_TABLE = "csn_bigtable_seed"


def seed(plan: Plan, progress: Callable[[str], None] = print) -> Targets:
    """Write ``plan``'s rows into the (migrated, empty) database; return what to search."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from chargesol_notifications.models import (
        CallLog,
        DeliveryReceipt,
        Notification,
        NotificationTemplate,
    )

    now = now_for_seeding()
    user_model = get_user_model()
    with transaction.atomic():
        # Explicit ids, so notifications can name their recipient without a lookup.
        RowWriter(user_model).write({"id": i + 1, **u} for i, u in enumerate(users(plan, now)))
    _reset_sequences(user_model)
    callers = list(range(plan.users + 1, plan.users + STAFF_CALLERS + 1))
    user_model.objects.create_superuser(ADMIN_USERNAME, f"{ADMIN_USERNAME}@example.com", None)
    template_ids = {
        channel: NotificationTemplate.objects.create(
            name=f"survey_confirmation_{channel}",
            channel=channel,
            subject_template="Your survey is booked" if channel == "email" else "",
            body_template="Hi {{ recipient.first_name }}, your survey is booked.",
        ).pk
        for channel, _ in CHANNELS
    }
    notification_writer, receipt_writer = RowWriter(Notification), RowWriter(DeliveryReceipt)
    middle, target = plan.notifications // 2, None
    stream = notifications(plan, now, template_ids)
    seen = 0
    while chunk := list(itertools.islice(stream, CHUNK)):
        with transaction.atomic():
            notification_writer.write(n.row for n in chunk)
            receipt_writer.write(r for n in chunk for r in n.receipts)
        if target is None:  # the first one past the middle that the gateway accepted
            sent = (n for k, n in enumerate(chunk, seen) if k >= middle and n.row["sent_at"])
            target = next(sent, None)
        seen += len(chunk)
        progress(f"  {seen:,} notifications")
    with transaction.atomic():
        RowWriter(CallLog).write(call_logs(plan, now, callers))
    if connection.vendor == "postgresql":
        progress("  VACUUM ANALYZE")
        with connection.cursor() as cursor:
            for model in (user_model, Notification, DeliveryReceipt, CallLog):
                cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    assert target is not None
    user_index = 102 % plan.users
    number = phone(user_index)
    return Targets(
        phone_as_typed=f"0{number[3:7]} {number[7:]}",  # +447700900102 -> 07700 900102
        email=email(user_index),
        gateway_message_id=target.receipts[0]["gateway_message_id"],
        notification_id=str(target.row["id"]),
    )


def _reset_sequences(model: type) -> None:
    from django.core.management.color import no_style
    from django.db import connection

    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), [model]):
            cursor.execute(statement)


def read_marker() -> tuple[Plan, Targets] | None:
    """What an earlier seeding of this database recorded, or None if it never finished."""
    from django.db import connection

    if MARKER_TABLE not in connection.introspection.table_names():
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT plan FROM {MARKER_TABLE}")
        row = cursor.fetchone()
    if row is None:
        return None
    data = json.loads(row[0])
    return Plan(**data["plan"]), Targets(**data["targets"])


def write_marker(plan: Plan, found: Targets) -> None:
    """Recorded last, so an interrupted seeding is never mistaken for a finished one."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (plan TEXT NOT NULL)")
        cursor.execute(f"DELETE FROM {MARKER_TABLE}")
        data = json.dumps({"plan": asdict(plan), "targets": asdict(found)})
        cursor.execute(f"INSERT INTO {MARKER_TABLE} (plan) VALUES (%s)", [data])
