"""The NotificationTemplate admin: preview, sample data, test-send, actions, use counts."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import chargesol_notifications
from chargesol_notifications.models import Notification, NotificationTemplate
from chargesol_notifications.segments import count_segments

from ..factories import NotificationFactory, NotificationTemplateFactory
from .conftest import staff_user

pytestmark = pytest.mark.django_db

BASE = "/admin/chargesol_notifications/notificationtemplate"
PREVIEW = f"{BASE}/preview/"
EDITOR = ("view_notificationtemplate", "change_notificationtemplate", "view_notification")


@pytest.fixture
def editor(client):
    """A client logged in as staff who may change templates (not a superuser)."""
    user = staff_user(*EDITOR, username="editor")
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def viewer(client, view_only_staff):
    client.force_login(view_only_staff)
    client.user = view_only_staff
    return client


def post_preview(client, body, *, channel="sms", subject="", sample=""):
    response = client.post(
        PREVIEW,
        {
            "name": "t",
            "channel": channel,
            "subject_template": subject,
            "body_template": body,
            "sample_context": sample,
        },
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return response.json()


def messages_of(response):
    """The messages a redirect leaves for the next page."""
    return [str(message) for message in get_messages(response.wsgi_request)]


def shown_messages(response):
    """The messages the page at the end of ``follow=True`` showed."""
    return [str(message) for message in response.context["messages"]]


# -- the preview view -----------------------------------------------------------------------


def test_preview_renders_a_good_template_with_the_typed_sample(editor):
    result = post_preview(
        editor,
        'Hi {{ recipient.first_name }}, see you {{ survey.at|date:"l j F, H:i" }}.',
        sample='{"recipient": {"first_name": "Ada"}, "survey": {"at": "2025-06-02T10:30"}}',
    )
    assert result["body"] == {"text": "Hi Ada, see you Monday 2 June, 10:30.", "error": ""}
    assert result["sample_error"] == ""


def test_preview_shows_a_syntax_error_with_its_line(editor):
    result = post_preview(editor, "Hello\n{% if %}yes{% endif %}")
    assert result["body"]["text"] == ""
    assert result["body"]["error"].startswith("Line 2:")


def test_preview_shows_a_forbidden_tag(editor):
    result = post_preview(editor, '{% include "base.html" %}')
    assert "include" in result["body"]["error"]


def test_preview_keeps_subject_and_body_errors_apart(editor):
    result = post_preview(
        editor, "Body for {{ recipient.first_name }}", channel="email", subject="{% debug %}"
    )
    assert "debug" in result["subject"]["error"]
    assert result["body"] == {"text": "Body for Freya", "error": ""}


@pytest.mark.parametrize(
    ("sample", "says"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "must be a JSON object"),
        ('{"a": ' * 30 + "1" + "}" * 30, "nested more than"),
        (json.dumps({"big": "x" * 25_000}), "at most 20,000"),
    ],
    ids=["syntax", "not-an-object", "too-deep", "oversized"],
)
def test_preview_answers_bad_sample_json_with_an_error_not_a_500(editor, sample, says):
    result = post_preview(editor, "Hi {{ recipient.first_name }}", sample=sample)
    assert says in result["sample_error"]
    assert result["body"] == {"text": "", "error": ""}


def test_preview_uses_the_sample_the_template_declares(editor):
    body = (
        "Survey on {{ survey.day }}."
        '{% comment "sample" %}{"survey": {"day": "Friday"}}{% endcomment %}'
    )
    assert post_preview(editor, body)["body"]["text"] == "Survey on Friday."
    # What is typed in the box wins.
    typed = post_preview(editor, body, sample='{"survey": {"day": "Sunday"}}')
    assert typed["body"]["text"] == "Survey on Sunday."


def test_preview_generates_values_for_every_placeholder(editor):
    body = (
        "{{ recipient.get_full_name }}: "
        "{% for s in slots %}{{ s.day|date:'D j' }} {% endfor %}{{ lead.postcode }}"
    )
    assert post_preview(editor, body)["body"]["text"] == "Freya Khan: Mon 2 SW1A 1AA"


@pytest.mark.parametrize("body", ["a" * 160, "a" * 161, "Olá " * 30, "€" * 100])
def test_preview_counts_sms_parts_as_the_backend_does(editor, body):
    result = post_preview(editor, body)
    count = count_segments(body)
    assert result["sms"]["segments"] == count.segments
    assert result["sms"]["encoding"] == count.encoding
    assert result["max_length"] == 1600
    assert result["length"] == len(body)
    assert f"{count.segments} SMS part" in result["summary"]


def test_preview_is_post_only_and_needs_a_template_permission(editor, client):
    assert editor.get(PREVIEW).status_code == 405
    client.force_login(staff_user("view_notification", username="no_templates"))
    assert client.post(PREVIEW, {"body_template": "x"}).status_code == 403


def test_preview_needs_the_csrf_token(db):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff_user(*EDITOR, username="strict"))
    assert strict.post(PREVIEW, {"body_template": "x"}).status_code == 403


# -- the change page --------------------------------------------------------------------


def test_the_change_page_has_the_preview_panel_and_its_script(editor):
    template = NotificationTemplateFactory(
        body_template='{{ n }}{% comment "sample" %}{"n": 7}{% endcomment %}'
    )
    response = editor.get(f"{BASE}/{template.pk}/change/")
    html = response.content.decode()
    assert 'id="csn-preview"' in html
    assert f'data-preview-url="{PREVIEW}"' in html
    assert "chargesol_notifications/template_preview.js" in html
    assert "Send a test to me" in html
    assert response.context["adminform"].form["sample_context"].initial == '{"n": 7}'
    assert "{% comment &quot;sample&quot; %}" in html  # documented in the help text


def test_a_sample_that_is_not_json_stops_a_save_and_is_never_stored(editor):
    template = NotificationTemplateFactory(name="survey_sms")
    data = {
        "name": "survey_sms",
        "channel": "sms",
        "is_active": "on",
        "subject_template": "",
        "body_template": "Changed",
        "sample_context": "{oops",
    }
    response = editor.post(f"{BASE}/{template.pk}/change/", data)
    assert "not valid JSON" in str(response.context["adminform"].form.errors["sample_context"])
    data["sample_context"] = '{"fine": 1}'
    assert editor.post(f"{BASE}/{template.pk}/change/", data).status_code == 302
    template.refresh_from_db()
    assert template.body_template == "Changed"


def test_a_whatsapp_template_shows_its_content_sid(admin_client, settings):
    sid = "HX" + "a" * 32
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "WHATSAPP_CONTENT_TEMPLATES": {"survey_whatsapp": sid},
    }
    mapped = NotificationTemplateFactory(name="survey_whatsapp", channel="whatsapp")
    unmapped = NotificationTemplateFactory(name="other_whatsapp", channel="whatsapp")
    sms = NotificationTemplateFactory(name="survey_sms")
    assert sid in admin_client.get(f"{BASE}/{mapped.pk}/change/").content.decode()
    other = admin_client.get(f"{BASE}/{unmapped.pk}/change/").content.decode()
    assert "Not mapped" in other
    assert "WHATSAPP_CONTENT_TEMPLATES" in other
    assert (
        "WhatsApp Content SID" not in admin_client.get(f"{BASE}/{sms.pk}/change/").content.decode()
    )


# -- permissions ----------------------------------------------------------------------------


def test_view_only_staff_may_look_and_preview_but_not_send_or_act(viewer):
    template = NotificationTemplateFactory(is_active=False)
    page = viewer.get(f"{BASE}/{template.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="csn-preview"' in html
    assert "Send a test to me" not in html
    assert "test-send" not in html
    assert post_preview(viewer, "Hi {{ recipient.first_name }}")["body"]["text"] == "Hi Freya"

    changelist = viewer.get(f"{BASE}/").content.decode()
    assert 'name="action"' not in changelist
    assert "action-checkbox" not in changelist

    assert viewer.post(f"{BASE}/{template.pk}/test-send/").status_code == 403
    viewer.post(f"{BASE}/", {"action": "activate", "_selected_action": [template.pk]})
    template.refresh_from_db()
    assert not template.is_active
    assert not Notification.objects.exists()


def test_staff_who_may_change_templates_see_the_actions_and_the_button(editor):
    template = NotificationTemplateFactory()
    changelist = editor.get(f"{BASE}/").content.decode()
    assert 'value="activate"' in changelist
    assert 'value="deactivate"' in changelist
    assert "Send a test to me" in editor.get(f"{BASE}/{template.pk}/change/").content.decode()
    # Not on the add page: only a saved template can be sent.
    assert "Send a test to me" not in editor.get(f"{BASE}/add/").content.decode()


# -- send a test to me --------------------------------------------------------------------


def test_send_a_test_queues_one_notification_to_the_staff_member(
    editor, django_capture_on_commit_callbacks
):
    template = NotificationTemplateFactory(
        body_template="Hi {{ recipient.first_name }}, survey on {{ survey.day }}."
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = editor.post(
            f"{BASE}/{template.pk}/test-send/",
            {"sample_context": '{"survey": {"day": "Friday"}, "recipient": {"first_name": "X"}}'},
        )
    assert response.status_code == 302
    assert response["Location"] == f"{BASE}/{template.pk}/change/"
    (notification,) = Notification.objects.all()
    assert notification.recipient == editor.user
    assert notification.status == "queued"
    assert notification.channel == "sms"
    assert notification.template == template
    assert notification.context_type == ""
    # The recipient is the staff member's own, whatever the sample says.
    assert notification.body == f"Hi {editor.user.first_name}, survey on Friday."
    (message,) = messages_of(response)
    assert "queued to you by SMS at " + editor.user.phone in message

    for callback in callbacks:  # what a committed request does next: deliver it
        callback()
    (sent,) = chargesol_notifications.outbox
    assert sent.to == editor.user.phone
    notification.refresh_from_db()
    assert notification.address == editor.user.phone


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        (lambda user, template: setattr(user, "phone", ""), "no SMS address"),
        (lambda user, template: setattr(template, "is_active", False), "inactive"),
        (
            lambda user, template: setattr(template, "body_template", "{{ recipient.shoe }}"),
            "'recipient.shoe' is missing",
        ),
    ],
    ids=["no-address", "inactive", "render-error"],
)
def test_send_a_test_refuses_cleanly_and_writes_nothing(editor, setup, says):
    template = NotificationTemplateFactory()
    setup(editor.user, template)
    editor.user.save()
    template.save()
    response = editor.post(f"{BASE}/{template.pk}/test-send/", {"sample_context": ""})
    assert response.status_code == 302
    (message,) = messages_of(response)
    assert message.startswith("Nothing was sent")
    assert says in message
    assert not Notification.objects.exists()
    assert chargesol_notifications.outbox == []


def test_send_a_test_refuses_bad_sample_json(editor):
    template = NotificationTemplateFactory()
    response = editor.post(f"{BASE}/{template.pk}/test-send/", {"sample_context": "[1]"})
    (message,) = messages_of(response)
    assert "must be a JSON object" in message
    assert not Notification.objects.exists()


def test_send_a_test_is_post_only(editor):
    template = NotificationTemplateFactory()
    assert editor.get(f"{BASE}/{template.pk}/test-send/").status_code == 405


# -- actions ----------------------------------------------------------------------------------


def test_activate_and_deactivate_say_how_many_rows_changed(editor):
    inactive = [NotificationTemplateFactory(is_active=False) for _ in range(3)]
    active = NotificationTemplateFactory(is_active=True)
    selected = [t.pk for t in [*inactive, active]]

    response = editor.post(
        f"{BASE}/", {"action": "activate", "_selected_action": selected}, follow=True
    )
    assert shown_messages(response) == ["3 templates activated."]
    assert NotificationTemplate.objects.filter(is_active=True).count() == 4

    response = editor.post(
        f"{BASE}/", {"action": "deactivate", "_selected_action": [active.pk]}, follow=True
    )
    assert shown_messages(response) == ["1 template deactivated."]
    active.refresh_from_db()
    assert not active.is_active


# -- use in the last 30 days ---------------------------------------------------------------


def test_uses_in_the_last_30_days_are_counted_and_older_ones_are_not(admin_client):
    template = NotificationTemplateFactory()
    unused = NotificationTemplateFactory()
    recent = [NotificationFactory(template=template) for _ in range(2)]
    old = NotificationFactory(template=template)
    # created_at is auto_now_add: move it back with an UPDATE.
    Notification.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=31))
    Notification.objects.filter(pk=recent[0].pk).update(
        created_at=timezone.now() - dt.timedelta(days=29)
    )

    changelist = admin_client.get(f"{BASE}/")
    counts = {t.pk: t.recent_uses for t in changelist.context["cl"].result_list}
    assert counts == {template.pk: 2, unused.pk: 0}
    assert "Used (30 days)" in changelist.content.decode()

    page = admin_client.get(f"{BASE}/{template.pk}/change/")
    field = next(
        field
        for fieldset in page.context["adminform"]
        for line in fieldset
        for field in line
        if field.is_readonly and field.field["name"] == "used_last_30_days"
    )
    assert field.contents() == "2"


def changelist_queries(client):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"{BASE}/")
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_changelist_costs_the_same_queries_for_10_and_500_templates(admin_client):
    def add_templates(count, start):
        templates = NotificationTemplate.objects.bulk_create(
            NotificationTemplate(name=f"bulk_{start + n}", channel="sms", body_template="Hi")
            for n in range(count)
        )
        return [t for t in templates if t.pk] or list(
            NotificationTemplate.objects.filter(name__startswith="bulk_")
        )

    templates = add_templates(10, 0)
    NotificationFactory(template=templates[0])
    few = changelist_queries(admin_client)
    add_templates(490, 10)
    assert NotificationTemplate.objects.count() == 500
    assert changelist_queries(admin_client) == few
