"""Batched delivery: one task per batch, waves of CONCURRENCY sent at once, recorded in
bulk; pacing settings and their checks."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chargesol_notifications import notify, notify_many, outbox
from chargesol_notifications.checks import check_channels, check_settings
from chargesol_notifications.delivery import deliver_batch
from chargesol_notifications.delivery_settings import batch_size, channel_pacing
from chargesol_notifications.exceptions import ConfigurationError
from chargesol_notifications.models import DeliveryReceipt, Notification, NotificationTemplate

from . import timed_backend
from .factories import (
    DeliveryReceiptFactory,
    NotificationFactory,
    NotificationTemplateFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

TIMED = "tests.timed_backend.TimedBackend"
LOCMEM = "chargesol_notifications.backends.locmem.LocmemBackend"


@pytest.fixture(autouse=True)
def _reset_log():
    timed_backend.reset()


@pytest.fixture
def channel(settings):
    """Point the SMS channel at the timed backend with the given pacing."""

    def configure(seconds=0.02, **pacing):
        value = dict(settings.CHARGESOL_NOTIFICATIONS)
        value["CHANNELS"] = {
            **value["CHANNELS"],
            "sms": {"BACKEND": TIMED, "OPTIONS": {"SECONDS": seconds}, **pacing},
        }
        settings.CHARGESOL_NOTIFICATIONS = value

    return configure


def queued(count, channel="sms"):
    return NotificationFactory.create_batch(count, channel=channel)


# -- one task per batch ---------------------------------------------------------------


@pytest.fixture
def database_queue(settings):
    """Enqueue into django-tasks-db's queue (nobody runs it here): the tasks can be read."""
    pytest.importorskip("django_tasks_db")
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "TASK_BACKEND": "database",
        "DELIVERY_BATCH_SIZE": 100,
    }
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects


def task_enqueued_signal():
    """The tasks framework's ``task_enqueued`` (Django 6: django.tasks; 5.2: the backport)."""
    try:
        from django.tasks.signals import task_enqueued
    except ImportError:
        from django_tasks.signals import task_enqueued
    return task_enqueued


def test_notify_many_enqueues_one_task_per_batch(
    database_queue, django_capture_on_commit_callbacks
):
    users = UserFactory.create_batch(250)
    with django_capture_on_commit_callbacks(execute=True):
        notifications = notify_many(users, "sms", body="Power cut on your street tonight")
    tasks = list(database_queue.order_by("enqueued_at"))
    assert [t.task_path.rsplit(".", 1)[1] for t in tasks] == ["deliver_notifications"] * 3
    batches = [t.args_kwargs["args"][0].split() for t in tasks]
    assert [len(batch) for batch in batches] == [100, 100, 50]
    assert [pk for batch in batches for pk in batch] == [str(n.pk) for n in notifications]
    assert {t.args_kwargs["args"][2] for t in tasks} == {"sms"}


@pytest.mark.django_db(transaction=True)
def test_batches_go_into_a_database_queue_in_one_transaction(database_queue):
    """django-tasks-db's queue is a table: its batches are written in one transaction
    (one commit instead of one per batch)."""
    from django.db import connection

    task_enqueued = task_enqueued_signal()
    seen = []

    def record(sender, task_result, **kwargs):
        seen.append((connection.in_atomic_block, len(connection.savepoint_ids)))

    task_enqueued.connect(record)
    try:
        notify_many(UserFactory.create_batch(250), "sms", body="Power cut tonight")
    finally:
        task_enqueued.disconnect(record)
    assert seen == [(True, 0)] * 3
    assert database_queue.count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_fails_to_enqueue_is_rolled_back_alone(database_queue, caplog):
    """The second batch's enqueue fails after its row was written, every time: the
    transaction of all three is rolled back, they are enqueued again one transaction
    each, the failed one's row is rolled back with its own, and its notifications stay
    ``queued`` for deliver_queued."""
    task_enqueued = task_enqueued_signal()
    users = UserFactory.create_batch(250)
    failing = []

    def fail_second(sender, task_result, **kwargs):
        if task_result.args[0].split()[0] in failing:
            raise RuntimeError("queue full")

    notifications = []
    task_enqueued.connect(fail_second)
    try:
        from chargesol_notifications.delivery import enqueue_delivery

        notifications = [
            NotificationFactory(recipient=user, channel="sms", body="x") for user in users
        ]
        failing.append(str(notifications[100].pk))
        enqueue_delivery([n.pk for n in notifications], channel="sms")
    finally:
        task_enqueued.disconnect(fail_second)
    kept = list(database_queue.order_by("enqueued_at"))
    assert len(kept) == 2
    enqueued = [pk for task in kept for pk in task.args_kwargs["args"][0].split()]
    assert enqueued == [str(n.pk) for n in notifications[:100] + notifications[200:]]
    assert Notification.objects.filter(status="queued").count() == 250
    assert "enqueueing them one by one" in caplog.text
    assert "Could not enqueue a delivery batch of 100 notification(s)" in caplog.text
    assert "100 notification(s) left for deliver_queued" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_passing_failure_costs_no_batch(database_queue):
    """A failure that does not repeat (the first attempt of the second batch): all three
    batches end up queued, each once."""
    task_enqueued = task_enqueued_signal()
    calls = []

    def fail_once(sender, task_result, **kwargs):
        calls.append(task_result.id)
        if len(calls) == 2:
            raise RuntimeError("connection reset")

    task_enqueued.connect(fail_once)
    try:
        notifications = notify_many(UserFactory.create_batch(250), "sms", body="x")
    finally:
        task_enqueued.disconnect(fail_once)
    kept = list(database_queue.order_by("enqueued_at"))
    assert [str(task.id) for task in kept] == calls[2:]
    enqueued = [pk for task in kept for pk in task.args_kwargs["args"][0].split()]
    assert enqueued == [str(n.pk) for n in notifications]


