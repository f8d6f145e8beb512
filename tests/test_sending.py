"""notify() and notify_many(): caller errors, rendering, queuing on commit, query budgets."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection, transaction

import chargesol_notifications
from chargesol_notifications import notify, notify_many
from chargesol_notifications.exceptions import (
    InvalidContextTypeError,
    InvalidMessageError,
    NotificationError,
    TemplateChannelMismatchError,
    TemplateNotFoundError,
    TemplateRenderError,
    UnknownChannelError,
)
from chargesol_notifications.models import Notification
from chargesol_notifications.signals import notification_queued

from .factories import NotificationTemplateFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return UserFactory(first_name="Siobhan", email="siobhan@example.com", phone="+447700900123")


@pytest.fixture
def survey_template():
    return NotificationTemplateFactory(
        name="survey_confirmation_sms",
        channel="sms",
        body_template="Hi {{ recipient.first_name }}, your survey is on {{ day }}.",
    )


def test_notify_with_a_template_renders_and_queues(user, survey_template):
    survey_id = uuid.uuid4()
    n = notify(
        user,
        "sms",
        template="survey_confirmation_sms",
        context={"day": "Tuesday"},
        context_type="survey",
        context_id=survey_id,
    )
    n.refresh_from_db()
    assert n.status == "queued"
    assert n.body == "Hi Siobhan, your survey is on Tuesday."
    assert n.template == survey_template
    assert (n.context_type, n.context_id) == ("survey", survey_id)
    assert n.sent_at is None


def test_notify_accepts_a_template_instance(user, survey_template):
    n = notify(user, "sms", template=survey_template, context={"day": "Monday"})
    assert n.body.endswith("Monday.")


def test_literal_body_is_sent_as_written(user):
    n = notify(
        user, "email", subject="Your quote {{ x }}", body="O'Brien & Sons {{ not_rendered }}"
    )
    n.refresh_from_db()
    assert (n.subject, n.body) == ("Your quote {{ x }}", "O'Brien & Sons {{ not_rendered }}")
    assert n.context_type == ""


def test_recipient_is_always_in_the_context_and_wins(user):
    NotificationTemplateFactory(name="t", channel="sms", body_template="{{ recipient.email }}")
    n = notify(user, "sms", template="t", context={"recipient": "someone else"})
    assert n.body == "siobhan@example.com"


def test_template_escaping_is_off(user):
    NotificationTemplateFactory(
        name="obrien",
        channel="sms",
        body_template="Hi {{ recipient.first_name }}, O'Brien & Sons {{ x }}",
    )
    n = notify(user, "sms", template="obrien", context={"x": "<b>&</b>"})
    assert n.body == "Hi Siobhan, O'Brien & Sons <b>&</b>"


# -- caller errors: each raises its NotificationError subclass and writes nothing -------

CALLER_ERRORS = {
    "unknown channel": (dict(channel="pigeon", body="x"), UnknownChannelError),
    "unknown template": (dict(channel="sms", template="nope"), TemplateNotFoundError),
    "inactive template": (dict(channel="sms", template="inactive_sms"), TemplateNotFoundError),
    "template for another channel": (
        dict(channel="email", template="survey_confirmation_sms"),
        TemplateChannelMismatchError,
    ),
    "call channel has no templates": (
        dict(channel="call", template="survey_confirmation_sms"),
        TemplateChannelMismatchError,
    ),
    "context_type outside the choices": (
        dict(channel="sms", body="x", context_type="invoice"),
        InvalidContextTypeError,
    ),
    "missing placeholder": (
        dict(channel="sms", template="survey_confirmation_sms", context={}),
        TemplateRenderError,
    ),
    "render error": (dict(channel="sms", template="broken_sms"), TemplateRenderError),
    "body and template": (
        dict(channel="sms", template="survey_confirmation_sms", body="x"),
        InvalidMessageError,
    ),
    "neither body nor template": (dict(channel="sms"), InvalidMessageError),
    "email without subject": (dict(channel="email", body="x"), InvalidMessageError),
    "subject on sms": (dict(channel="sms", subject="s", body="x"), InvalidMessageError),
    "empty body": (dict(channel="sms", body="   "), InvalidMessageError),
    "context_id not a uuid": (dict(channel="sms", body="x", context_id="42"), InvalidMessageError),
    "subject too long": (dict(channel="email", subject="s" * 256, body="x"), InvalidMessageError),
}


@pytest.mark.parametrize(("kwargs", "error"), list(CALLER_ERRORS.values()), ids=list(CALLER_ERRORS))
def test_caller_errors_raise_and_write_nothing(user, survey_template, kwargs, error):
    NotificationTemplateFactory(name="inactive_sms", channel="sms", is_active=False)
    # Saved without validation, the way a row could predate the form's checks.
    NotificationTemplateFactory(name="broken_sms", channel="sms", body_template="{% if %}")
    kwargs = dict(kwargs)
    channel = kwargs.pop("channel")
    with pytest.raises(error) as excinfo:
        notify(user, channel, **kwargs)
    assert isinstance(excinfo.value, NotificationError)
    assert isinstance(excinfo.value, ValueError)
    assert str(excinfo.value)
    assert Notification.objects.count() == 0


def test_unsaved_recipient_is_a_caller_error():
    from django.contrib.auth import get_user_model

    with pytest.raises(InvalidMessageError):
        notify(get_user_model()(username="ghost"), "sms", body="x")
    assert Notification.objects.count() == 0


def test_notify_many_checks_every_recipient_before_writing(survey_template):
    users = [UserFactory(first_name="A"), UserFactory(first_name="")]
    NotificationTemplateFactory(
        name="strict", channel="sms", body_template="{{ recipient.nickname }}"
    )
    with pytest.raises(TemplateRenderError):
        notify_many(users, "sms", template="strict")
    assert Notification.objects.count() == 0


# -- queuing after commit ---------------------------------------------------------------


def test_delivery_waits_for_commit(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        n = notify(user, "sms", body="Your installer is on the way.")
        assert chargesol_notifications.outbox == []
    assert len(callbacks) == 1
    assert [m.body for m in chargesol_notifications.outbox] == ["Your installer is on the way."]
    n.refresh_from_db()
    assert n.status == "sent"
    assert n.receipts.get().status == "sent"


@pytest.mark.django_db(transaction=True)
def test_rolled_back_transaction_sends_nothing_and_leaves_no_row():
    user = UserFactory()

    class LeadCodeFailed(Exception):
        pass

    def create_lead():
        with transaction.atomic():
            notify(user, "sms", body="Thanks for your enquiry")
            raise LeadCodeFailed

    with pytest.raises(LeadCodeFailed):
        create_lead()
    assert Notification.objects.count() == 0
    assert chargesol_notifications.outbox == []


@pytest.mark.django_db(transaction=True)
def test_committed_transaction_sends_once():
    user = UserFactory()
    with transaction.atomic():
        n = notify(user, "sms", body="Thanks for your enquiry")
        assert chargesol_notifications.outbox == []
    assert len(chargesol_notifications.outbox) == 1
    n.refresh_from_db()
    assert n.status == "sent"


def test_queued_signal_fires_on_commit(user, django_capture_on_commit_callbacks):
    seen = []

    def receiver(notifications, **kwargs):
        seen.extend(notifications)

    notification_queued.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            n = notify(user, "sms", body="x")
            assert seen == []
    finally:
        notification_queued.disconnect(receiver)
    assert seen == [n]


# -- query budgets ----------------------------------------------------------------------


def test_notify_with_a_template_by_name_takes_at_most_3_queries(
    user, survey_template, django_assert_max_num_queries
):
    # The template, the recipients' rows (do they exist? one query for all), the insert.
    with django_assert_max_num_queries(3):
        notify(user, "sms", template="survey_confirmation_sms", context={"day": "Friday"})


def test_notify_with_idempotency_key_takes_at_most_4_queries(
    user, survey_template, django_assert_max_num_queries
):
    # Was 3: the template, the insert, the read-back. One more, made once per call and
    # not per recipient, checks that the recipients' rows exist (PostgreSQL would only
    # find a deleted user at commit).
    with django_assert_max_num_queries(4):
        notify(
            user,
            "sms",
            template="survey_confirmation_sms",
            context={"day": "Friday"},
            idempotency_key="survey-1",
        )


def _driver_batches(count: int, *, idempotent: bool) -> int:
    """Statements Django splits ``count`` rows into on this database.

    Django 5.2 caps SQLite statements at 999 parameters, so there (only) 1,000 rows take
    several SELECTs (of the recipients' ids, to see that they exist, and, with an
    idempotency key, read back by id, of the notifications) and, with an idempotency
    key, several INSERTs (``bulk_create``); that is the driver's limit, not per-row work.
    Without a key the rows go in one statement whatever their number.
    """
    fields = Notification._meta.concrete_fields
    select_batch = connection.features.max_query_params or count
    batches = -(-count // select_batch)
    if idempotent:
        insert_batch = connection.ops.bulk_batch_size(fields, [None] * count) or count
        batches += -(-count // insert_batch) + -(-count // select_batch)
    return batches


@pytest.mark.parametrize("idempotency_key", [None, "outage-2026-11-25"])
def test_notify_many_query_count_does_not_grow_with_recipients(
    survey_template, django_assert_num_queries, idempotency_key
):
    from django.test.utils import CaptureQueriesContext

    NotificationTemplateFactory(
        name="emergency_outage_sms",
        channel="sms",
        body_template="{{ recipient.first_name }}: power is off in {{ area }}.",
    )
    counts = {}
    for size in (10, 1000):
        users = UserFactory.create_batch(size)
        with CaptureQueriesContext(connection) as ctx:
            result = notify_many(
                users,
                "sms",
                template="emergency_outage_sms",
                context={"area": "Leeds"},
                context_type="emergency",
                idempotency_key=idempotency_key,
            )
        assert len(result) == size
        counts[size] = len(ctx.captured_queries) - _driver_batches(
            size, idempotent=idempotency_key is not None
        )
    assert counts[10] == counts[1000] <= 2
    assert Notification.objects.count() == 1010


def test_notify_many_renders_each_recipient(survey_template):
    users = [UserFactory(first_name="Ana"), UserFactory(first_name="Ben")]
    ns = notify_many(users, "sms", template="survey_confirmation_sms", context={"day": "Sunday"})
    assert [n.body for n in ns] == [
        "Hi Ana, your survey is on Sunday.",
        "Hi Ben, your survey is on Sunday.",
    ]
    assert all(n.status == "queued" for n in ns)


def test_notify_many_of_nobody_writes_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert notify_many([], "sms", body="x") == []
