"""The template editor in Chromium: the live preview follows typing, errors show in it,
and "send a test to me" reports what it queued. Screenshots for docs/staff/templates.rst."""

from __future__ import annotations

import pytest

from chargesol_notifications.models import Notification

from ..factories import NotificationTemplateFactory
from .conftest import screenshot, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BODY = (
    "Hi {{ recipient.first_name }}, your home survey is on "
    '{{ survey.scheduled_for|date:"l j F" }} at {{ survey.scheduled_for|date:"H:i" }}.'
    '{% comment "sample" %}{"survey": {"scheduled_for": "2025-06-02T10:30"}}{% endcomment %}'
)


def test_staff_edit_with_a_live_preview_and_send_themselves_a_test(admin_page):
    from playwright.sync_api import expect

    template = NotificationTemplateFactory(name="survey_confirmation_sms", body_template=BODY)
    user = staff_user(
        "view_notificationtemplate",
        "change_notificationtemplate",
        "view_notification",
        username="editor",
        first_name="Priya",
    )
    page = admin_page(user)
    page.goto(f"/admin/chargesol_notifications/notificationtemplate/{template.pk}/change/")
    preview = page.locator("#csn-preview-body")
    expect(preview).to_have_text("Hi Freya, your home survey is on Monday 2 June at 10:30.")
    expect(page.locator("#csn-preview-summary")).to_contain_text("1 SMS part (GSM-7)")
    screenshot(page, "template-editor-preview")

    body = page.locator("#id_body_template")
    body.press("Control+Home")
    body.press_sequentially("Good news! ")
    expect(preview).to_contain_text("Good news! Hi Freya")

    body.press("Control+End")
    body.press_sequentially("{% if %}")
    error = page.locator("#csn-preview-body-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("if")
    expect(preview).to_be_hidden()
    screenshot(page, "template-preview-syntax-error")

    for _ in range(len("{% if %}")):
        body.press("Backspace")
    expect(error).to_be_hidden()
    expect(preview).to_contain_text("Good news! Hi Freya")

    page.click("input[name=_continue]")
    expect(page.locator(".messagelist .success")).to_contain_text("was changed successfully")
    template.refresh_from_db()
    assert template.body_template.startswith("Good news! Hi {{ recipient.first_name }}")

    page.click("text=Send a test to me")
    success = page.locator(".messagelist .success")
    expect(success).to_contain_text(f"queued to you by SMS at {user.phone}")
    screenshot(page, "template-test-sent")
    (notification,) = Notification.objects.all()
    assert notification.recipient_id == user.pk
    assert notification.body.startswith("Good news! Hi Priya, your home survey is on Monday")


def test_view_only_staff_see_the_preview_without_the_test_button(admin_page, view_only_staff):
    from playwright.sync_api import expect

    template = NotificationTemplateFactory(name="survey_reminder_sms", body_template=BODY)
    page = admin_page(view_only_staff)
    page.goto(f"/admin/chargesol_notifications/notificationtemplate/{template.pk}/change/")
    expect(page.locator("#csn-preview-body")).to_contain_text("Hi Freya")
    assert page.locator("text=Send a test to me").count() == 0
    screenshot(page, "template-view-only")
