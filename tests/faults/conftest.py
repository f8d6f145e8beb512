"""What the fault suites share: recipients, notifications parked in the queue, delivering
processes pointed at the in-process Twilio stand-in, and the tally taken at the gateway.

The suites judge delivery by its outcome only: what the stand-in created (each message's
``StatusCallback`` carries ``?n=<notification id>``) and what the database holds. They
use the app's public surface (``notify_many``, ``manage.py deliver_queued``, settings),
so they hold for the one-at-a-time delivery and for the batched one alike.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from chargesol_notifications.models import DeliveryReceipt, Notification
from chargesol_notifications.testing.twilio import TwilioStandin

from ..test_worker import database_url

REPO_ROOT = Path(__file__).resolve().parents[2]

BODY = "Your ChargeSol surveyor arrives tomorrow between 10am and noon."


def phone(index: int) -> str:
    """Ofcom's drama range has exactly 1,000 mobile numbers: +447700900000 to ...999."""
    if not 0 <= index < 1000:
        raise ValueError("the drama range has 1,000 numbers")
    return f"+447700900{index:03d}"


def make_recipients(count: int) -> list[Any]:
    """``count`` users with a phone number each, inserted in one statement."""
    user_model = get_user_model()
    user_model.objects.bulk_create(
        user_model(username=f"faults{i:04d}", phone=phone(i), password="!") for i in range(count)
    )
    # Read back: not every database returns the keys of a bulk insert.
    return list(user_model.objects.filter(username__startswith="faults").order_by("username"))


@pytest.fixture
def parked_tasks(settings):
    """``notify_many()`` enqueues its deliveries on a task backend that runs nothing.

    Django's dummy task backend keeps what is enqueued in memory, as a queue whose workers
    never came: the notifications stay ``queued`` until a delivering process finds them.
    """
    module = "django_tasks" if "django_tasks" in settings.INSTALLED_APPS else "django.tasks"
    settings.TASKS = {
        **settings.TASKS,
        "parked": {"BACKEND": f"{module}.backends.dummy.DummyBackend"},
    }
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "TASK_BACKEND": "parked",
    }


# -- delivering processes ---------------------------------------------------------------


def deliverer_env(standin: TwilioStandin, *, concurrency: int | None = None) -> dict[str, str]:
    """The environment of a delivering process: the test database, and the SMS channel on
    the stand-in (the faults block at the end of tests/settings.py)."""
    # No other switch of tests/settings.py (a worker mode, an RQ worker) may come along.
    env = {name: value for name, value in os.environ.items() if "CHARGESOL_TEST_" not in name}
    env |= {
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CHARGESOL_TEST_FAULTS": standin.url,
        "PYTHONPATH": str(REPO_ROOT),
    }
    if concurrency:
        env["CHARGESOL_TEST_FAULTS_CONCURRENCY"] = str(concurrency)
    return env


@dataclass
class Deliverer:
    """One ``manage.py deliver_queued`` running in its own process."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def wait(self, timeout: float) -> str:
        """Wait for it to end; its output, after checking that it succeeded."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"deliver_queued still ran after {timeout:.0f} s:\n{self.errors()}")
        output = self.stdout.read_text()
        assert self.process.returncode == 0, f"deliver_queued failed:\n{self.errors()}"
        return output

    def errors(self) -> str:
        return self.stderr.read_text()[-4000:]


def start_deliverer(env: dict[str, str], log_dir: Path, name: str, *arguments: str) -> Deliverer:
    """Start ``python -m django deliver_queued <arguments>``; output goes to files, so that
    a chatty process never blocks on a full pipe."""
    stdout, stderr = log_dir / f"{name}.out", log_dir / f"{name}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "django", "deliver_queued", *arguments],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )
    return Deliverer(process, stdout, stderr)


@contextmanager
def held_notifications_table() -> Iterator[None]:
    """Hold a lock on the notifications table that no reader gets past.

    Delivering processes started inside wait at their first look at the table; leaving
    the block lets them all go at the same moment.
    """
    table = connection.ops.quote_name(Notification._meta.db_table)
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            yield
        return
    with connection.cursor() as cursor:  # MariaDB/MySQL: LOCK TABLES is not transactional
        cursor.execute(f"LOCK TABLES {table} WRITE")
        try:
            yield
        finally:
            cursor.execute("UNLOCK TABLES")


