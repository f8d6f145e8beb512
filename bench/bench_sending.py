"""Benchmark notify() and notify_many().

(a) notify_many() to N users against a loop of N notify() calls, with and without an
    idempotency key;
(b) the cost of one notify() call with a template by name against a literal body.

Every measured block runs inside one transaction that is rolled back, as lead code's
transaction would be if it failed: rows are really inserted, but the on-commit delivery
never runs, so this measures the call and not the channel backend, and every repeat starts
from the same tables.

Run from the repository root (see bench/README.rst)::

    python bench/bench_sending.py
    DATABASE_URL=postgres://user@host:5432/name python bench/bench_sending.py
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import harness


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000, help="N for (a) (default 1000)")
    parser.add_argument(
        "--calls", type=int, default=200, help="notify() calls per repeat in (b) (default 200)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (default 5)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    vendor = harness.setup()

    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from chargesol_notifications import notify, notify_many
    from chargesol_notifications.models import NotificationTemplate

    user_model = get_user_model()
    user_model.objects.bulk_create(
        user_model(
            username=f"customer{i}",
            first_name=f"Customer{i}",
            email=f"customer{i}@example.com",
            phone=f"+4477009{i % 100000:05d}",
        )
        for i in range(max(args.users, args.calls))
    )
    users = list(user_model.objects.order_by("pk"))
    NotificationTemplate.objects.create(
        name="emergency_outage_sms",
        channel="sms",
        body_template=(
            "Hi {{ recipient.first_name }}, there is a power cut in {{ area }}. Your charger "
            "will restart by itself when power is back{% if eta %}, expected {{ eta }}{% endif %}."
        ),
    )
    NotificationTemplate.objects.create(
        name="survey_confirmation_sms",
        channel="sms",
        body_template=(
            "Hi {{ recipient.first_name }}, your home survey is booked for {{ day }} at "
            "{{ time }}. Reply STOP to opt out."
        ),
    )
    outage = {"area": "Leeds LS6", "eta": "18:30"}

    def rolled_back(block: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            with transaction.atomic():
                block()
                transaction.set_rollback(True)  # drops the rows and the on-commit delivery

        return run

    def queries(run: Callable[[], None]) -> int:
        with CaptureQueriesContext(connection) as captured:
            run()
        # BEGIN/ROLLBACK of the benchmark's own transaction are not the call's.
        control = ("BEGIN", "ROLLBACK", "SAVEPOINT", "RELEASE")
        return sum(1 for q in captured.captured_queries if not q["sql"].startswith(control))

    harness.describe_environment(vendor, args.repeats)

    # -- (a) notify_many() against a loop of notify() ----------------------------------
    recipients = users[: args.users]
    rows = []
    for key in (None, "outage-2026-11-25-leeds"):

        def many(key: str | None = key) -> None:
            notify_many(
                recipients,
                "sms",
                template="emergency_outage_sms",
                context=outage,
                context_type="emergency",
                idempotency_key=key,
            )

        def loop(key: str | None = key) -> None:
            for user in recipients:
                notify(
                    user,
                    "sms",
                    template="emergency_outage_sms",
                    context=outage,
                    context_type="emergency",
                    idempotency_key=key,
                )

        suffix = " + idempotency_key" if key else ""
        timed_many = harness.measure(
            f"notify_many({args.users} users){suffix}", rolled_back(many), repeats=args.repeats
        )
        timed_loop = harness.measure(
            f"{args.users} x notify(){suffix}", rolled_back(loop), repeats=args.repeats
        )
        for timing, block in ((timed_many, many), (timed_loop, loop)):
            rows.append(
                (
                    timing.label,
                    harness.format_seconds(timing.median),
                    harness.format_seconds(timing.median / args.users),
                    str(queries(rolled_back(block))),
                    f"{timing.median / timed_many.median:.1f}x",
                )
            )
    harness.print_table(
        f"(a) Queuing one message to each of {args.users} users, in one transaction",
        rows,
        ("variant", "median", "per user", "queries", "vs notify_many"),
    )

    # -- (b) one notify() call: template by name against a literal body ----------------
    callers = users[: args.calls]

    def by_template() -> None:
        for user in callers:
            notify(
                user,
                "sms",
                template="survey_confirmation_sms",
                context={"day": "Tuesday 2 December", "time": "10:00"},
                context_type="survey",
            )

    def literal() -> None:
        for user in callers:
            notify(
                user,
                "sms",
                body="Hi, your home survey is booked for Tuesday 2 December at 10:00. "
                "Reply STOP to opt out.",
                context_type="survey",
            )

    timed_literal = harness.measure(
        "literal body", rolled_back(literal), repeats=args.repeats, operations=args.calls
    )
    timed_template = harness.measure(
        "template by name", rolled_back(by_template), repeats=args.repeats, operations=args.calls
    )
    harness.print_table(
        f"(b) One notify() call, {args.calls} calls per repeat",
        [
            (
                timing.label,
                harness.format_seconds(timing.per_operation),
                f"{queries(rolled_back(block)) / args.calls:g}",
                f"{timing.per_operation / timed_literal.per_operation:.2f}x",
            )
            for timing, block in ((timed_literal, literal), (timed_template, by_template))
        ],
        ("variant", "per call", "queries per call", "vs literal body"),
    )


if __name__ == "__main__":
    main()
