"""Scheduled notifications: notify(send_at=...), quiet hours, cancel and reschedule.

Time moves by freezegun's clock, never by sleeping: a notification "becomes due" when
the frozen clock passes its ``scheduled_for``. The tasks of django-tasks-db (the
"database" alias of tests/settings.py) are run in this process, as its worker runs
them: the ready ones (``run_after`` passed), each once.
"""

from __future__ import annotations

import io
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from freezegun import freeze_time

import chargesol_notifications
from chargesol_notifications import cancel_scheduled, notify, notify_many
from chargesol_notifications.delivery import deliver
from chargesol_notifications.exceptions import InvalidMessageError
from chargesol_notifications.models import Notification

from .factories import NotificationTemplateFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_quiet_hours")]


LONDON = ZoneInfo("Europe/London")
#: A Tuesday in January (GMT): 10:00 in London, inside every channel's opening hours.
MORNING = datetime(2027, 1, 12, 10, 0, tzinfo=LONDON)

try:
    from django_tasks_db.models import DBTaskResult
except ImportError:  # pragma: no cover - the test settings install it when it is there
    DBTaskResult = None

needs_db_tasks = pytest.mark.skipif(DBTaskResult is None, reason="django-tasks-db not installed")


@pytest.fixture
def no_quiet_hours(settings):
    """Scheduling on its own: whatever the hour, nothing is held for quiet hours."""
    settings.CHARGESOL_NOTIFICATIONS = {**settings.CHARGESOL_NOTIFICATIONS, "QUIET_HOURS": None}


@pytest.fixture
def database_tasks(settings):
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "TASK_BACKEND": "database",
    }


@pytest.fixture
def customer():
    return UserFactory(first_name="Ada", phone="+447700900123")


def sent_bodies() -> list[str]:
    return [message.body for message in chargesol_notifications.outbox]


def run_ready_tasks() -> int:
    """Run django-tasks-db's ready tasks once each, as its worker would; how many ran."""
    ran = 0
    for result in list(DBTaskResult.objects.ready()):
        result.task.call(*result.args_kwargs["args"], **result.args_kwargs["kwargs"])
        result.delete()
        ran += 1
    return ran


def deliver_queued(*args: str) -> None:
    call_command("deliver_queued", *args, stdout=io.StringIO())


# -- send_at --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "send_at",
    [datetime(2027, 1, 12, 18, 0), date(2027, 1, 12), "2027-01-12T18:00:00+00:00", 1767225600],
    ids=["naive", "date", "text", "timestamp"],
)
def test_send_at_must_be_an_aware_datetime(customer, send_at, no_quiet_hours):
    with pytest.raises(InvalidMessageError, match="send_at") as caught:
        notify(customer, "sms", body="Reminder", send_at=send_at)
    assert isinstance(caught.value, ValueError)
    assert not Notification.objects.exists()


def test_urgent_must_be_a_boolean(customer):
    with pytest.raises(InvalidMessageError, match="urgent"):
        notify(customer, "sms", body="Reminder", urgent="yes")
    assert not Notification.objects.exists()


