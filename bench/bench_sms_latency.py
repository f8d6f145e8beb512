"""Benchmark delivering N SMS through a Twilio stand-in that answers 100 ms late (issue 9).

The stand-in runs in a process of its own (this script with ``--gateway``: a
``TwilioStandin`` with a latency, driven over its stdin), so its threads do not share a GIL
with the workers. ``notify_many()`` queues N SMS, one per customer, with django-tasks-db as
the task backend; then 1 worker process (django-tasks-db's ``db_worker``) and, separately,
4 of them deliver what it enqueued through the app's Twilio backend and the real
``twilio`` client. Each run is timed from the start of the workers until the database shows
all N ``sent`` (polled). The stand-in counts the creates of each notification (the
``?n=<id>`` of each message's ``StatusCallback``): a duplicate or a lost message stops the
benchmark with an error. Queries per message come from an untimed run of an in-process
worker, with the stand-in's latency set to 0.

``--concurrency`` and ``--batch-size`` set the SMS channel's ``CONCURRENCY`` and
``DELIVERY_BATCH_SIZE`` (for the batched delivery engine); left out, so are the keys.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/bench_sms_latency.py
    python bench/bench_sms_latency.py --smoke
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit, urlunsplit

import harness

BENCH_DIR = Path(__file__).resolve().parent
BODY = "Your ChargeSol charger will update tonight between 1am and 3am. No action needed."
#: Seconds between two looks at the database while the workers deliver.
POLL_SECONDS = 0.05


# -- the gateway: a stand-in in its own process --------------------------------------------------


def serve_gateway(latency: float) -> None:
    """``--gateway``: serve a stand-in; print its URL, then obey stdin line by line.

    ``latency <seconds>`` sets its latency; ``report`` prints (as one JSON line) the creates
    of each notification id since the last report, the spec violations and the first
    create's wall-clock time, then forgets them. End of input stops it.
    """
    sys.path.insert(0, str(harness.REPO_ROOT))
    from chargesol_notifications.testing.twilio import RecordedResource, TwilioStandin

    class CountingStandin(TwilioStandin):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.counting = threading.Lock()
            self.sends: Counter[str] = Counter()
            self.first: float | None = None

        def resource_created(self, resource: RecordedResource) -> None:
            query = urlsplit(resource.status_callback or "").query
            notification = parse_qs(query).get("n", ["(no n=)"])[0]
            with self.counting:
                self.sends[notification] += 1
                self.first = self.first or time.time()

        def report(self) -> dict[str, Any]:
            with self.counting:
                report = {"sends": self.sends, "first": self.first}
                self.sends, self.first = Counter(), None
            report["violations"] = [str(v) for v in self.violations[:5]]
            self.reset()
            return report

    with CountingStandin(latency=latency) as standin:
        print(standin.url, flush=True)
        for line in sys.stdin:
            command, _, argument = line.strip().partition(" ")
            if command == "latency":
                standin.latency = float(argument)
                print("ok", flush=True)
            elif command == "report":
                print(json.dumps(standin.report()), flush=True)


class Gateway:
    """This script in ``--gateway`` mode, as a child process."""

    def __init__(self, latency: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--gateway", "--latency", str(latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self._answer()

    def _answer(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the stand-in process exited with {self.process.wait()}")
        return line.strip()

    def command(self, line: str) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self._answer()

    def report(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads(self.command("report"))
        return report

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


# -- the workers ---------------------------------------------------------------------------------


def database_url() -> str:
    """``DATABASE_URL`` with the benchmark's own database in place of the one it names."""
    from django.conf import settings

    parts = urlsplit(os.environ["DATABASE_URL"])
    name = settings.DATABASES["default"]["NAME"]
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


WORKER_ARGUMENTS = ["db_worker", "--backend", "database", "--no-startup-delay", "--no-reload"]


def start_worker(log: TextIO) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), str(harness.REPO_ROOT)]),
    }
    command = [sys.executable, "-m", "django", *WORKER_ARGUMENTS, "--interval", "0.1"]
    return subprocess.Popen(
        [*command, "--verbosity", "0"], env=env, cwd=harness.REPO_ROOT, stdout=log, stderr=log
    )


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM: each finishes the task it is running (none, once all are sent) and exits."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)