def test_a_batch_task_of_the_former_form_still_delivers(channel):
    """Tasks enqueued before the ids became one string carry a list of them."""
    from chargesol_notifications.delivery import deliver_notifications

    channel(seconds=0)
    notifications = queued(3)
    counts = deliver_notifications.call([str(n.pk) for n in notifications], None, "sms")
    assert counts == {"sent": 3}
    assert Notification.objects.filter(status="sent").count() == 3


def test_notify_stays_one_task(database_queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        n = notify(UserFactory(), "sms", body="Your survey is tomorrow")
    (task,) = database_queue.all()
    assert task.task_path.endswith(".deliver_notification")
    assert task.args_kwargs["args"] == [str(n.pk)]


def test_notify_many_of_one_recipient_is_one_single_task(
    database_queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        notify_many([UserFactory()], "sms", body="x")
    (task,) = database_queue.all()
    assert task.task_path.endswith(".deliver_notification")


def test_a_batch_task_of_the_immediate_backend_delivers_everything(
    channel, django_capture_on_commit_callbacks
):
    channel(seconds=0, CONCURRENCY=8)
    users = UserFactory.create_batch(30)
    with django_capture_on_commit_callbacks(execute=True):
        notify_many(users, "sms", body="x")
    assert Notification.objects.filter(status="sent").count() == 30
    assert len(timed_backend.log) == 30


# -- waves ----------------------------------------------------------------------------


def test_a_wave_sends_concurrency_messages_at_once_and_never_more(channel):
    channel(seconds=0.05, CONCURRENCY=4)
    notifications = queued(12)
    outcomes = deliver_batch([n.pk for n in notifications], channel="sms")
    assert {o.result for o in outcomes.values()} == {"sent"}
    assert max(send.in_flight for send in timed_backend.log) == 4
    assert len({send.thread for send in timed_backend.log}) == 4
    assert all(send.thread.startswith("chargesol-send") for send in timed_backend.log)


def test_concurrency_one_sends_from_the_delivering_thread_one_at_a_time(channel):
    channel(seconds=0, CONCURRENCY=1)
    deliver_batch([n.pk for n in queued(5)], channel="sms")
    assert {send.in_flight for send in timed_backend.log} == {1}
    assert {send.thread for send in timed_backend.log} == {"MainThread"}


def test_a_backend_that_waits_for_nothing_sends_its_wave_from_the_delivering_thread(
    settings, django_assert_max_num_queries
):
    from chargesol_notifications import outbox

    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "CHANNELS": {
            **settings.CHARGESOL_NOTIFICATIONS["CHANNELS"],
            "sms": {
                "BACKEND": "chargesol_notifications.backends.locmem.LocmemBackend",
                "CONCURRENCY": 32,
            },
        },
    }
    ids = [n.pk for n in queued(32)]
    outbox.clear()
    with django_assert_max_num_queries(8):  # one wave (see the test below)
        deliver_batch(ids, channel="sms")
    assert [m.notification_id for m in outbox] == ids


def test_every_send_is_recorded_like_a_single_delivery(channel):
    channel(seconds=0, CONCURRENCY=8)
    notifications = queued(20)
    deliver_batch([n.pk for n in notifications], channel="sms")
    for n in notifications:
        n.refresh_from_db()
        receipt = n.receipts.get()
        assert (n.status, receipt.status) == ("sent", "sent")
        assert receipt.gateway_message_id == f"TIMED-{n.pk}"
        assert n.sent_at == receipt.received_at


def test_a_wave_costs_a_fixed_number_of_queries(channel, django_assert_max_num_queries):
    """Claim and load (1-2), recipients (1), the opt-out list (1), receipts (1),
    statuses (1), and the savepoint the test's own transaction turns the wave's
    transaction into (2)."""
    channel(seconds=0, CONCURRENCY=16)
    ids = [n.pk for n in queued(64)]
    with django_assert_max_num_queries(4 * 8):
        deliver_batch(ids, channel="sms")
    assert Notification.objects.filter(status="sent").count() == 64


def test_mixed_outcomes_in_one_wave(settings, channel):
    """A bad address fails, the others are sent; one INSERT carries both kinds."""
    channel(seconds=0, CONCURRENCY=8)
    good = queued(3)
    bad = NotificationFactory(channel="sms", recipient=UserFactory(phone=""))
    deliver_batch([n.pk for n in [*good, bad]], channel="sms")
    bad.refresh_from_db()
    assert bad.status == "failed"
    assert bad.receipts.get().error_code == "no_address"
    assert Notification.objects.filter(pk__in=[n.pk for n in good], status="sent").count() == 3


def test_rows_no_longer_queued_are_skipped(channel):
    channel(seconds=0, CONCURRENCY=4)
    notifications = queued(4)
    Notification.objects.filter(pk=notifications[0].pk).update(status="sent")
    outcomes = deliver_batch([n.pk for n in notifications], channel="sms")
    assert outcomes[notifications[0].pk].result == "skipped"
    assert len(timed_backend.log) == 3
    assert not DeliveryReceipt.objects.filter(notification=notifications[0]).exists()


def test_deliver_queued_delivers_in_batches(settings, channel):
    channel(seconds=0, CONCURRENCY=8)
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "DELIVERY_BATCH_SIZE": 10,
    }
    queued(25)
    queued(5, channel="email")
    out = StringIO()
    call_command("deliver_queued", min_age=0, stdout=out)
    assert out.getvalue().strip() == "Delivered 30 due notification(s): 30 sent."
    assert len(timed_backend.log) == 25


