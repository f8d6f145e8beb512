"""Webhook ingest under gunicorn: the real Twilio status endpoint against a one-INSERT floor.

Creates a PostgreSQL database of its own (``harness.setup``), starts gunicorn (2 sync
workers, ``webhook_settings``) on a free loopback port, and for each run posts N signed
message-status callbacks over 32 concurrent connections:

(a) to ``twilio/message-status/`` for N/2 notifications that the gateway accepted (each
    has its ``sent`` receipt, as delivery records it): per notification Twilio's ``sent``
    callback (a duplicate of that receipt) and its ``delivered`` one (``undelivered`` for
    one in ten), shuffled, so a ``sent`` often lands after the ``delivered``;
(b) the same callbacks, for another N/2 notifications, to ``webhook_urls.one_insert``,
    which only INSERTs one row.

Then it checks the database: (a) 0 lost receipts, 0 duplicated, 0 notifications in a
wrong final status; (b) one row per callback. It prints requests/s of both, per run and
their medians, and the ratio (a)/(b). Loopback only; every request has a timeout, the
whole measurement a time limit; gunicorn is stopped and the database dropped at the end.

By default each run posts all of one endpoint's callbacks, then all of the other's (which
goes first alternates from run to run). On a machine whose load changes while a run goes
on, ``--blocks K`` takes turns instead: each endpoint's callbacks in K blocks, (a) and (b)
alternating block by block, so that both meet the same changes; each endpoint's time is
the sum of its blocks'.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/bench_webhooks.py
    python bench/bench_webhooks.py --callbacks 2000 --runs 1      # a smoke run
    python bench/bench_webhooks.py --blocks 10                    # (a) and (b) take turns
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import harness

BENCH_DIR = Path(__file__).resolve().parent
PUBLIC_BASE = "https://chargesol.example.com"
REAL_PATH = "/notifications/twilio/message-status/"
FLOOR_PATH = "/floor/one-insert/"
ACCOUNT_SID = "AC" + "0" * 32


@dataclass(frozen=True)
class Callback:
    path: str
    body: bytes
    signature: str


@dataclass(frozen=True)
class Load:
    """What one endpoint answered to one run's callbacks, and how long it took."""

    label: str
    seconds: float
    answered: dict[int, int]
    errors: int
    unsent: int

    @property
    def requests_per_second(self) -> float:
        return sum(self.answered.values()) / self.seconds

    def __add__(self, other: Load) -> Load:
        """Two loads of one endpoint as one: their times and answers added up."""
        answered = dict(self.answered)
        for status, count in other.answered.items():
            answered[status] = answered.get(status, 0) + count
        return Load(
            self.label,
            self.seconds + other.seconds,
            answered,
            self.errors + other.errors,
            self.unsent + other.unsent,
        )


# -- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url() -> str:
    """``DATABASE_URL`` with the benchmark's own database in place of the one it names."""
    from django.conf import settings

    parts = urlsplit(os.environ["DATABASE_URL"])
    name = settings.DATABASES["default"]["NAME"]
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def start_gunicorn(port: int, workers: int) -> subprocess.Popen[bytes]:
    command = [
        *(sys.executable, "-m", "gunicorn"),
        *("--workers", str(workers), "--bind", f"127.0.0.1:{port}"),
        *("--pythonpath", f"{BENCH_DIR},{harness.REPO_ROOT}"),
        *("--backlog", "2048", "--timeout", "60", "--log-level", "warning"),
        "django.core.wsgi:get_wsgi_application()",
    ]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "webhook_settings",
        "DATABASE_URL": database_url(),
    }
    server = subprocess.Popen(command, env=env, cwd=harness.REPO_ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", REAL_PATH)
            if connection.getresponse().status == 405:  # up, and the app answers
                return server
        except OSError:
            time.sleep(0.2)
    stop(server)
    raise SystemExit("gunicorn did not answer within 30 s")


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=15)


# -- the data -----------------------------------------------------------------------------------


