"""Delivery in a separate worker process through a real queue (django-tasks-db)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from chargesol_notifications import notify

from .factories import UserFactory

pytest.importorskip("django_tasks_db")

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(
        connection.vendor == "sqlite", reason="the worker needs a database server to share"
    ),
]

REPO_ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """The URL of the test database, for the worker process."""
    db = connection.settings_dict
    scheme = {"postgresql": "postgres", "mysql": "mysql"}[connection.vendor]
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"{scheme}://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def run_worker(mode: str = "console") -> str:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "CHARGESOL_TEST_WORKER": mode,
        "PYTHONPATH": str(REPO_ROOT),
    }
    worker = subprocess.run(
        [
            sys.executable,
            "-m",
            "django",
            "db_worker",
            "--backend",
            "database",
            "--batch",
            "--no-startup-delay",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert worker.returncode == 0, worker.stderr
    return worker.stdout


@pytest.mark.django_db(transaction=True)
def test_notify_is_delivered_by_a_worker_process(settings):
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "TASK_BACKEND": "database",
    }
    user = UserFactory(phone="+447700900123")

    n = notify(user, "sms", body="Your surveyor arrives at 10am", context_type="survey")

    n.refresh_from_db()
    assert n.status == "queued"  # enqueued on commit, not run in this process
    output = run_worker()
    assert "[sms] to +447700900123" in output
    assert "Your surveyor arrives at 10am" in output
    n.refresh_from_db()
    assert n.status == "sent"
    assert n.receipts.get().gateway_message_id.startswith("console-")


@pytest.mark.django_db(transaction=True)
def test_a_transient_failure_is_retried_as_a_deferred_task(settings):
    from django_tasks_db.models import DBTaskResult

    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "TASK_BACKEND": "database",
    }
    n = notify(UserFactory(), "sms", body="Your quote is ready")

    run_worker("flaky")

    n.refresh_from_db()
    assert n.status == "sent"
    receipts = list(n.receipts.order_by("received_at"))
    assert [(r.status, r.error_code) for r in receipts] == [("failed", "timeout"), ("sent", None)]
    tasks = list(DBTaskResult.objects.order_by("enqueued_at"))
    assert len(tasks) == 2  # the first delivery, and the retry it deferred
    assert tasks[1].run_after is not None