def sessions_waiting_for_a_lock() -> int:
    """Sessions waiting for the notifications table (see held_notifications_table)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # pg_locks is live (pg_stat_activity would repeat one snapshot per transaction).
            cursor.execute(
                "SELECT count(DISTINCT pid) FROM pg_locks "
                "WHERE NOT granted AND relation = %s::regclass",
                [Notification._meta.db_table],
            )
        else:
            cursor.execute(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                "WHERE DB = DATABASE() AND STATE LIKE 'Waiting for table%lock'"
            )
        return int(cursor.fetchone()[0])


def wait_until_waiting(deliverers: list[Deliverer], timeout: float = 90.0) -> int:
    """Wait until every deliverer waits at the held table (or has ended, or time is up);
    how many wait."""
    deadline = time.monotonic() + timeout
    while True:
        waiting = sessions_waiting_for_a_lock()
        running = sum(d.process.poll() is None for d in deliverers)
        if waiting >= running or time.monotonic() > deadline:
            return waiting
        time.sleep(0.05)


# -- the tally --------------------------------------------------------------------------


def notification_id_of(status_callback: str | None) -> str:
    """The notification a created message was for: the ``n`` of its StatusCallback URL."""
    values = parse_qs(urlsplit(status_callback or "").query).get("n", [""])
    return values[0]


@dataclass
class Tally:
    """What reached the gateway and what the database says, for a set of notifications."""

    #: notification id -> messages the gateway created for it
    sends: Counter[str]
    #: notification id -> its status
    statuses: dict[str, str]
    #: notification id -> its ``sent`` receipts
    sent_receipts: Counter[str]
    #: message SID -> notification id it was created for
    sid_owner: dict[str, str]
    #: notification id -> gateway ids on its sent receipts
    recorded_sids: dict[str, list[str]]

    @classmethod
    def take(cls, standin: TwilioStandin) -> Tally:
        sid_owner = {m.sid: notification_id_of(m.status_callback) for m in standin.messages}
        statuses = {
            str(pk): status for pk, status in Notification.objects.values_list("pk", "status")
        }
        sent = DeliveryReceipt.objects.filter(status="sent").values_list(
            "notification_id", "gateway_message_id"
        )
        recorded: dict[str, list[str]] = {}
        for notification_id, sid in sent:
            recorded.setdefault(str(notification_id), []).append(sid)
        return cls(
            sends=Counter(sid_owner.values()),
            statuses=statuses,
            sent_receipts=Counter({pk: len(sids) for pk, sids in recorded.items()}),
            sid_owner=sid_owner,
            recorded_sids=recorded,
        )

    def sends_per_notification(self) -> dict[int, int]:
        """How many notifications reached the gateway 0, 1, 2, ... times."""
        histogram = Counter(self.sends.get(pk, 0) for pk in self.statuses)
        return dict(sorted(histogram.items()))

    def duplicates(self) -> int:
        """Messages the gateway created beyond the first of each notification."""
        return sum(count - 1 for count in self.sends.values() if count > 1)

    def status_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.statuses.values()).items()))

    def never_at_gateway(self) -> list[str]:
        return [pk for pk in self.statuses if not self.sends.get(pk)]

    def strangers(self) -> list[str]:
        """Messages created for no notification of this test."""
        return [sid for sid, owner in self.sid_owner.items() if owner not in self.statuses]

    def misrecorded(self) -> list[str]:
        """Notifications whose sent receipt names a message the gateway did not create for
        them (another notification's, or none at all)."""
        return [
            pk
            for pk, sids in self.recorded_sids.items()
            if any(self.sid_owner.get(sid) != pk for sid in sids)
        ]

    def summary(self) -> str:
        return (
            f"sends per notification {self.sends_per_notification()} "
            f"(sends: notifications), duplicates {self.duplicates()}, "
            f"statuses {self.status_counts()}"
        )


def report(title: str, **figures: object) -> None:
    """Print the figures of one suite (``pytest -s`` shows them)."""
    lines = "\n".join(f"  {name.replace('_', ' ')}: {value}" for name, value in figures.items())
    print(f"\n[faults] {title} ({connection.vendor})\n{lines}")