def sent_notifications(count: int, tag: uuid.UUID, *, with_receipts: bool) -> list[tuple[str, str]]:
    """``count`` SMS notifications tagged ``tag`` (their context id); [(pk, sid), ...].

    With ``with_receipts`` each is ``sent`` with the receipt delivery writes when Twilio
    accepts the message.
    """
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from chargesol_notifications.models import DeliveryReceipt, Notification

    user, _ = get_user_model().objects.get_or_create(username="bench-webhooks")
    now = timezone.now()
    notifications = Notification.objects.bulk_create(
        [
            Notification(
                recipient=user,
                channel="sms",
                body="Your survey is booked.",
                context_type="survey",
                context_id=tag,
                status="sent" if with_receipts else "queued",
                sent_at=now if with_receipts else None,
            )
            for _ in range(count)
        ],
        batch_size=1000,
    )
    pairs = [(str(n.pk), "SM" + uuid.uuid4().hex) for n in notifications]
    if with_receipts:
        DeliveryReceipt.objects.bulk_create(
            [
                DeliveryReceipt(notification_id=pk, status="sent", gateway_message_id=sid)
                for pk, sid in pairs
            ],
            batch_size=1000,
        )
    return pairs


def final_status(index: int) -> str:
    """What Twilio reports last for the ``index``-th notification: one in ten fails."""
    return "undelivered" if index % 10 == 0 else "delivered"


def signed_callbacks(path: str, pairs: list[tuple[str, str]], seed: int) -> list[Callback]:
    """Twilio's ``sent`` and final callback for each notification, signed, shuffled."""
    from django.conf import settings
    from django.http import QueryDict
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(settings.AUTH_TOKEN)
    callbacks = []
    for index, (pk, sid) in enumerate(pairs):
        for status in ("sent", final_status(index)):
            params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": ACCOUNT_SID}
            if status == "undelivered":
                params["ErrorCode"] = "30003"
            body = urlencode(params)
            target = f"{path}?n={pk}"
            signature = validator.compute_signature(f"{PUBLIC_BASE}{target}", QueryDict(body))
            callbacks.append(Callback(target, body.encode(), signature))
    random.Random(seed).shuffle(callbacks)
    return callbacks


# -- the load -----------------------------------------------------------------------------------


def post_all(
    label: str, port: int, callbacks: list[Callback], connections: int, time_limit: float
) -> Load:
    """POST every callback over ``connections`` concurrent keep-alive-if-possible clients."""
    queue: Iterator[Callback] = iter(callbacks)
    lock = threading.Lock()
    answered: dict[int, int] = {}
    errors = [0]
    deadline = time.monotonic() + time_limit

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        while time.monotonic() < deadline:
            with lock:
                callback = next(queue, None)
            if callback is None:
                break
            try:
                connection.request(
                    "POST",
                    callback.path,
                    body=callback.body,
                    headers={**headers, "X-Twilio-Signature": callback.signature},
                )
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                connection.close()
                with lock:
                    errors[0] += 1
                continue
            with lock:
                answered[status] = answered.get(status, 0) + 1
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(connections)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    done = sum(answered.values()) + errors[0]
    return Load(label, seconds, answered, errors[0], len(callbacks) - done)


# -- the checks ---------------------------------------------------------------------------------


def check_real(tag: uuid.UUID, pairs: list[tuple[str, str]]) -> dict[str, int]:
    """Lost and duplicated receipts, wrong final statuses, of endpoint (a)'s notifications."""
    from chargesol_notifications.models import DeliveryReceipt, Notification

    expected = set()
    expected_status = {}
    for index, (pk, sid) in enumerate(pairs):
        final = final_status(index)
        expected |= {(pk, sid, "sent"), (pk, sid, "failed" if final == "undelivered" else final)}
        expected_status[pk] = "failed" if final == "undelivered" else "delivered"
    rows = [
        (str(pk), sid, status)
        for pk, sid, status in DeliveryReceipt.objects.filter(
            notification__context_id=tag
        ).values_list("notification_id", "gateway_message_id", "status")
    ]
    statuses = dict(
        (str(pk), (status, delivered_at))
        for pk, status, delivered_at in Notification.objects.filter(context_id=tag).values_list(
            "pk", "status", "delivered_at"
        )
    )
    wrong = sum(
        1
        for pk, status in expected_status.items()
        if statuses[pk][0] != status or (status == "delivered") != (statuses[pk][1] is not None)
    )
    return {
        "lost": len(expected - set(rows)),
        "duplicated": len(rows) - len(set(rows)) + len(set(rows) - expected),
        "wrong status": wrong,
    }


def check_floor(tag: uuid.UUID, callbacks: int) -> dict[str, int]:
    from chargesol_notifications.models import DeliveryReceipt

    rows = DeliveryReceipt.objects.filter(notification__context_id=tag).count()
    return {"lost": max(callbacks - rows, 0), "duplicated": max(rows - callbacks, 0)}


# -- the run ------------------------------------------------------------------------------------


