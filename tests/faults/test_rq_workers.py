"""Scale-out on RQ: two RQ workers share one Redis queue and deliver 500 SMS, each once.

Nothing in delivery is specific to RQ: ``notify_many()`` hands its tasks to
django-tasks-rq's backend, two ``manage.py rqworker`` processes (django-rq) run them, and
the Twilio stand-in served by this test process counts what reached the gateway for each
notification (its status callback URL carries ``?n=<notification id>``).

Needs a database server the workers share (skipped on SQLite) and Redis, at
``CHARGESOL_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/15``). The test owns that
Redis database: it clears RQ's ``default`` queue there (waiting, held, deferred and
failed jobs) before it starts.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection

from chargesol_notifications import notify, notify_many
from chargesol_notifications.models import Notification
from chargesol_notifications.recipients import normalise_phone
from chargesol_notifications.testing.twilio import RecordedMessage, TwilioStandin

from ..factories import UserFactory
from ..test_worker import database_url
from . import rq_support

pytest.importorskip("django_tasks_rq")

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(
        connection.vendor == "sqlite", reason="RQ workers need a database server to share"
    ),
]

NOTIFICATIONS = 500
WORKERS = 2
#: Seconds for the workers to start, and for them to deliver everything.
START_TIMEOUT = 60
DELIVERY_TIMEOUT = 120


@dataclass
class Deployment:
    """The Twilio stand-in, the RQ queue, and the workers waiting on it."""

    standin: TwilioStandin
    queue: Any
    workers: rq_support.RQWorkers

    def wait_until_delivered(self) -> float:
        """Until no notification is queued; the seconds that took."""
        started = time.monotonic()
        queued = Notification.objects.filter(status="queued")
        self.workers.wait_until(
            lambda: not queued.exists(), DELIVERY_TIMEOUT, "notifications are still queued"
        )
        return time.monotonic() - started


@pytest.fixture
def redis_url():
    url = rq_support.redis_url()
    if not rq_support.redis_reachable(url):
        pytest.skip(f"Redis is not reachable at {url} (set {rq_support.REDIS_URL_VARIABLE})")
    return url


@pytest.fixture
def rq_queue(settings, redis_url):
    """This process enqueues on RQ, through django-tasks-rq, as the workers' settings do."""
    import django_rq

    settings.RQ_QUEUES = rq_support.rq_queues(redis_url)
    settings.TASKS = {**settings.TASKS, rq_support.TASK_BACKEND_ALIAS: rq_support.TASK_BACKEND}
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "TASK_BACKEND": rq_support.TASK_BACKEND_ALIAS,
    }
    queue = django_rq.get_queue(rq_support.QUEUE)
    rq_support.empty(queue)
    return queue


@pytest.fixture
def deployment(transactional_db, redis_url, rq_queue, tmp_path):
    """Two RQ workers, both waiting on the queue before anything is enqueued (so both
    get work even when there are only a few tasks, a batch of notifications each)."""
    run = uuid.uuid4().hex[:8]
    names = [f"chargesol-test-{run}-{i}" for i in range(WORKERS)]
    with TwilioStandin() as standin:
        env = rq_support.worker_env(database_url(), redis_url, standin.url)
        with rq_support.RQWorkers(names, env, tmp_path) as workers:
            workers.wait_until_idle(rq_queue.connection, START_TIMEOUT)
            yield Deployment(standin, rq_queue, workers)
        standin.assert_no_violations()


def notification_id(message: RecordedMessage) -> str:
    """The notification a message was sent for, read from its status callback URL."""
    (n,) = parse_qs(urlsplit(message.status_callback or "").query)["n"]
    return str(uuid.UUID(n))


def test_two_rq_workers_deliver_500_sms_each_exactly_once(deployment):
    from rq.registry import FailedJobRegistry

    users = UserFactory.create_batch(NOTIFICATIONS)

    notifications = notify_many(users, "sms", body="Your installer arrives at 9am")

    took = deployment.wait_until_delivered()
    deployment.workers.stop(timeout=30)
    # What reached the gateway: one message per notification, to its recipient.
    messages = deployment.standin.messages
    assert len(messages) == NOTIFICATIONS
    assert Counter(notification_id(m) for m in messages) == Counter(
        str(n.pk) for n in notifications
    )
    phones = {str(n.pk): normalise_phone(n.recipient.phone) for n in notifications}
    assert {notification_id(m): m.to for m in messages} == phones
    # What the app recorded: all sent, by tasks that all succeeded.
    statuses = Counter(Notification.objects.values_list("status", flat=True))
    assert statuses == {"sent": NOTIFICATIONS}
    assert FailedJobRegistry(queue=deployment.queue).count == 0
    assert deployment.queue.count == 0
    # Both workers took part.
    jobs_done = deployment.workers.jobs_done(deployment.queue.connection)
    assert all(count > 0 for count in jobs_done.values()), jobs_done
    print(f"\n{NOTIFICATIONS} SMS by {WORKERS} RQ workers in {took:.1f} s; jobs: {jobs_done}")


def test_a_transient_failure_is_retried_by_rq_scheduler(deployment):
    """A retry is a deferred task (run_after): RQ keeps it in its registry of scheduled
    jobs until a worker running RQ's scheduler (``--with-scheduler``, as these do) puts
    it on the queue. Without the flag, it stays there and the notification ``queued``."""
    deployment.standin.fail_next(20500, status=503)

    n = notify(UserFactory(), "sms", body="Your quote is ready")

    deployment.wait_until_delivered()
    deployment.workers.stop(timeout=30)
    n.refresh_from_db()
    assert n.status == "sent"
    creates = [r for r in deployment.standin.requests if r.method == "POST"]
    assert [r.status for r in creates] == [503, 201]
    assert [notification_id(m) for m in deployment.standin.messages] == [str(n.pk)]