def test_deliver_queued_loads_each_template_once_per_run(settings):
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "CHANNELS": {
            **settings.CHARGESOL_NOTIFICATIONS["CHANNELS"],
            "sms": {"BACKEND": LOCMEM, "CONCURRENCY": 4},
        },
        "DELIVERY_BATCH_SIZE": 8,
    }
    outbox.clear()
    reminder = NotificationTemplateFactory(name="survey_reminder", channel="sms")
    NotificationFactory.create_batch(24, channel="sms", template=reminder)
    template_table = connection.ops.quote_name(NotificationTemplate._meta.db_table)
    with CaptureQueriesContext(connection) as captured:
        call_command("deliver_queued", min_age=0, stdout=StringIO())
    assert [message.template_name for message in outbox] == ["survey_reminder"] * 24
    # Three batches of two waves each: the template is read once, in the first wave.
    reads = [q for q in captured.captured_queries if f"FROM {template_table}" in q["sql"]]
    assert len(reads) == 1


# -- pacing settings ------------------------------------------------------------------


def test_pacing_defaults_come_from_the_backend(settings):
    from chargesol_notifications.backends.twilio import SmsBackend

    assert channel_pacing("email").concurrency == 1  # the test settings: locmem
    assert SmsBackend.default_concurrency == 8
    assert channel_pacing("sms").rate_limit is None
    assert batch_size() == 250


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("CONCURRENCY", 0),
        ("CONCURRENCY", 257),
        ("CONCURRENCY", True),
        ("CONCURRENCY", "8"),
        ("RATE_LIMIT", 0),
        ("RATE_LIMIT", -1),
        ("RATE_LIMIT", float("nan")),
        ("RATE_LIMIT", "10/s"),
    ],
)
def test_bad_pacing_is_e014_and_a_configuration_error(channel, key, value):
    channel(**{key: value})
    errors = [m for m in check_channels() if m.id == "chargesol_notifications.E014"]
    assert len(errors) == 1
    assert f"['CHANNELS']['sms']['{key}']" in errors[0].msg
    with pytest.raises(ConfigurationError, match=rf"\['sms'\]\['{key}'\]"):
        channel_pacing("sms")


@pytest.mark.parametrize("value", [0, 10_001, 2.5, None])
def test_a_bad_batch_size_is_e014(settings, value):
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "DELIVERY_BATCH_SIZE": value,
    }
    assert [m.id for m in check_settings()] == ["chargesol_notifications.E014"]


def test_a_rate_limit_in_a_per_process_cache_is_w015(channel):
    channel(RATE_LIMIT=10)
    (warning,) = [m for m in check_channels() if m.id == "chargesol_notifications.W015"]
    assert "LocMemCache" in warning.msg
    assert "RATE_LIMIT_CACHE" in warning.hint