@freeze_time(MORNING)
def test_send_at_in_the_past_means_now(
    customer, no_quiet_hours, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        n = notify(customer, "sms", body="Late", send_at=MORNING - timedelta(hours=1))
    assert n.scheduled_for is None
    assert sent_bodies() == ["Late"]


@freeze_time(MORNING)
def test_notify_many_schedules_every_row(no_quiet_hours, django_capture_on_commit_callbacks):
    users = [UserFactory() for _ in range(3)]
    when = MORNING + timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        rows = notify_many(users, "sms", body="Tomorrow", send_at=when)
    assert {n.scheduled_for for n in Notification.objects.all()} == {when}
    assert len(rows) == 3
    assert sent_bodies() == []


# -- due, and not before: the immediate backend and deliver_queued ------------------------------


def test_immediate_backend_leaves_a_scheduled_reminder_to_deliver_queued(
    customer, no_quiet_hours, django_capture_on_commit_callbacks
):
    when = MORNING + timedelta(hours=2)
    with freeze_time(MORNING), django_capture_on_commit_callbacks(execute=True):
        n = notify(customer, "sms", body="Your survey is tomorrow", send_at=when)
    n.refresh_from_db()
    assert (n.status, n.scheduled_for) == ("queued", when)
    assert sent_bodies() == []

    with freeze_time(when - timedelta(minutes=1)):
        deliver_queued("--min-age", "0")
        # A task that runs early (a requeue, a lost clock) finds it not due either.
        assert deliver(n.pk).result == "not_due"
    assert sent_bodies() == []

    # Restarts lose nothing: the row is what deliver_queued reads.
    with freeze_time(when + timedelta(minutes=2)):
        deliver_queued()
        deliver_queued("--min-age", "0")
    assert sent_bodies() == ["Your survey is tomorrow"]
    n.refresh_from_db()
    assert n.status == "sent"


def test_deliver_queued_gives_a_due_reminder_min_age_to_its_own_task(customer, no_quiet_hours):
    when = MORNING + timedelta(hours=2)
    with freeze_time(MORNING):
        notify(customer, "sms", body="Soon", send_at=when)
    with freeze_time(when + timedelta(seconds=30)):
        deliver_queued()  # --min-age 60, counted from the scheduled time
    assert sent_bodies() == []
    with freeze_time(when + timedelta(seconds=61)):
        deliver_queued()
    assert sent_bodies() == ["Soon"]


# -- due, and not before: a task backend that defers ------------------------------------------


@needs_db_tasks
@pytest.mark.parametrize("first", ["task", "deliver_queued"])
def test_a_deferred_task_sends_when_due_and_never_twice(
    customer, no_quiet_hours, database_tasks, django_capture_on_commit_callbacks, first
):
    when = MORNING + timedelta(hours=2)
    with freeze_time(MORNING), django_capture_on_commit_callbacks(execute=True):
        n = notify(customer, "sms", body="Reminder", send_at=when)
    (task,) = DBTaskResult.objects.all()
    assert task.run_after == when
    with freeze_time(when - timedelta(seconds=1)):
        assert run_ready_tasks() == 0
    assert sent_bodies() == []

    with freeze_time(when + timedelta(minutes=5)):
        if first == "task":
            assert run_ready_tasks() == 1
            deliver_queued("--min-age", "0")
        else:
            deliver_queued("--min-age", "0")
            assert run_ready_tasks() == 1
    assert sent_bodies() == ["Reminder"]
    n.refresh_from_db()
    assert n.status == "sent"


@needs_db_tasks
def test_a_task_that_runs_early_defers_itself_again(
    customer, no_quiet_hours, database_tasks, django_capture_on_commit_callbacks
):
    when = MORNING + timedelta(hours=2)
    with freeze_time(MORNING), django_capture_on_commit_callbacks(execute=True):
        n = notify(customer, "sms", body="Reminder", send_at=when)
    DBTaskResult.objects.all().delete()
    with (
        freeze_time(when - timedelta(minutes=10)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert deliver(n.pk).result == "not_due"
    (again,) = DBTaskResult.objects.all()
    assert again.run_after == when + timedelta(seconds=1)
    with freeze_time(when + timedelta(seconds=2)):
        assert run_ready_tasks() == 1
    assert sent_bodies() == ["Reminder"]


# -- reschedule and cancel ---------------------------------------------------------------------


def book_reminder(user, survey_id: uuid.UUID, when: datetime) -> Notification:
    """The survey reminder recipe of docs/scheduling.rst: one pending reminder per survey."""
    key = f"survey-reminder-{survey_id}"
    with transaction.atomic():
        cancel_scheduled(idempotency_key=key, recipient=user, channel="sms")
        return notify(
            user,
            "sms",
            body=f"Reminder: your survey is at {when:%H:%M}.",
            send_at=when,
            context_type="survey",
            context_id=survey_id,
            idempotency_key=key,
        )


@pytest.mark.parametrize("backend", ["immediate", pytest.param("database", marks=needs_db_tasks)])
def test_rescheduling_three_times_leaves_one_reminder_and_sends_one_message(
    customer, no_quiet_hours, settings, django_capture_on_commit_callbacks, backend
):
    if backend == "database":
        settings.CHARGESOL_NOTIFICATIONS = {
            **settings.CHARGESOL_NOTIFICATIONS,
            "TASK_BACKEND": "database",
        }
    survey = uuid.uuid4()
    times = [MORNING + timedelta(days=days) for days in (1, 3, 2)]
    with freeze_time(MORNING):
        for when in times:
            with django_capture_on_commit_callbacks(execute=True):
                book_reminder(customer, survey, when)
    (pending,) = Notification.objects.filter(status="queued")
    assert pending.scheduled_for == times[-1]
    assert pending.body == "Reminder: your survey is at 10:00."

    for moment in sorted(times):
        for late in (timedelta(minutes=2), timedelta(hours=1)):
            with freeze_time(moment + late), django_capture_on_commit_callbacks(execute=True):
                deliver_queued()
                if backend == "database":
                    run_ready_tasks()
    assert len(sent_bodies()) == 1
    assert Notification.objects.get().status == "sent"


@freeze_time(MORNING)
def test_cancel_by_key_needs_the_recipient_and_cancels_one(customer, no_quiet_hours):
    other = UserFactory()
    later = MORNING + timedelta(days=1)
    for user in (customer, other):
        notify(user, "sms", body="Reminder", send_at=later, idempotency_key="k1")
    with pytest.raises(InvalidMessageError, match="recipient"):
        cancel_scheduled(idempotency_key="k1")
    assert cancel_scheduled(idempotency_key="k1", recipient=customer) == 1
    assert cancel_scheduled(idempotency_key="k1", recipient=customer) == 0
    assert list(Notification.objects.values_list("recipient", flat=True)) == [other.pk]


@freeze_time(MORNING)
def test_cancel_by_context_and_by_context_and_template(customer, no_quiet_hours):
    survey, install = uuid.uuid4(), uuid.uuid4()
    reminder = NotificationTemplateFactory(name="survey_reminder_sms")
    confirm = NotificationTemplateFactory(name="survey_confirm_sms")
    later = MORNING + timedelta(days=1)
    for template in (reminder, confirm):
        notify(
            customer,
            "sms",
            template=template,
            send_at=later,
            context_type="survey",
            context_id=survey,
        )
    notify(
        customer, "sms", body="x", send_at=later, context_type="installation", context_id=install
    )
    # Queued but not scheduled, and sent: neither is cancelled.
    unscheduled = notify(customer, "sms", body="now", context_type="survey", context_id=survey)
    Notification.objects.filter(pk=unscheduled.pk).update(status="queued")

    kept = set(Notification.objects.values_list("pk", flat=True))
    assert (
        cancel_scheduled(context_type="survey", context_id=survey, template="survey_reminder_sms")
        == 1
    )
    assert not Notification.objects.filter(template=reminder).exists()
    assert cancel_scheduled(context_type="survey", context_id=str(survey)) == 1
    assert not Notification.objects.filter(template=confirm).exists()
    assert set(Notification.objects.values_list("pk", flat=True)) < kept
    assert Notification.objects.filter(pk=unscheduled.pk).exists()
    assert Notification.objects.filter(context_id=install).exists()


def test_cancel_needs_a_key_or_a_context_id():
    with pytest.raises(InvalidMessageError):
        cancel_scheduled(context_type="survey")
    with pytest.raises(InvalidMessageError):
        cancel_scheduled()


@freeze_time(MORNING)
def test_a_sent_reminder_is_not_cancelled(customer, no_quiet_hours):
    survey = uuid.uuid4()
    n = notify(customer, "sms", body="x", send_at=MORNING + timedelta(hours=1), context_id=survey)
    Notification.objects.filter(pk=n.pk).update(status="sent")
    assert cancel_scheduled(context_id=survey) == 0
    assert Notification.objects.filter(pk=n.pk).exists()


# -- quiet hours -------------------------------------------------------------------------------

LATE_EVENING = datetime(2027, 1, 12, 23, 30, tzinfo=LONDON)
NEXT_OPENING = datetime(2027, 1, 13, 8, 0, tzinfo=LONDON)


@freeze_time(LATE_EVENING)
def test_a_non_urgent_sms_at_half_past_eleven_waits_for_the_opening(
    customer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        n = notify(customer, "sms", body="Survey tomorrow", context_type="survey")
    assert n.scheduled_for == NEXT_OPENING
    assert sent_bodies() == []
    with freeze_time(NEXT_OPENING - timedelta(minutes=5)):
        deliver_queued("--min-age", "0")
    assert sent_bodies() == []
    with freeze_time(NEXT_OPENING + timedelta(minutes=2)):
        deliver_queued()
    assert sent_bodies() == ["Survey tomorrow"]


@freeze_time(LATE_EVENING)
@pytest.mark.parametrize(
    "arguments", [{"context_type": "emergency"}, {"context_type": "survey", "urgent": True}]
)
def test_an_urgent_message_at_half_past_eleven_goes_at_once(
    customer, django_capture_on_commit_callbacks, arguments
):
    with django_capture_on_commit_callbacks(execute=True):
        n = notify(customer, "sms", body="Isolate the charger", **arguments)
    assert n.scheduled_for is None
    assert sent_bodies() == ["Isolate the charger"]


@freeze_time(MORNING)
def test_a_send_at_inside_quiet_hours_moves_to_the_opening_unless_urgent(customer):
    late = datetime(2027, 1, 12, 22, 15, tzinfo=LONDON)
    n = notify(customer, "sms", body="x", send_at=late)
    assert n.scheduled_for == NEXT_OPENING
    n = notify(customer, "sms", body="y", send_at=late, urgent=True)
    assert n.scheduled_for == late
    n = notify(customer, "sms", body="z", send_at=late, context_type="emergency")
    assert n.scheduled_for == late


@freeze_time(MORNING)
def test_an_urgent_false_holds_even_an_emergency(customer):
    n = notify(
        customer,
        "sms",
        body="x",
        send_at=datetime(2027, 1, 12, 23, 0, tzinfo=LONDON),
        context_type="emergency",
        urgent=False,
    )
    assert n.scheduled_for == NEXT_OPENING


def test_the_scheduled_time_is_stored_as_the_instant_given(customer, no_quiet_hours):
    when = timezone.now() + timedelta(days=2)
    n = notify(customer, "sms", body="x", send_at=when.astimezone(ZoneInfo("Asia/Tokyo")))
    n.refresh_from_db()
    assert n.scheduled_for == when
