"""Benchmark queueing N templated emails with django-tasks-db as the task backend.

Three variants, each writing one queued email per customer and committing it:

- ours: ``notify_many(customers, "email", template=...)``, which bulk-inserts the
  notifications and, once they are committed, hands them to delivery: one task, one row
  in django-tasks-db's table, per ``DELIVERY_BATCH_SIZE`` (250) notifications (no worker
  runs, so they stay queued);
- django-post-office: ``mail.send_many()`` of the same template (its own EmailTemplate,
  by name), one kwargs dict per customer, which renders and bulk-inserts its Email rows;
- the floor: render the same subject and body N times with Django's template engine and
  insert the same N rows (``Notification``'s fourteen columns, the values ours writes)
  into the same table, with its indexes and foreign keys, in one statement and one
  transaction (``row_insert.insert_values()``: ``COPY`` on PostgreSQL, one
  ``executemany`` on SQLite and MariaDB, each value converted once for its column). It
  builds no model objects and enqueues no delivery task: the least that queueing these
  messages can cost.

Until 2026-11-26 the floor inserted N rows of a model of its own with three columns
(recipient, subject, body) and an integer key, no index and no foreign key, by
``bulk_create``: fewer and cheaper columns than the rows it was the floor of. It is still
timed, as "old floor (3 columns)", so that figures from before the change can be set
beside later ones; the ratio to reach is against the floor above. (A ``bulk_create`` of
the fourteen-column rows is no floor: it prepares every value through the ORM and, on
SQLite, cuts the rows into statements of 71, and took longer than ``notify_many()``.)

Every variant runs in autocommit, as a caller outside a transaction would, and each
repeat starts from empty tables. Query counts come from an untimed run on up to 1,000
customers, which also warms up.

Run from the repository root (see bench/README.rst)::

    python bench/bench_queueing.py
    DATABASE_URL=postgres://user@host:5432/name python bench/bench_queueing.py
"""

from __future__ import annotations

import argparse
import math
import uuid

