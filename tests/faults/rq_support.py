"""RQ workers for tests/faults/test_rq_workers.py: their settings and their processes.

The worker processes read the block at the end of ``tests/settings.py``, switched on by
``CHARGESOL_TEST_RQ`` (a Redis URL); the test process applies the same task settings with
pytest-django's ``settings`` fixture. Both take them from here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]

#: The Redis database the test owns (it empties RQ's queue there before it starts).
REDIS_URL_VARIABLE = "CHARGESOL_TEST_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/15"

#: The alias of the task backend that delivers, in TASKS and in TASK_BACKEND.
TASK_BACKEND_ALIAS = "rq"
#: The RQ queue: the app's delivery task names no queue, so it goes to "default".
QUEUE = "default"
#: The task backend, as a project configures it.
TASK_BACKEND = {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": [QUEUE]}
#: An RQ worker as django-tasks-rq needs it (its Job class), with RQ's scheduler, which
#: enqueues deferred tasks (the retries) when they are due.
WORKER_COMMAND = [
    *("-m", "django", "rqworker", "--job-class", "django_tasks_rq.Job"),
    *("--with-scheduler", QUEUE),
]

SMS_FROM = "+15005550006"


def redis_url() -> str:
    return os.environ.get(REDIS_URL_VARIABLE, DEFAULT_REDIS_URL)


def redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def rq_queues(url: str) -> dict[str, dict[str, Any]]:
    """django-rq's ``RQ_QUEUES``: the one queue, on the Redis at ``url``."""
    return {QUEUE: {"URL": url}}


def empty(queue: Any) -> None:
    """Drop every job an earlier run left with the queue: waiting, taken by a worker that
    was killed (RQ would fail it later), deferred (a retry no scheduler ran) or failed."""
    from rq.job import Job

    queue.empty()
    intermediate = queue.intermediate_queue
    places = [
        (intermediate.key, intermediate.get_job_ids()),
        *(
            (registry.key, registry.get_job_ids(cleanup=False))
            for registry in (
                queue.started_job_registry,
                queue.scheduled_job_registry,
                queue.failed_job_registry,
            )
        ),
    ]
    for key, job_ids in places:
        for job_id in job_ids:
            queue.connection.delete(Job.key_for(job_id), intermediate.get_first_seen_key(job_id))
        queue.connection.delete(key)


def sms_channel(standin_url: str) -> dict[str, Any]:
    """The SMS channel: the Twilio backend and the real client, sending to the stand-in
    served (by another process) at ``standin_url``."""
    from chargesol_notifications.testing.twilio import (
        DEFAULT_ACCOUNT_SID,
        DEFAULT_AUTH_TOKEN,
        StandinHttpClient,
    )

    return {
        "BACKEND": "chargesol_notifications.backends.twilio.SmsBackend",
        "OPTIONS": {
            "ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
            "AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
            # An instance: the backend's TIMEOUT option applies only to a dotted path.
            "HTTP_CLIENT": StandinHttpClient(url=standin_url, timeout=15.0),
            "FROM": SMS_FROM,
        },
    }


def worker_env(database_url: str, redis_url: str, standin_url: str) -> dict[str, str]:
    """The environment of a worker process: the test database, the Redis, the stand-in."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CHARGESOL_TEST_RQ": redis_url,
        "CHARGESOL_TEST_RQ_STANDIN": standin_url,
        "PYTHONPATH": str(REPO_ROOT),
    }


class RQWorkers:
    """``manage.py rqworker`` processes on one queue, started and stopped as a group.

    Each runs until :meth:`stop` (warm shutdown: SIGTERM lets a job finish), logging to
    a file in ``log_dir``; leaving the ``with`` block stops what still runs, and kills
    what will not stop.

    Each worker leads a process group of its own, which its scheduler joins: RQ forks
    the scheduler from the worker, so it holds the worker's Redis connections too. A
    worker killed alone would leave its scheduler running, and with it the worker's
    blocking dequeue open on the server, which would take the next job pushed to the
    queue (a later run's) and hand it to nobody. So a kill is for the whole group.
    """

    #: Seconds a worker gets to stop after SIGTERM, when the ``with`` block is left.
    GRACE = 10

    def __init__(self, names: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.names = names
        self.env = env
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> RQWorkers:
        for name in self.names:
            log = (self.log_dir / f"{name}.log").open("wb")
            self.processes[name] = subprocess.Popen(
                [sys.executable, *WORKER_COMMAND, "--name", name],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()  # the child has its own descriptor
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(self.GRACE)
            # The scheduler too, even when the worker is gone.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def logs(self) -> str:
        return "\n".join(
            f"--- {name}:\n{(self.log_dir / f'{name}.log').read_text(errors='replace')[-4000:]}"
            for name in self.names
        )

    def wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``condition`` while every worker runs; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            exited = {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}
            assert not exited, f"RQ workers exited early: {exited}\n{self.logs()}"
            if condition():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"After {timeout:.0f} s, {what}\n{self.logs()}")
            time.sleep(0.2)

    def wait_until_idle(self, connection: Any, timeout: float) -> None:
        """Until every worker is registered with Redis and waiting for a job."""
        from rq import Worker
        from rq.worker import WorkerStatus

        def idle() -> bool:
            states = {w.name: w.get_state() for w in Worker.all(connection=connection)}
            return all(states.get(name) == WorkerStatus.IDLE for name in self.names)

        self.wait_until(idle, timeout, "the RQ workers are not all waiting for jobs")

    def stop(self, timeout: float) -> None:
        """Warm shutdown of every worker; fails if one does not end cleanly."""
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"RQ worker {name} did not stop\n{self.logs()}") from None
            assert process.returncode == 0, f"{name}: exit {process.returncode}\n{self.logs()}"

    def jobs_done(self, connection: Any) -> dict[str, int]:
        """Jobs each worker finished successfully, as RQ counted them (also shortly
        after the worker ended: RQ keeps a dead worker's record for a minute)."""
        from rq import Worker

        done = {}
        for name in self.names:
            worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + name, connection)
            done[name] = worker.successful_job_count if worker is not None else 0
        return done
