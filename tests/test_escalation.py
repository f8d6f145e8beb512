"""Channel escalation: notify(..., fallback=[...]) through the Twilio stand-in.

What goes out is read from the stand-in's requests, what happened from the receipts.
Time moves by freezegun's clock; the deferred checks of django-tasks-db (the "database"
alias of tests/settings.py) are run in this process, as its worker runs them.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from freezegun import freeze_time

from chargesol_notifications import notify, notify_many
from chargesol_notifications.escalation import escalate, escalate_overdue
from chargesol_notifications.exceptions import InvalidMessageError, UnknownChannelError
from chargesol_notifications.models import Notification

from .factories import UserFactory

pytestmark = pytest.mark.django_db

try:
    from django_tasks_db.models import DBTaskResult
except ImportError:  # pragma: no cover - the test settings install it when it is there
    DBTaskResult = None

needs_db_tasks = pytest.mark.skipif(DBTaskResult is None, reason="django-tasks-db not installed")

WHATSAPP_TO = "whatsapp:+447700900123"


@pytest.fixture
def customer():
    return UserFactory(first_name="Ada", phone="+447700900123")


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    def run(function, *args):
        with django_capture_on_commit_callbacks(execute=True):
            return function(*args)

    return run


def deliver_queued() -> None:
    call_command("deliver_queued", stdout=io.StringIO())


def chain(first: Notification) -> list[Notification]:
    steps = [first]
    while (nxt := Notification.objects.filter(escalated_from=steps[-1]).first()) is not None:
        steps.append(nxt)
    for step in steps:
        step.refresh_from_db()
    return steps


def test_whatsapp_failing_with_63016_falls_back_to_sms(customer, standin, send):
    standin.fail_next(code=63016)
    first = send(customer, "whatsapp", body="Your survey is tomorrow at 10:00", fallback=["sms"])

    whatsapp, sms = chain(first)
    assert (whatsapp.status, whatsapp.receipts.get().error_code) == ("failed", "63016")
    assert (sms.channel, sms.status, sms.escalated_from_id) == ("sms", "sent", whatsapp.pk)
    assert sms.body == "Your survey is tomorrow at 10:00"
    assert [r.status for r in sms.receipts.all()] == ["sent"]
    (message,) = standin.messages
    assert (message.to, message.body) == ("+447700900123", "Your survey is tomorrow at 10:00")
    assert whatsapp.fallback_channels == ""
    assert sms.fallback_channels == ""


def test_an_undelivered_callback_falls_back_too(
    client, customer, standin, send, django_capture_on_commit_callbacks
):
    standin.fail_delivery(63016, to=WHATSAPP_TO)
    first = send(customer, "whatsapp", body="Are you still interested?", fallback=["sms"])
    assert first.status == "sent"
    (whatsapp_message,) = standin.messages
    with django_capture_on_commit_callbacks(execute=True):
        for callback in standin.callbacks(whatsapp_message.sid):
            assert callback.deliver(client).status_code == 200

    whatsapp, sms = chain(first)
    assert whatsapp.status == "failed"
    assert (sms.channel, sms.status) == ("sms", "sent")
    assert standin.messages[-1].to == "+447700900123"


def test_sms_undelivered_in_time_falls_back_to_a_call(
    customer, standin, settings, send, run_on_commit
):
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "ESCALATION_AFTER": {"sms": 600},
    }
    with freeze_time("2027-01-12 10:00:00"):
        first = send(customer, "sms", body="Your installer arrives at 9", fallback=["call"])
        assert first.status == "sent"
    # The immediate task backend cannot defer the check: deliver_queued makes it.
    with freeze_time("2027-01-12 10:09:59"):
        run_on_commit(deliver_queued)
        assert standin.calls == []
    with freeze_time("2027-01-12 10:10:00"):
        run_on_commit(deliver_queued)

    sms, call = chain(first)
    assert (sms.status, call.channel, call.status) == ("sent", "call", "sent")
    (placed,) = standin.calls
    assert placed.to == "+447700900123"
    assert "Your installer arrives at 9" in (placed.twiml or "")


@needs_db_tasks
def test_the_deadline_check_is_a_deferred_task(customer, standin, settings, run_on_commit):
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "ESCALATION_AFTER": {"sms": 600},
        "TASK_BACKEND": "database",
    }
    with freeze_time("2027-01-12 10:00:00"):
        first = run_on_commit(
            lambda: notify(customer, "sms", body="Reply YES to confirm", fallback=["call"])
        )
        (delivery,) = DBTaskResult.objects.ready()
        run_on_commit(
            lambda: delivery.task.call(
                *delivery.args_kwargs["args"], **delivery.args_kwargs["kwargs"]
            )
        )
        delivery.delete()
        first.refresh_from_db()
        assert first.status == "sent"
        (check,) = DBTaskResult.objects.all()
        assert check.run_after == timezone.now() + timedelta(seconds=600)
        assert check.args_kwargs["args"] == [str(first.pk)]
        assert list(DBTaskResult.objects.ready()) == []
    with freeze_time("2027-01-12 10:10:00"):
        (check,) = DBTaskResult.objects.ready()
        assert run_on_commit(lambda: check.task.call(*check.args_kwargs["args"])) == "escalated"
    assert [n.channel for n in chain(first)] == ["sms", "call"]


def test_a_delivered_first_step_sends_nothing_more(customer, client, standin, send):
    first = send(customer, "sms", body="Booked", fallback=["whatsapp", "call"])
    (message,) = standin.messages
    for callback in standin.callbacks(message.sid, ["sent", "delivered"]):
        callback.deliver(client)
    first.refresh_from_db()
    assert first.status == "delivered"
    with freeze_time(timezone.now() + timedelta(hours=2)):
        assert escalate(first.pk) is None
        assert escalate_overdue() == []
    assert chain(first) == [first]
    assert len(standin.messages) == 1
    assert standin.calls == []


def test_a_failed_last_step_ends_the_chain(customer, standin, send):
    standin.fail_next(code=63016)
    standin.fail_next(code=21610)  # the SMS: the handset opted out
    first = send(customer, "whatsapp", body="Your quote", fallback=["sms"])
    whatsapp, sms = chain(first)
    assert (whatsapp.status, sms.status) == ("failed", "failed")
    assert sms.fallback_channels == ""
    assert escalate(sms.pk) is None
    assert escalate_overdue() == []
    assert len(chain(first)) == 2


def test_escalation_happens_once_when_the_check_runs_twice(
    customer, standin, settings, send, run_on_commit
):
    first = send(customer, "sms", body="Still there?", fallback=["call"])
    with freeze_time(timezone.now() + timedelta(seconds=901)):
        made = run_on_commit(escalate, first.pk)
        assert made is not None
        assert run_on_commit(escalate, first.pk) is None
        assert run_on_commit(escalate_overdue) == []
    assert [n.channel for n in chain(first)] == ["sms", "call"]
    assert len(standin.calls) == 1


def test_notify_many_takes_fallback_too(standin, django_capture_on_commit_callbacks):
    users = [UserFactory(phone=f"+44770090012{i}") for i in range(3)]
    standin.fail_next(code=63016, times=3)
    with django_capture_on_commit_callbacks(execute=True):
        firsts = notify_many(users, "whatsapp", body="Reminder", fallback=["sms"])
    for first in firsts:
        assert [n.channel for n in chain(first)] == ["whatsapp", "sms"]
    assert sorted(m.to for m in standin.messages) == [u.phone for u in users]


@pytest.mark.parametrize(
    ("fallback", "error"),
    [
        ("sms", InvalidMessageError),
        (["fax"], UnknownChannelError),
        (["sms", "sms"], InvalidMessageError),
        (["whatsapp"], InvalidMessageError),
    ],
)
def test_fallback_is_checked(customer, fallback, error):
    with pytest.raises(error):
        notify(customer, "whatsapp", body="Hello", fallback=fallback)
    assert not Notification.objects.exists()


def test_the_admin_page_shows_the_chain_up_and_down(admin_client, customer, standin, send):
    standin.fail_next(code=63016)
    first = send(customer, "whatsapp", body="Your quote", fallback=["sms"])
    whatsapp, sms = chain(first)
    page = admin_client.get(
        f"/admin/chargesol_notifications/notification/{whatsapp.pk}/change/"
    ).content.decode()
    assert f"/admin/chargesol_notifications/notification/{sms.pk}/change/" in page
    assert "<strong>WhatsApp (failed)</strong>" in page
    page = admin_client.get(
        f"/admin/chargesol_notifications/notification/{sms.pk}/change/"
    ).content.decode()
    assert f"/admin/chargesol_notifications/notification/{whatsapp.pk}/change/" in page
    assert "<strong>SMS (sent)</strong>" in page


@pytest.mark.parametrize(
    "value", [900, {"fax": 60}, {"sms": 0}, {"sms": "soon"}], ids=["int", "key", "zero", "text"]
)
def test_check_reports_a_bad_escalation_after(settings, value):
    from django.core.checks import run_checks

    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "ESCALATION_AFTER": value,
    }
    ids = [message.id for message in run_checks()]
    assert "chargesol_notifications.E050" in ids