def one_run(port: int, args: argparse.Namespace, seed: int) -> tuple[Load, Load]:
    count = args.callbacks // 2
    real_tag, floor_tag = uuid.uuid4(), uuid.uuid4()
    real_pairs = sent_notifications(count, real_tag, with_receipts=True)
    floor_pairs = sent_notifications(count, floor_tag, with_receipts=False)
    real_callbacks = signed_callbacks(REAL_PATH, real_pairs, seed)
    floor_callbacks = signed_callbacks(FLOOR_PATH, floor_pairs, seed)
    # Alternate which endpoint goes first, so neither always meets a warmer database.
    order = [("real", real_callbacks), ("floor", floor_callbacks)]
    if seed % 2:
        order.reverse()
    loads: dict[str, Load] = {}
    for block in range(args.blocks):
        for label, callbacks in order:
            part = callbacks[block :: args.blocks]
            load = post_all(label, port, part, args.connections, args.time_limit / args.blocks)
            loads[label] = loads[label] + load if label in loads else load
    real, floor = loads["real"], loads["floor"]
    problems = {f"(a) {k}": v for k, v in check_real(real_tag, real_pairs).items()}
    problems |= {f"(b) {k}": v for k, v in check_floor(floor_tag, len(floor_callbacks)).items()}
    for load in (real, floor):
        not_ok = sum(n for status, n in load.answered.items() if status != 200)
        problems[f"({load.label}) not answered 200"] = not_ok + load.errors + load.unsent
    print(
        f"run {seed + 1}: (a) {real.requests_per_second:.0f} requests/s in {real.seconds:.1f} s, "
        f"(b) {floor.requests_per_second:.0f} requests/s in {floor.seconds:.1f} s, "
        f"ratio {real.requests_per_second / floor.requests_per_second:.2f}; "
        + ", ".join(f"{k}: {v}" for k, v in problems.items()),
        flush=True,
    )
    if any(problems.values()):
        raise SystemExit("The webhook lost, duplicated or misrecorded callbacks (see above).")
    return real, floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callbacks", type=int, default=20_000, help="per endpoint and run")
    parser.add_argument("--runs", type=int, default=3, help="the medians are over these")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--time-limit", type=float, default=600, help="seconds per endpoint and run at most"
    )
    parser.add_argument(
        "--blocks",
        type=int,
        default=1,
        help="per run, post each endpoint's callbacks in this many blocks, taking turns",
    )
    args = parser.parse_args()
    if not 2 <= args.callbacks <= 200_000 or not 1 <= args.runs <= 10:
        parser.error("--callbacks must be 2..200000 and --runs 1..10")
    if not 1 <= args.blocks <= args.callbacks // 2:
        parser.error("--blocks must be 1..callbacks/2")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webhook_settings")
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    vendor = harness.setup()
    if vendor != "postgresql":
        raise SystemExit("This benchmark runs on PostgreSQL: set DATABASE_URL=postgres://...")
    port = free_port()
    server = start_gunicorn(port, args.workers)
    try:
        # Warm up: every worker imports, connects and answers both views once or more.
        warm = sent_notifications(64, uuid.uuid4(), with_receipts=True)
        post_all("warm-up", port, signed_callbacks(REAL_PATH, warm, 0), 8, 60)
        cold = sent_notifications(64, uuid.uuid4(), with_receipts=False)
        post_all("warm-up", port, signed_callbacks(FLOOR_PATH, cold, 0), 8, 60)
        results = [one_run(port, args, seed) for seed in range(args.runs)]
    finally:
        stop(server)
        from django.db import connections

        connections.close_all()
    real = statistics.median(r.requests_per_second for r, _ in results)
    floor = statistics.median(f.requests_per_second for _, f in results)
    ratios = [r.requests_per_second / f.requests_per_second for r, f in results]
    harness.describe_environment(vendor, args.runs)
    print(
        f"gunicorn: {args.workers} sync workers; {args.connections} connections; "
        f"{args.callbacks} callbacks per endpoint and run, in {args.blocks} block(s) "
        f"per endpoint; {os.cpu_count()} CPUs."
    )
    harness.print_table(
        "Webhook ingest (requests/s, medians of the runs)",
        [
            ("(a) twilio/message-status/", f"{real:.0f}", ""),
            ("(b) one-INSERT floor", f"{floor:.0f}", ""),
            (
                "(a) / (b)",
                f"{real / floor:.2f}",
                f"median of per-run {statistics.median(ratios):.2f}",
            ),
        ],
        ("endpoint", "requests/s", "note"),
    )


if __name__ == "__main__":
    main()
