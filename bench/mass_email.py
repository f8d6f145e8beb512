"""What bench_queueing.py and bench_delivery.py share: one templated email to N customers,
written as a notification template and as django-post-office's EmailTemplate, timed rounds
that start each repeat from empty tables, and query counts.

Import it before anything that touches Django: :func:`setup` selects
``queue_settings`` and then creates the database as :func:`harness.setup` does.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import harness

TEMPLATE_NAME = "outage_notice_email"
SUBJECT = "Power cut in {{ area }}"
BODY = (
    "Hi {{ recipient.first_name }},\n\n"
    "There is a power cut in {{ area }}. Your charger will restart by itself when power is "
    "back{% if eta %}, expected by {{ eta }}{% endif %}. You do not need to do anything.\n\n"
    "The ChargeSol team"
)
CONTEXT = {"area": "Leeds LS6", "eta": "18:30"}

#: Statements that open, close or mark a transaction rather than read or write rows.
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def setup() -> str:
    """Configure Django with ``queue_settings``, create and migrate the database."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "queue_settings")
    return harness.setup()


def make_customers(count: int) -> list[Any]:
    """``count`` users with an email address, in primary-key order."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    user_model.objects.bulk_create(
        user_model(
            username=f"customer{i}",
            first_name=f"Customer{i}",
            email=f"customer{i}@example.com",
        )
        for i in range(count)
    )
    return list(user_model.objects.order_by("pk"))


def make_templates() -> None:
    """The same template text, as ours and as post-office's."""
    from post_office.models import EmailTemplate

    from chargesol_notifications.models import NotificationTemplate

    NotificationTemplate.objects.create(
        name=TEMPLATE_NAME, channel="email", subject_template=SUBJECT, body_template=BODY
    )
    EmailTemplate.objects.create(name=TEMPLATE_NAME, subject=SUBJECT, content=BODY)


def post_office_kwargs(customers: Sequence[Any]) -> list[dict[str, Any]]:
    """``mail.send_many()``'s argument: the template by name, each customer's context.

    The context holds what ours gives the template as ``recipient``, so the same text
    renders the same message.
    """
    return [
        {
            "recipients": [customer.email],
            "template": TEMPLATE_NAME,
            "context": {**CONTEXT, "recipient": {"first_name": customer.first_name}},
        }
        for customer in customers
    ]


def empty_tables(models: Sequence[Any]) -> None:
    """Delete every row of ``models`` and of tables that refer to them (TRUNCATE ...
    CASCADE on PostgreSQL), as ``manage.py flush`` does."""
    from django.core.management.color import no_style
    from django.db import connection

    tables = [model._meta.db_table for model in models]
    connection.ops.execute_sql_flush(
        connection.ops.sql_flush(no_style(), tables, reset_sequences=False, allow_cascade=True)
    )


def refresh_statistics(models: Sequence[Any]) -> None:
    """On PostgreSQL, ``ANALYZE`` the tables of ``models``: what autovacuum does soon after
    a table gains thousands of rows (its default threshold is 50 rows plus 10% of the
    table), so that the timed block runs against the statistics a production table has.

    Without it, the planner estimates the 10,000 rows just queued as a handful (the
    empty table's statistics) and reads every queued row, through the status index, for
    each batch of 250 it claims or marks: work that grows with the square of the queue,
    for both apps alike. SQLite keeps no statistics unless asked; MariaDB's InnoDB
    recalculates its own after 10% of a table changes.
    """
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


@dataclass(frozen=True)
class QueryCount:
    #: Statements that read or write rows.
    statements: int
    #: BEGIN, COMMIT, SAVEPOINT and RELEASE that Django sent.
    transaction_control: int


def count_queries(run: Callable[[], object]) -> QueryCount:
    """Count the statements ``run()`` sends on the default connection.

    An execute wrapper sees every statement; ``CaptureQueriesContext`` keeps only the
    last 9,000 (``BaseDatabaseWrapper.queries_limit``), fewer than one delivery run sends.
    """
    from django.db import connection

    statements = control = 0

    def counter(execute: Callable, sql: str, *args: Any) -> Any:
        nonlocal statements, control
        if sql.startswith(TRANSACTION_CONTROL):
            control += 1
        else:
            statements += 1
        return execute(sql, *args)

    with connection.execute_wrapper(counter):
        run()
    return QueryCount(statements, control)


@dataclass(frozen=True)
class Variant:
    label: str
    #: Untimed: brings the tables to the state the measured block starts from.
    prepare: Callable[[], object]
    #: The measured block.
    run: Callable[[], object]
    #: Untimed, after each run: raises when the block did not do its work.
    check: Callable[[], object]


def timed_rounds(
    variants: Sequence[Variant], *, repeats: int, operations: int
) -> list[harness.Timing]:
    """Time every variant ``repeats`` times, taking turns (one round runs each once).

    Taking turns spreads any drift of the machine over all variants alike.
    """
    samples: dict[str, list[float]] = {variant.label: [] for variant in variants}
    for _ in range(repeats):
        for variant in variants:
            variant.prepare()
            gc.collect()
            start = time.perf_counter()
            variant.run()
            samples[variant.label].append(time.perf_counter() - start)
            variant.check()
    return [harness.Timing(label, found, operations) for label, found in samples.items()]


def per_message(value: float, count: int) -> str:
    return f"{value / count:.3g}"