# -- one run -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    workers: int
    count: int
    #: From the start of the workers until all ``count`` were seen ``sent``.
    seconds: float
    #: From the start of the workers until the stand-in's first create.
    first_send: float
    problems: dict[str, int]

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def sending_rate(self) -> float:
        """The rate once sending began: without the workers' start-up."""
        return self.count / max(self.seconds - self.first_send, 1e-9)


def queue_sms(users: list[Any]) -> list[str]:
    """Empty the tables, then ``notify_many()`` (autocommit: the tasks are enqueued now)."""
    import mass_email
    from django_tasks_db.models import DBTaskResult

    from chargesol_notifications import notify_many
    from chargesol_notifications.models import DeliveryReceipt, Notification

    mass_email.empty_tables([DeliveryReceipt, Notification, DBTaskResult])
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


def one_run(workers: int, users: list[Any], gateway: Gateway, time_limit: float) -> Run:
    ids = queue_sms(users)
    gateway.report()  # forget what came before
    with tempfile.TemporaryFile("w+") as log:
        wall_start, start = time.time(), time.perf_counter()
        processes = [start_worker(log) for _ in range(workers)]
        try:
            while True:
                time.sleep(POLL_SECONDS)
                status = statuses()
                seconds = time.perf_counter() - start
                settled = sum(status[s] for s in ("sent", "delivered", "failed"))
                if status["sent"] >= len(ids) or settled >= len(ids) or seconds > time_limit:
                    break
                if any(process.poll() is not None for process in processes):
                    break
        finally:
            stop_workers(processes)
        log.seek(0)
        output = log.read()
    report = gateway.report()
    status = statuses()
    problems = problems_of(ids, report, status)
    problems["worker errors"] = sum(1 for p in processes if p.returncode not in (0, -15))
    first = (report["first"] or wall_start) - wall_start
    run = Run(workers, len(ids), seconds, first, problems)
    print(
        f"{workers} worker(s): {len(ids)} SMS in {seconds:.1f} s, {run.rate:.1f} messages/s, "
        f"first send after {first:.1f} s; statuses {dict(status)}; "
        + ", ".join(f"{k}: {v}" for k, v in problems.items()),
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

    gateway.command("latency 0")
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


def print_results(
    args: argparse.Namespace, vendor: str, runs: dict[int, list[Run]], queries: dict[str, float]
) -> None:
    rates = {n: statistics.median(r.rate for r in runs[n]) for n in runs}
    one = rates.get(1)
    harness.describe_environment(vendor, args.repeats)
    print(
        f"{args.count} SMS per run, stand-in latency {args.latency * 1000:g} ms in its own "
        f"process; CONCURRENCY {args.concurrency or 'not set'}, DELIVERY_BATCH_SIZE "
        f"{args.batch_size or 'not set'}; {os.cpu_count()} CPUs."
    )
    harness.print_table(
        "Delivering SMS through the Twilio stand-in (medians of the runs)",
        [
            (
                str(n),
                harness.format_seconds(statistics.median(r.seconds for r in runs[n])),
                f"{rates[n]:.1f}",
                f"{rates[n] / one:.2f}x" if one else "",
                harness.format_seconds(statistics.median(r.first_send for r in runs[n])),
                f"{statistics.median(r.sending_rate for r in runs[n]):.1f}",
            )
            for n in runs
        ],
        ("workers", "time", "messages/s", "vs 1 worker", "first send", "msg/s after it"),
    )
    print(
        f"\nQueries per message (one worker, in-process, latency 0): "
        f"{queries.get('statements', 0):.2f}, plus "
        f"{queries.get('transaction control', 0):.2f} transaction statements "
        "(SAVEPOINT, RELEASE, ...) sent by Django."
    )
    print("Duplicated sends: 0; lost: 0 (checked at the stand-in and in the database).")
    if one and 4 in rates:
        print(
            f"Targets: 1 worker >= 50 messages/s ({one:.1f}: "
            f"{'met' if one >= 50 else 'not met'}); 4 workers >= 3.5x one "
            f"({rates[4] / one:.2f}x: {'met' if rates[4] >= 3.5 * one else 'not met'})."
        )


if __name__ == "__main__":
    main()