@pytest.mark.parametrize(
    "backend",
    [
        "django.core.cache.backends.db.DatabaseCache",
        "django.core.cache.backends.filebased.FileBasedCache",
    ],
)
def test_a_rate_limit_in_a_cache_that_increments_by_get_and_set_is_w015(settings, channel, backend):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "shared": {"BACKEND": backend, "LOCATION": "throttle"},
    }
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "RATE_LIMIT_CACHE": "shared",
    }
    channel(RATE_LIMIT=10)
    (warning,) = [m for m in check_channels() if m.id == "chargesol_notifications.W015"]
    assert "does not increment atomically" in warning.msg


def test_a_rate_limit_in_a_shared_cache_is_fine(settings, channel):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "shared": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/14",
        },
    }
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "RATE_LIMIT_CACHE": "shared",
    }
    channel(RATE_LIMIT=10)
    assert not [m for m in check_channels() if m.id.startswith("chargesol_notifications.W015")]


def test_an_unknown_rate_limit_cache_is_e016(settings):
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "RATE_LIMIT_CACHE": "nowhere",
    }
    assert [m.id for m in check_settings()] == ["chargesol_notifications.E016"]


# -- a message found at the gateway is one notification's -----------------------------


@pytest.fixture
def finding_channel(settings):
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "CHANNELS": {
            **settings.CHARGESOL_NOTIFICATIONS["CHANNELS"],
            "sms": {"BACKEND": "tests.timed_backend.FindingBackend", "CONCURRENCY": 8},
        },
        "RETRY_BACKOFF_SECONDS": 0,
    }


def after_a_timeout(notification):
    DeliveryReceiptFactory(
        notification=notification, status="failed", gateway_message_id=None, error_code="timeout"
    )
    return notification


def test_two_lookups_finding_one_message_give_it_to_the_oldest(finding_channel):
    older, newer = (after_a_timeout(n) for n in queued(2))
    Notification.objects.filter(pk=newer.pk).update(
        created_at=older.created_at + timedelta(seconds=1)
    )
    outcomes = deliver_batch([newer.pk, older.pk], channel="sms")
    assert (outcomes[older.pk].result, outcomes[newer.pk].result) == ("sent", "retry")
    assert DeliveryReceipt.objects.get(gateway_message_id="SMFOUND").notification_id == older.pk
    newer.refresh_from_db()
    assert newer.status == "queued"
    assert newer.receipts.order_by("received_at").last().error_code == "lookup_failed"
    assert timed_backend.log == []  # nothing was sent: both were looked up


def test_a_found_message_already_recorded_for_another_notification_is_not_taken(finding_channel):
    DeliveryReceiptFactory(gateway_message_id="SMFOUND")  # another notification's, sent
    (n,) = (after_a_timeout(n) for n in queued(1))
    outcomes = deliver_batch([n.pk], channel="sms")
    assert outcomes[n.pk].result == "retry"
    n.refresh_from_db()
    assert (n.status, n.sent_at) == ("queued", None)
    assert n.receipts.order_by("received_at").last().error_code == "lookup_failed"


# -- the task queue --------------------------------------------------------------------


def test_task_queue_names_the_queue_of_the_tasks(
    settings, database_queue, django_capture_on_commit_callbacks
):
    settings.TASKS = {
        **settings.TASKS,
        "database": {**settings.TASKS["database"], "QUEUES": ["default", "notifications"]},
    }
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "TASK_QUEUE": "notifications",
    }
    with django_capture_on_commit_callbacks(execute=True):
        notify_many(UserFactory.create_batch(2), "sms", body="x")
    assert [task.queue_name for task in database_queue.all()] == ["notifications"]


def test_a_task_queue_the_backend_does_not_have_is_e017(settings, database_queue):
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "TASK_QUEUE": "notifications",
    }
    (error,) = [m for m in check_settings() if m.id == "chargesol_notifications.E017"]
    assert "'notifications'" in error.msg


# -- a retry that runs too early --------------------------------------------------------


def test_a_retry_run_before_its_time_is_deferred_again_past_it(settings, channel):
    """A queue that keeps times in whole seconds (RQ) may start a deferred task up to a
    second early: the notification is not due yet, and must not wait for cron."""
    channel(seconds=0)
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "RETRY_BACKOFF_SECONDS": 60,
    }
    (n,) = queued(1)
    failure = DeliveryReceiptFactory(
        notification=n, status="failed", gateway_message_id=None, error_code="timeout"
    )
    (outcome,) = deliver_batch([n.pk], channel="sms").values()
    assert outcome.result == "not_due"
    # due half the un-jittered wait (60 s) after the failure; deferred a second past it
    assert outcome.retry_at == failure.received_at + timedelta(seconds=31)
