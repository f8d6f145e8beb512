"""The SMS latency benchmark's workers: django-tasks-db's ``db_worker`` processes.

In production the workers are already running when messages are queued, so the
benchmark starts them first and waits until every one is ready: it enqueues one
:func:`worker_probe` per worker, and each probe holds its worker until all the probes are
claimed. A worker holding a probe takes no other, so once every probe is claimed each
worker has one: all of them have started, set Django up, connected to the database and
are polling the queue. Only then are the SMS queued and the clock started.

They are stopped the same way: a stop probe each, which sends its own worker SIGTERM
while the worker runs it, so the worker exits once the probe is done. A SIGTERM from
outside, to an idle worker, makes it exit at once, now and then in the middle of the
query of its next poll, with a traceback and exit status 1.

Import this module after Django is set up (``harness.setup()``): the probe is a task of
the ``database`` backend. The workers import it as ``latency_workers`` (the bench
directory is on their ``PYTHONPATH``), as the benchmark does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import harness
from django.db import DatabaseError
from django_tasks_db.compat import TASK_MAX_PRIORITY, TaskResultStatus
from django_tasks_db.models import DBTaskResult

from chargesol_notifications.tasks_compat import task

BENCH_DIR = harness.REPO_ROOT / "bench"
WORKER_ARGUMENTS = ["db_worker", "--backend", "database", "--no-startup-delay", "--no-reload"]
#: Seconds between two looks at the queue while the workers start or stop.
PROBE_POLL_SECONDS = 0.05


def database_url() -> str:
    """``DATABASE_URL`` with the benchmark's own database in place of the one it names."""
    from django.conf import settings

    parts = urlsplit(os.environ["DATABASE_URL"])
    name = settings.DATABASES["default"]["NAME"]
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def start_worker(log: TextIO) -> subprocess.Popen[bytes]:
    """One ``manage.py db_worker`` process, polling the queue every 0.1 s when idle."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), str(harness.REPO_ROOT)]),
    }
    command = [sys.executable, "-m", "django", *WORKER_ARGUMENTS, "--interval", "0.1"]
    return subprocess.Popen(
        [*command, "--verbosity", "0"], env=env, cwd=harness.REPO_ROOT, stdout=log, stderr=log
    )


@task(backend="database")
def worker_probe(workers: int, timeout: float, round_id: str, stop: bool = False) -> int:
    """Hold this worker until the ``workers`` probes of ``round_id`` are all claimed, so
    that each worker holds one; a stop probe then asks its worker to stop. Its pid."""
    claimed = DBTaskResult.objects.filter(
        task_path=worker_probe.module_path,
        args_kwargs__kwargs__round_id=round_id,
        status__in=[TaskResultStatus.RUNNING, TaskResultStatus.SUCCESSFUL],
    )
    deadline = time.monotonic() + timeout
    while claimed.count() < workers:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {workers} workers took a probe in {timeout:g} s")
        time.sleep(PROBE_POLL_SECONDS / 2)
    if stop:
        # db_worker stops after the task it is running when it gets SIGTERM in a task;
        # between tasks it exits at once, possibly in the middle of its next poll's query.
        os.kill(os.getpid(), signal.SIGTERM)
    return os.getpid()


def run_probes(
    workers: list[subprocess.Popen[bytes]], timeout: float, *, stop: bool = False
) -> list[tuple[str, Any]]:
    """One probe per worker, first in the queue; wait until all are done. Their statuses
    and return values; SystemExit if they are not all done in ``timeout`` seconds."""
    round_id = uuid.uuid4().hex
    probe = worker_probe.using(priority=TASK_MAX_PRIORITY)
    ids = [
        probe.enqueue(workers=len(workers), timeout=timeout, round_id=round_id, stop=stop).id
        for _ in workers
    ]
    probes = DBTaskResult.objects.filter(pk__in=[str(pk) for pk in ids])
    deadline = time.perf_counter() + timeout + 10
    while True:
        rows = list(probes.values_list("status", "return_value"))
        if all(status == TaskResultStatus.SUCCESSFUL for status, _ in rows):
            return rows
        if any(status == TaskResultStatus.FAILED for status, _ in rows):
            raise SystemExit("a worker failed its probe (timed out waiting for the others?)")
        if not stop and any(worker.poll() is not None for worker in workers):
            raise SystemExit("a worker exited while starting")
        if time.perf_counter() > deadline:
            raise SystemExit(f"the workers did not all take a probe in {timeout:g} s")
        time.sleep(PROBE_POLL_SECONDS)


def wait_until_ready(workers: list[subprocess.Popen[bytes]], timeout: float = 120) -> float:
    """Wait until each worker has run a probe: started, connected, polling. The seconds."""
    start = time.perf_counter()
    pids = {pid for _, pid in run_probes(workers, timeout)}
    if pids != {worker.pid for worker in workers}:
        raise SystemExit(f"the probes ran in processes {pids}, not one in each worker")
    return time.perf_counter() - start


def stop_workers(workers: list[subprocess.Popen[bytes]], timeout: float = 30) -> None:
    """Stop each worker after its current task (none, once all are sent): a stop probe
    each; a worker that has not exited ``timeout`` seconds later gets SIGTERM, then
    SIGKILL."""
    running = [worker for worker in workers if worker.poll() is None]
    if running:
        try:
            run_probes(running, timeout, stop=True)
        except (SystemExit, DatabaseError) as exc:
            print(f"stopping the workers with signals: {exc}", file=sys.stderr)
    for worker in running:
        try:
            worker.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            worker.send_signal(signal.SIGTERM)
    for worker in running:
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)


def task_balance() -> tuple[list[int], float]:
    """How many delivery tasks each worker ran, and how far apart the workers finished
    (seconds from the first worker's last task to the last worker's)."""
    finished: dict[str, list[Any]] = {}
    rows = DBTaskResult.objects.exclude(task_path=worker_probe.module_path).filter(
        status=TaskResultStatus.SUCCESSFUL
    )
    for worker_ids, at in rows.values_list("worker_ids", "finished_at"):
        finished.setdefault(worker_ids[-1], []).append(at)
    if not finished:
        return [], 0.0
    ends = [max(times) for times in finished.values()]
    counts = sorted((len(times) for times in finished.values()), reverse=True)
    return counts, (max(ends) - min(ends)).total_seconds()


def database_backends() -> list[int]:
    """The server processes of the other connections to this database (the workers')."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [pid for (pid,) in cursor.fetchall()]
