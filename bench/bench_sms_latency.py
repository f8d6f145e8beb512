"""Benchmark delivering N SMS through a Twilio stand-in that answers 100 ms late (issue 9).

The stand-in runs in a process of its own (this script with ``--gateway``, see
``latency_gateway.py``), so its threads do not share a GIL with the workers. 1 worker
process (django-tasks-db's ``db_worker``) and, separately, 4 of them deliver N SMS, one per
customer, through the app's Twilio backend and the real ``twilio`` client.

As in production, the workers are running when the messages are queued: each run starts
its workers and waits until every one is ready, polling the queue (each worker has taken
a probe task, see ``latency_workers.py``), untimed. Then the clock starts, ``notify_many()``
queues the N SMS (django-tasks-db as the task backend) and the clock stops when the
database shows all N ``sent`` (polled). The time thus includes queueing, not the workers'
start-up, which is reported apart. (Earlier versions of this script started the clock
with the workers: a run of 4 of them then spent about 2 of its 12 seconds starting Python
and Django, which a deployment's workers do once, not per batch of messages.)

The stand-in counts the creates of each notification (the ``?n=<id>`` of each message's
``StatusCallback``): a duplicate or a lost message stops the benchmark with an error.
During each timed run it reads the CPU time of the stand-in, of the workers, of their
PostgreSQL server processes and of the whole machine (``cpu_usage.py``; Linux only).
Queries per message come from an untimed run of an in-process worker, with the stand-in's
latency set to 0.

``--concurrency`` and ``--batch-size`` set the SMS channel's ``CONCURRENCY`` and
``DELIVERY_BATCH_SIZE`` (for the batched delivery engine); left out, so are the keys.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/bench_sms_latency.py
    python bench/bench_sms_latency.py --smoke
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import cpu_usage
import harness
from latency_gateway import Gateway, serve_gateway
from latency_report import Run, cpu_summary, print_results

BODY = "Your ChargeSol charger will update tonight between 1am and 3am. No action needed."
#: Seconds between two looks at the database while the workers deliver.
POLL_SECONDS = 0.05


# -- one run -------------------------------------------------------------------------------------


def empty_tables() -> None:
    import mass_email
    from django_tasks_db.models import DBTaskResult

    from chargesol_notifications.models import DeliveryReceipt, Notification

    mass_email.empty_tables([DeliveryReceipt, Notification, DBTaskResult])


def queue_sms(users: list[Any]) -> list[str]:
    """``notify_many()`` in autocommit: the tasks are enqueued before it returns."""
    from chargesol_notifications import notify_many

    return [str(n.pk) for n in notify_many(users, "sms", body=BODY)]


def statuses() -> Counter[str]:
    from django.db.models import Count

    from chargesol_notifications.models import Notification

    rows = Notification.objects.values_list("status").annotate(n=Count("pk")).order_by()
    return Counter(dict(rows))


def problems_of(ids: list[str], report: dict[str, Any], status: Counter[str]) -> dict[str, int]:
    """What went wrong, by kind: every count must be 0."""
    sends: dict[str, int] = report["sends"]
    known = set(ids)
    return {
        "duplicated": sum(n - 1 for i, n in sends.items() if i in known and n > 1),
        "never reached the stand-in": sum(1 for i in ids if i not in sends),
        "not sent": len(ids) - status["sent"],
        "unknown": sum(n for i, n in sends.items() if i not in known),
        "spec violations": len(report["violations"]),
    }


def cpu_sample(
    gateway: Gateway, processes: list[subprocess.Popen[bytes]], backends: list[int]
) -> cpu_usage.CpuSample:
    times = os.times()
    workers = [p.pid for p in processes]
    parts = {
        "stand-in": gateway.cpu()[0],
        "workers": cpu_usage.processes_cpu(workers),
        "PostgreSQL": cpu_usage.processes_cpu(backends),
        "benchmark": times.user + times.system,
    }
    return cpu_usage.CpuSample.take(parts, {"workers": workers, "PostgreSQL": backends})


def one_run(workers: int, users: list[Any], gateway: Gateway, time_limit: float) -> Run:
    """Start the workers, wait until they are ready, then queue and time the delivery."""
    from latency_workers import (
        database_backends,
        start_worker,
        stop_workers,
        task_balance,
        wait_until_ready,
    )

    empty_tables()
    gateway.report()  # forget what came before
    with tempfile.TemporaryFile("w+") as log:
        started = time.perf_counter()
        processes = [start_worker(log) for _ in range(workers)]
        try:
            wait_until_ready(processes)
            startup = time.perf_counter() - started
            backends = database_backends()
            before = cpu_sample(gateway, processes, backends)
            wall_start, start = time.time(), time.perf_counter()
            ids = queue_sms(users)
            queueing = time.perf_counter() - start
            while True:
                status = statuses()
                seconds = time.perf_counter() - start
                settled = sum(status[s] for s in ("sent", "delivered", "failed"))
                if status["sent"] >= len(ids) or settled >= len(ids) or seconds > time_limit:
                    break
                if any(process.poll() is not None for process in processes):
                    break
                time.sleep(POLL_SECONDS)
            cpu = cpu_usage.difference(before, cpu_sample(gateway, processes, backends), seconds)
        finally:
            stop_workers(processes)
        log.seek(0)
        output = log.read()
    report = gateway.report()
    status = statuses()
    problems = problems_of(ids, report, status)
    problems["worker errors"] = sum(1 for p in processes if p.returncode not in (0, -15))
    tasks, apart = task_balance()
    first = (report["first"] or wall_start) - wall_start
    run = Run(workers, len(ids), seconds, queueing, first, startup, cpu)
    print(
        f"{workers} worker(s): {len(ids)} SMS in {seconds:.2f} s, {run.rate:.1f} messages/s "
        f"(queued in {queueing:.2f} s, first send after {first:.2f} s; workers ready after "
        f"{startup:.1f} s, untimed); tasks per worker {tasks}, the workers finished "
        f"within {apart:.2f} s; CPU cores busy: {cpu_summary(cpu)}; statuses "
        f"{dict(status)}; " + ", ".join(f"{k}: {v}" for k, v in problems.items()),
        flush=True,
    )
    if any(problems.values()):
        print(output[-4000:], report["violations"], sep="\n", file=sys.stderr)
        raise SystemExit("SMS were lost, duplicated or refused (see above).")
    return run


# -- queries per message -------------------------------------------------------------------------


@contextmanager
def counting_queries() -> Iterator[Counter[str]]:
    """Count the statements sent on every connection, also those opened by other threads.

    Each thread has connections of its own: the wrapper goes on this thread's, and on any
    that a thread opens meanwhile (``connection_created``), and comes off them all at the end.
    """
    from django.db import connection
    from django.db.backends.signals import connection_created

    counts: Counter[str] = Counter()
    control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
    opened: list[Any] = []

    def counter(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        counts["transaction control" if sql.startswith(control) else "statements"] += 1
        return execute(sql, *args)

    def on_created(sender: Any, connection: Any, **kwargs: Any) -> None:
        connection.execute_wrappers.append(counter)
        opened.append(connection)

    connection_created.connect(on_created)
    try:
        with connection.execute_wrapper(counter):
            yield counts
    finally:
        connection_created.disconnect(on_created)
        for other in opened:
            if counter in other.execute_wrappers:
                other.execute_wrappers.remove(counter)


def queries_per_message(users: list[Any], gateway: Gateway, latency: float) -> dict[str, float]:
    """Deliver ``users``' SMS with a worker in this process, counting its queries."""
    from django.core.management import call_command
    from latency_workers import WORKER_ARGUMENTS

    gateway.command("latency 0")
    empty_tables()
    ids = queue_sms(users)
    gateway.report()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with counting_queries() as counts:
            call_command(*WORKER_ARGUMENTS, "--batch", verbosity=0, stdout=io.StringIO())
    finally:
        for signum, handler in handlers.items():  # the worker installed its own
            signal.signal(signum, handler)
        gateway.command(f"latency {latency}")
    problems = problems_of(ids, gateway.report(), statuses())
    if any(problems.values()):
        raise SystemExit(f"The counted run lost or duplicated SMS: {problems}")
    return {kind: n / len(ids) for kind, n in counts.items()}


