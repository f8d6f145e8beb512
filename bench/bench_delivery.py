"""Benchmark delivering N queued templated emails through Django's locmem mail backend.

Three variants start from N queued emails and deliver all of them in this process:

- ours, cron: ``manage.py deliver_queued --min-age 0``, which sends each queued
  notification through the email channel (``backends.email.EmailBackend``, hence
  Django's email framework) and records its receipt and status;
- ours, worker: the delivery tasks in django-tasks-db's table (one per
  ``DELIVERY_BATCH_SIZE`` notifications, as ``notify_many()`` enqueues them), run by its
  worker (``manage.py db_worker --batch``, in this process): the same delivery plus
  claiming each task row and recording its result, as production runs it;
- django-post-office: ``mail.send_queued()`` called until the queue is empty, with its
  defaults (batches of 100, 5 sending threads, a Log row per email sent).

All three send through ``django.core.mail.backends.locmem.EmailBackend``, so the
figures are the cost of the bookkeeping around a send that costs nothing. The queued rows
are made before each repeat (untimed): for ours with ``notify_many()``, for post-office
with ``mail.send_many()``. Query counts come from an untimed run on up to 1,000 emails,
which also warms up.

Run from the repository root (see bench/README.rst)::

    python bench/bench_delivery.py
    DATABASE_URL=postgres://user@host:5432/name python bench/bench_delivery.py
"""

from __future__ import annotations

import argparse
import io
import logging
from collections.abc import Callable

import harness
import mass_email


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--count", type=int, default=10_000, help="emails delivered per repeat (default 10000)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (default 3)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    vendor = mass_email.setup()
    # post-office logs every batch at INFO; the tables are what this prints.
    logging.getLogger("post_office").setLevel(logging.WARNING)

    from django.conf import settings
    from django.core import mail
    from django.core.management import call_command
    from django.db import transaction
    from django.test.utils import override_settings
    from django_tasks_db.models import DBTaskResult
    from post_office import mail as post_office_mail
    from post_office.models import STATUS, Email, Log

    from chargesol_notifications import notify_many
    from chargesol_notifications.conf import get_setting
    from chargesol_notifications.models import DeliveryReceipt, Notification

    customers = mass_email.make_customers(args.count)
    mass_email.make_templates()
    tables = [DeliveryReceipt, Notification, DBTaskResult, Log, Email]
    without_tasks = override_settings(
        CHARGESOL_NOTIFICATIONS={**settings.CHARGESOL_NOTIFICATIONS, "TASK_BACKEND": "discard"}
    )
    assert get_setting("TASK_BACKEND") == "database"

    def reset() -> None:
        mass_email.empty_tables(tables)
        mail.outbox = []

    def queue_notifications(recipients: list) -> None:
        """Queued notifications whose delivery task was never enqueued."""
        reset()
        with without_tasks, transaction.atomic():
            notify_many(
                recipients, "email", template=mass_email.TEMPLATE_NAME, context=mass_email.CONTEXT
            )

    def queue_tasks(recipients: list) -> None:
        """Queued notifications and their django-tasks-db tasks (one per batch), as
        ``deliver_queued --enqueue`` writes them."""
        queue_notifications(recipients)
        with transaction.atomic():
            call_command(
                "deliver_queued",
                enqueue=True,
                min_age=0,
                limit=len(recipients),
                stdout=io.StringIO(),
            )

    def queue_post_office(recipients: list) -> None:
        reset()
        with transaction.atomic():
            post_office_mail.send_many(mass_email.post_office_kwargs(recipients))

    def deliver_queued() -> None:
        call_command("deliver_queued", min_age=0, limit=args.count, stdout=io.StringIO())

    def db_worker() -> None:
        # As strings: the command checks its --backend default ("default") otherwise.
        call_command(
            "db_worker",
            "--backend=database",
            "--batch",
            "--no-startup-delay",
            "--no-reload",
            verbosity=0,
            stdout=io.StringIO(),
        )

    def send_queued() -> None:
        while sum(post_office_mail.send_queued()):
            pass

    def checker(expected: int, sent: Callable[[], int], *extra: Callable[[], int]) -> None:
        for found in (len(mail.outbox), sent(), *(count() for count in extra)):
            if found != expected:
                raise AssertionError(f"{found} sent, expected {expected}")

    def ours_sent() -> int:
        return Notification.objects.filter(status="sent").count()

    def tasks_done() -> int:
        """Notifications the finished tasks report sent (a task carries a batch)."""
        results = DBTaskResult.objects.filter(status="SUCCESSFUL").values_list(
            "return_value", flat=True
        )
        return sum(result.get("sent", 0) for result in results)

    def post_office_sent() -> int:
        return Email.objects.filter(status=STATUS.sent).count()

    blocks = {
        "ours: deliver_queued": (queue_notifications, deliver_queued, (ours_sent,)),
        "ours: db_worker": (queue_tasks, db_worker, (ours_sent, tasks_done)),
        "post-office: send_queued()": (queue_post_office, send_queued, (post_office_sent,)),
    }

    sample = customers[: min(args.count, 1000)]
    queries = {}
    for label, (prepare, run, counts) in blocks.items():
        prepare(sample)
        queries[label] = mass_email.count_queries(run)
        checker(len(sample), *counts)
    timings = mass_email.timed_rounds(
        [
            mass_email.Variant(
                label,
                lambda prepare=prepare: prepare(customers),
                run,
                lambda counts=counts: checker(args.count, *counts),
            )
            for label, (prepare, run, counts) in blocks.items()
        ],
        repeats=args.repeats,
        operations=args.count,
    )
    reset()

    harness.describe_environment(vendor, args.repeats)
    post_office_rate = args.count / timings[-1].median
    harness.print_table(
        f"Delivering {args.count} queued templated emails through Django's locmem mail backend",
        [
            (
                timing.label,
                harness.format_seconds(timing.median),
                f"{args.count / timing.median:,.0f}",
                mass_email.per_message(queries[timing.label].statements, len(sample)),
                mass_email.per_message(queries[timing.label].transaction_control, len(sample)),
                f"{args.count / timing.median / post_office_rate:.2f}x",
            )
            for timing in timings
        ],
        ("variant", "median", "messages/s", "queries/msg", "tx stmts/msg", "rate vs post-office"),
    )
    print(
        "\nTargets: our rate at least 2x post-office's, at most 3 queries per message.\n"
        f"Queries counted on {len(sample)} messages; tx stmts are the BEGIN, SAVEPOINT and "
        "RELEASE statements Django sent (not counted in queries/msg)."
    )


if __name__ == "__main__":
    main()