import harness
import mass_email


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--count", type=int, default=10_000, help="emails queued per repeat (default 10000)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (default 3)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    vendor = mass_email.setup()

    from django.db import connection, models
    from django.template import engines
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult
    from post_office import mail
    from post_office.models import Email, Log

    from chargesol_notifications import notify_many
    from chargesol_notifications.delivery_settings import batch_size
    from chargesol_notifications.models import DeliveryReceipt, Notification, NotificationTemplate
    from chargesol_notifications.row_insert import insert_values

    class FloorEmail(models.Model):
        """The old floor's table: who, subject, body (see the module's docstring)."""

        recipient_id = models.IntegerField()
        subject = models.CharField(max_length=255)
        body = models.TextField()

        class Meta:
            app_label = "bench"

        def __str__(self) -> str:
            return self.subject

    with connection.schema_editor() as editor:
        editor.create_model(FloorEmail)

    customers = mass_email.make_customers(args.count)
    mass_email.make_templates()
    tables = [DeliveryReceipt, Notification, DBTaskResult, Log, Email, FloorEmail]

    def ours(recipients: list) -> None:
        notify_many(
            recipients, "email", template=mass_email.TEMPLATE_NAME, context=mass_email.CONTEXT
        )

    def post_office(recipients: list) -> None:
        mail.send_many(mass_email.post_office_kwargs(recipients))

    template_id = NotificationTemplate.objects.get(name=mass_email.TEMPLATE_NAME).pk
    # The row notify_many() writes: Notification's columns in field order, each at its
    # default (the spec's additions are all defaulted or nullable), with the values a
    # templated email sets. Worked out once, so the floor pays only for the rows.
    fields = Notification._meta.concrete_fields
    default_row = [None if field.primary_key else field.get_default() for field in fields]
    position = {field.attname: index for index, field in enumerate(fields)}
    default_row[position["channel"]] = "email"
    default_row[position["template_id"]] = template_id
    default_row[position["status"]] = "queued"
    default_row[position["context_type"]] = ""
    varying = [position[name] for name in ("id", "recipient_id", "subject", "body")]
    created = position["created_at"]

    def floor(recipients: list) -> None:
        engine = engines["django"]
        subject = engine.from_string(mass_email.SUBJECT)
        body = engine.from_string(mass_email.BODY)
        now = timezone.now()
        rows = []
        id_at, recipient_at, subject_at, body_at = varying
        for customer in recipients:
            context = {**mass_email.CONTEXT, "recipient": {"first_name": customer.first_name}}
            row = default_row.copy()
            row[id_at] = uuid.uuid4()
            row[recipient_at] = customer.pk
            row[subject_at] = subject.render(context)
            row[body_at] = body.render(context)
            row[created] = now
            rows.append(row)
        insert_values(Notification, rows)

    def old_floor(recipients: list) -> None:
        engine = engines["django"]
        subject = engine.from_string(mass_email.SUBJECT)
        body = engine.from_string(mass_email.BODY)
        rows = []
        for customer in recipients:
            context = {**mass_email.CONTEXT, "recipient": {"first_name": customer.first_name}}
            rows.append(
                FloorEmail(
                    recipient_id=customer.pk,
                    subject=subject.render(context),
                    body=body.render(context),
                )
            )
        FloorEmail.objects.bulk_create(rows)

    def check(model: type[models.Model], *also: type[models.Model]) -> None:
        for table in (model, *also):
            found = table._default_manager.count()
            if found != args.count:
                raise AssertionError(f"{table.__name__}: {found} rows, expected {args.count}")

    def check_ours() -> None:
        check(Notification)
        tasks = DBTaskResult.objects.count()
        expected = math.ceil(args.count / batch_size())
        if tasks != expected:
            raise AssertionError(f"{tasks} delivery tasks, expected {expected} (one per batch)")

    blocks = {
        "ours: notify_many()": (ours, check_ours),
        "post-office: send_many()": (post_office, lambda: check(Email)),
        "floor: render + insert": (floor, lambda: check(Notification)),
        "old floor (3 columns)": (old_floor, lambda: check(FloorEmail)),
    }

    def empty() -> None:
        mass_email.empty_tables(tables)

    sample = customers[: min(args.count, 1000)]
    queries = {}
    for label, (block, _check) in blocks.items():
        empty()
        queries[label] = mass_email.count_queries(lambda block=block: block(sample))
    empty()
    timings = mass_email.timed_rounds(
        [
            mass_email.Variant(label, empty, lambda block=block: block(customers), check)
            for label, (block, check) in blocks.items()
        ],
        repeats=args.repeats,
        operations=args.count,
    )

    harness.describe_environment(vendor, args.repeats)
    by_label = {timing.label: timing for timing in timings}
    post_office_time = by_label["post-office: send_many()"].median
    floor_time = by_label["floor: render + insert"].median
    harness.print_table(
        f"Queueing {args.count} templated emails (django-tasks-db as the task backend)",
        [
            (
                timing.label,
                harness.format_seconds(timing.median),
                harness.format_seconds(timing.per_operation),
                mass_email.per_message(queries[timing.label].statements, len(sample)),
                f"{timing.median / post_office_time:.2f}x",
                f"{timing.median / floor_time:.2f}x",
            )
            for timing in timings
        ],
        ("variant", "median", "per message", "queries/msg", "vs post-office", "vs floor"),
    )
    ours_time = by_label["ours: notify_many()"].median
    old_floor_time = by_label["old floor (3 columns)"].median
    print(
        f"\nours/post-office: {ours_time / post_office_time:.2f}  "
        f"(target: <= 0.40, i.e. at least 2.5x faster)\n"
        f"ours/floor: {ours_time / floor_time:.2f}  (target: <= 1.30)\n"
        f"ours/old floor (3 columns): {ours_time / old_floor_time:.2f}\n"
        f"Queries counted on {len(sample)} messages; transaction statements "
        "(BEGIN, SAVEPOINT, ...) per message: "
        + ", ".join(
            f"{label.split(':')[0]} "
            f"{mass_email.per_message(count.transaction_control, len(sample))}"
            for label, count in queries.items()
        )
    )


if __name__ == "__main__":
    main()