# -- the benchmark -------------------------------------------------------------------------------


def check_configuration() -> None:
    """Stop before any run when the installed app refuses or ignores a setting we give it
    (``CONCURRENCY`` and ``DELIVERY_BATCH_SIZE`` are read only by batched delivery)."""
    from chargesol_notifications.backends import load_backend
    from chargesol_notifications.conf import unknown_keys
    from chargesol_notifications.exceptions import ConfigurationError

    try:
        load_backend("sms")
    except ConfigurationError as exc:
        raise SystemExit(f"This version of the app refuses the SMS channel: {exc}") from exc
    if unknown := unknown_keys():
        raise SystemExit(f"This version of the app does not read CHARGESOL_NOTIFICATIONS {unknown}")


def make_users(count: int) -> list[Any]:
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    user_model.objects.bulk_create(
        user_model(username=f"driver{i}", phone=f"+447700{900000 + i}") for i in range(count)
    )
    return list(user_model.objects.order_by("pk"))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000, help="SMS per run (default 2000)")
    parser.add_argument(
        "--latency", type=float, default=0.1, help="seconds per answer (default 0.1)"
    )
    parser.add_argument(
        "--workers", default="1,4", help="worker processes of each variant (default 1,4)"
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs of each (default 1)")
    parser.add_argument(
        "--concurrency", type=int, help="the SMS channel's CONCURRENCY (default: not set)"
    )
    parser.add_argument("--batch-size", type=int, help="DELIVERY_BATCH_SIZE (default: not set)")
    parser.add_argument(
        "--time-limit", type=float, default=900, help="seconds per run at most (default 900)"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a quick check: 200 SMS, latency 0.02, 1 repeat"
    )
    parser.add_argument("--gateway", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.count, args.latency, args.repeats = 200, 0.02, 1
    try:
        args.workers = [int(n) for n in args.workers.split(",")]
    except ValueError:
        parser.error("--workers is a list of numbers: 1,4")
    if not 1 <= args.count <= 100_000 or not 1 <= args.repeats <= 10 or args.latency < 0:
        parser.error("--count must be 1..100000, --repeats 1..10 and --latency >= 0")
    if not all(1 <= n <= 32 for n in args.workers):
        parser.error("--workers must be 1..32 each")
    if any(n is not None and n < 1 for n in (args.concurrency, args.batch_size)):
        parser.error("--concurrency and --batch-size must be at least 1")
    return args


def main() -> None:
    args = parse_args()
    if args.gateway:
        serve_gateway(args.latency)
        return
    gateway = Gateway(args.latency)
    try:
        os.environ["BENCH_TWILIO_URL"] = gateway.url
        for name, value in (
            ("BENCH_SMS_CONCURRENCY", args.concurrency),
            ("BENCH_DELIVERY_BATCH_SIZE", args.batch_size),
        ):
            if value is not None:
                os.environ[name] = str(value)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sms_latency_settings")
        os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
        vendor = harness.setup()
        if vendor != "postgresql":
            raise SystemExit("This benchmark runs on PostgreSQL: set DATABASE_URL=postgres://...")
        check_configuration()
        users = make_users(args.count)
        queries = queries_per_message(users[: min(args.count, 100)], gateway, args.latency)
        runs: dict[int, list[Run]] = {n: [] for n in args.workers}
        for repeat in range(args.repeats):
            order = args.workers if repeat % 2 == 0 else args.workers[::-1]
            for workers in order:
                runs[workers].append(one_run(workers, users, gateway, args.time_limit))
    finally:
        gateway.stop()
        from django.db import connections

        connections.close_all()
    print_results(args, vendor, runs, queries)


if __name__ == "__main__":
    main()
