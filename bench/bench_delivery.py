"""Benchmark delivering N queued templated emails: ours through locmem against post-office.

Four variants start from N queued emails and deliver all of them in this process:

- ours, cron, locmem: ``manage.py deliver_queued --min-age 0`` with the email channel on
  the app's own ``LocmemBackend`` (``chargesol_notifications.outbox``), in waves of the
  channel's ``CONCURRENCY``;
- ours, worker, locmem: the same channel, the delivery tasks in django-tasks-db's table
  (one per ``DELIVERY_BATCH_SIZE`` notifications, as ``notify_many()`` enqueues them) run
  by its worker (``manage.py db_worker --batch``, in this process), as production runs it;
- ours, cron, Django's email framework: the email channel on ``backends.email.EmailBackend``
  and so through ``django.core.mail.backends.locmem.EmailBackend``, which builds each MIME
  message (and copies it) like any mail backend;
- django-post-office: ``mail.send_queued()`` called until the queue is empty, through
  Django's locmem mail backend, twice: with its defaults (batches of 100, 5 sending
  threads, a Log row per email sent), and with its ``BATCH_SIZE`` set to our
  ``CONCURRENCY`` (rows claimed and marked per batch). Our rates are given against the
  faster of the two.

The issue's comparison is the first against the last: the bookkeeping around a send that
costs nothing. The third shows what Django's email framework adds, the same for both
apps. The queued rows are made before each repeat (untimed): for ours with
``notify_many()``, for post-office with ``mail.send_many()``; then, on PostgreSQL, the
tables are analyzed, as autovacuum would have done by then
(:func:`mass_email.refresh_statistics`). Query counts come from an
untimed run on up to 1,000 emails, which also warms up.

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
    parser.add_argument(
        "--concurrency",
        type=int,
        default=250,
        help="the email channel's CONCURRENCY: messages claimed, sent and recorded together "
        "per wave; post-office also runs with its BATCH_SIZE set to the same (default 250, "
        "the default DELIVERY_BATCH_SIZE: one wave per task)",
    )
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

    from chargesol_notifications import notify_many, outbox
    from chargesol_notifications.conf import get_setting
    from chargesol_notifications.models import DeliveryReceipt, Notification

    customers = mass_email.make_customers(args.count)
    mass_email.make_templates()
    tables = [DeliveryReceipt, Notification, DBTaskResult, Log, Email]
    without_tasks = override_settings(
        CHARGESOL_NOTIFICATIONS={**settings.CHARGESOL_NOTIFICATIONS, "TASK_BACKEND": "discard"}
    )
    assert get_setting("TASK_BACKEND") == "database"

    def email_channel(backend: str) -> override_settings:
        """The email channel on ``backend``, in waves of ``--concurrency``."""
        channels = settings.CHARGESOL_NOTIFICATIONS["CHANNELS"]
        channel = {"BACKEND": backend, "CONCURRENCY": args.concurrency}
        return override_settings(
            CHARGESOL_NOTIFICATIONS={
                **settings.CHARGESOL_NOTIFICATIONS,
                "CHANNELS": {**channels, "email": channel},
            }
        )

    locmem = email_channel("chargesol_notifications.backends.locmem.LocmemBackend")
    django_email = email_channel("chargesol_notifications.backends.email.EmailBackend")

    def reset() -> None:
        mass_email.empty_tables(tables)
        mail.outbox = []
        outbox.clear()

    def queue_notifications(recipients: list) -> None:
        """Queued notifications whose delivery task was never enqueued."""
        reset()
        with without_tasks, transaction.atomic():
            notify_many(
                recipients, "email", template=mass_email.TEMPLATE_NAME, context=mass_email.CONTEXT
            )
        mass_email.refresh_statistics(tables)

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
        mass_email.refresh_statistics(tables)

    def queue_post_office(recipients: list) -> None:
        reset()
        with transaction.atomic():
            post_office_mail.send_many(mass_email.post_office_kwargs(recipients))
        mass_email.refresh_statistics(tables)

    def deliver_queued() -> None:
        call_command("deliver_queued", min_age=0, limit=args.count, stdout=io.StringIO())

    def locmem_deliver_queued() -> None:
        with locmem:
            deliver_queued()

    def django_email_deliver_queued() -> None:
        with django_email:
            deliver_queued()

    def locmem_db_worker() -> None:
        # As strings: the command checks its --backend default ("default") otherwise.
        with locmem:
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

    # post-office claims and marks its emails in batches of BATCH_SIZE: measured with its
    # default (100) and with as many as our waves carry, the stricter comparison.
    same_batch = override_settings(
        POST_OFFICE={**settings.POST_OFFICE, "BATCH_SIZE": args.concurrency}
    )

    def send_queued_same_batch() -> None:
        with same_batch:
            send_queued()

    def checker(expected: int, *counts: Callable[[], int]) -> None:
        for found in (count() for count in counts):
            if found != expected:
                raise AssertionError(f"{found} sent, expected {expected}")

    def in_our_outbox() -> int:
        return len(outbox)

    def in_django_outbox() -> int:
        return len(mail.outbox)

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
        "ours, locmem: deliver_queued": (
            queue_notifications,
            locmem_deliver_queued,
            (in_our_outbox, ours_sent),
        ),
        "ours, locmem: db_worker": (
            queue_tasks,
            locmem_db_worker,
            (in_our_outbox, ours_sent, tasks_done),
        ),
        "ours, Django email: deliver_queued": (
            queue_notifications,
            django_email_deliver_queued,
            (in_django_outbox, ours_sent),
        ),
        "post-office: send_queued(), BATCH_SIZE 100": (
            queue_post_office,
            send_queued,
            (in_django_outbox, post_office_sent),
        ),
        f"post-office: send_queued(), BATCH_SIZE {args.concurrency}": (
            queue_post_office,
            send_queued_same_batch,
            (in_django_outbox, post_office_sent),
        ),
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
    # Against the faster of post-office's two runs.
    post_office_rate = args.count / min(timings[-1].median, timings[-2].median)
    harness.print_table(
        f"Delivering {args.count} queued templated emails (CONCURRENCY {args.concurrency})",
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
        "\nRates are against the faster of post-office's two runs. Targets: our rate at "
        "least 2x post-office's, at most 3 queries per message.\n"
        f"Queries counted on {len(sample)} messages; tx stmts are the BEGIN, SAVEPOINT and "
        "RELEASE statements Django sent (not counted in queries/msg)."
    )


if __name__ == "__main__":
    main()
