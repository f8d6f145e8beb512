"""notify_many()'s per-call work (notification_builder, MessageRenderer, row_insert):
the rows and objects are what the slower, per-recipient code made, and no query is
added."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.db.models.signals import post_init
from django.test.utils import CaptureQueriesContext

from chargesol_notifications import notify_many
from chargesol_notifications.exceptions import TemplateRenderError
from chargesol_notifications.models import Notification
from chargesol_notifications.notification_builder import (
    NotificationBuilder,
    fills_dict_as_init_does,
    notification_from_row,
)
from chargesol_notifications.plain_data import plain_context, with_values
from chargesol_notifications.recipient_data import recipient_context
from chargesol_notifications.rendering import MessageRenderer, render_message
from chargesol_notifications.row_insert import insert_objects_as_rows, prepare_rows
from chargesol_notifications.sending import check_request

from .factories import NotificationTemplateFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def email_template():
    return NotificationTemplateFactory(
        name="outage_email",
        channel="email",
        subject_template="Power cut in {{ area }}",
        body_template="Hi {{ recipient.first_name }}, power is off in {{ area }}.",
    )


def test_built_rows_hold_what_keyword_construction_held(email_template):
    users = UserFactory.create_batch(3)
    context_id = uuid.uuid4()
    notifications = notify_many(
        users,
        "email",
        template=email_template,
        context={"area": "Leeds"},
        context_type="emergency",
        context_id=context_id,
    )
    fields = [field.attname for field in Notification._meta.concrete_fields]
    for user, notification in zip(users, notifications, strict=True):
        expected = Notification(
            id=notification.id,
            recipient=user,
            channel="email",
            template=email_template,
            subject="Power cut in Leeds",
            body=f"Hi {user.first_name}, power is off in Leeds.",
            context_type="emergency",
            context_id=context_id,
            status="queued",
            created_at=notification.created_at,
        )
        assert [getattr(notification, f) for f in fields] == [getattr(expected, f) for f in fields]
        assert notification.id.version == 7  # time-ordered (time_ordered_ids)
        assert notification.created_at is not None
        assert not notification._state.adding
        assert notification._state.db == "default"
        stored = Notification.objects.get(pk=notification.pk)
        assert [getattr(stored, f) for f in fields] == [getattr(expected, f) for f in fields]
    assert len({n.id for n in notifications}) == 3
    # One timestamp for the call, as insert_rows() gives auto_now_add fields.
    assert len({n.created_at for n in notifications}) == 1


def test_recipient_and_template_are_read_without_a_query(email_template):
    users = UserFactory.create_batch(2)
    notifications = notify_many(users, "email", template=email_template, context={"area": "x"})
    with CaptureQueriesContext(connection) as queries:
        assert [n.recipient for n in notifications] == users
        assert all(n.template == email_template for n in notifications)
    assert len(queries.captured_queries) == 0


def test_literal_body_rows_have_no_template(django_assert_num_queries):
    users = UserFactory.create_batch(2)
    notifications = notify_many(users, "sms", body="Power is back.")
    with django_assert_num_queries(0):
        assert all(n.template is None for n in notifications)
    assert list(Notification.objects.values_list("body", "template_id").distinct()) == [
        ("Power is back.", None)
    ]


def test_a_subject_that_writes_into_its_context_leaves_the_body_alone():
    template = NotificationTemplateFactory(
        channel="email",
        subject_template="{% cycle 'Storm' 'Flood' as area silent %}Outage",
        body_template="Power is off in {{ area }}.",
    )
    users = UserFactory.create_batch(2)
    notifications = notify_many(users, "email", template=template, context={"area": "Leeds"})
    assert [(n.subject, n.body) for n in notifications] == [
        ("Outage", "Power is off in Leeds."),
        ("Outage", "Power is off in Leeds."),
    ]


def test_each_recipient_renders_under_a_budget_of_its_own():
    # 1,500 characters and 1,501 steps each: three renders on one budget would pass
    # the 3,200 characters an SMS render may produce.
    template = NotificationTemplateFactory(
        channel="sms", body_template="{% for c in text %}{{ c }}{% endfor %}"
    )
    users = UserFactory.create_batch(3)
    notifications = notify_many(users, "sms", template=template, context={"text": "x" * 1500})
    assert [len(n.body) for n in notifications] == [1500, 1500, 1500]


def test_a_broken_subject_fails_first_and_only_with_recipients():
    template = NotificationTemplateFactory(
        channel="email",
        subject_template="Outage {% if %}{% endif %}",
        body_template="{% for %}",
    )
    assert notify_many([], "email", template=template) == []
    with pytest.raises(TemplateRenderError, match="subject_template"):
        notify_many([UserFactory()], "email", template=template)
    assert Notification.objects.count() == 0


def test_message_renderer_renders_as_render_message(email_template):
    renderer = MessageRenderer(email_template)
    for name in ("Ana", "Ben", "O'Brien & Sons"):
        user = UserFactory(first_name=name)
        context = with_values(plain_context({"area": "Leeds"}), recipient=recipient_context(user))
        assert renderer.render(context) == render_message(email_template, context)
    assert renderer.render({"area": "x", "recipient": {"first_name": "Cy"}}).body == (
        "Hi Cy, power is off in x."
    )


def test_message_renderer_keeps_missing_placeholders_errors(email_template):
    with pytest.raises(TemplateRenderError, match="'area' is missing"):
        MessageRenderer(email_template).render({"recipient": {"first_name": "Cy"}})


def test_prepare_rows_converts_each_value_it_meets():
    calls = []

    def tag(value):
        calls.append(value)
        return f"<{value}>"

    def identity(value):
        return value

    first, second = object(), object()
    rows = [(1, first), (2, first), (3, second), (4, first), (5, None)]
    prepared = prepare_rows((identity, tag), rows)
    assert prepared == [
        [1, f"<{first}>"],
        [2, f"<{first}>"],
        [3, f"<{second}>"],
        [4, f"<{first}>"],
        [5, "<None>"],
    ]
    # The same object in consecutive rows is converted once.
    assert calls == [first, second, first, None]


def test_prepare_rows_refuses_a_row_of_the_wrong_width():
    with pytest.raises(ValueError, match="2 columns"):
        prepare_rows((str, str), [(1, 2, 3)])


def test_a_row_built_without_init_is_what_init_builds():
    user = UserFactory()
    builder = NotificationBuilder(
        check_request("sms", None, None, None, "Hi", None, None), None, created_at=None
    )
    row = builder.row.copy()
    row[0] = uuid.uuid4()
    row[1] = user.pk
    direct, initialised = notification_from_row(row), Notification(*row)
    state = ("adding", "db", "fields_cache")
    assert {k: v for k, v in vars(direct).items() if k != "_state"} == {
        k: v for k, v in vars(initialised).items() if k != "_state"
    }
    assert [getattr(direct._state, a) for a in state] == [
        getattr(initialised._state, a) for a in state
    ]
    assert fills_dict_as_init_does()


def test_post_init_receivers_still_see_every_notification():
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance.body)

    post_init.connect(receiver, sender=Notification)
    try:
        assert not fills_dict_as_init_does()
        notify_many(UserFactory.create_batch(2), "sms", body="Power is back.")
    finally:
        post_init.disconnect(receiver, sender=Notification)
    assert seen == ["Power is back.", "Power is back."]


def test_insert_objects_as_rows_wants_a_row_per_object():
    with pytest.raises(ValueError, match="1 rows for 2 objects"):
        insert_objects_as_rows(Notification, [Notification(), Notification()], [[None] * 14])
    assert Notification.objects.count() == 0


def test_notify_many_stores_plain_text_not_safe_strings(email_template):
    notifications = notify_many(
        UserFactory.create_batch(2), "email", template=email_template, context={"area": "<b>"}
    )
    for notification in notifications:
        assert type(notification.body) is str
        assert type(notification.subject) is str
