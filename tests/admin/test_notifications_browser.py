"""The notification admin in real Chromium, as office staff use it all day."""

from __future__ import annotations

import re

import pytest

from chargesol_notifications.models import DeliveryReceipt, Notification

from ..factories import NotificationFactory, UserFactory
from .conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

URL = "/admin/chargesol_notifications/notification/"


@pytest.fixture
def queue_without_worker(settings):
    """Deliveries go to django-tasks-db's queue and no worker runs, so what the admin
    queues stays visibly queued."""
    if "database" not in settings.TASKS:
        pytest.skip("django-tasks-db is not installed")
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "TASK_BACKEND": "database",
    }


@pytest.fixture
def messages_of_a_day():
    freya = UserFactory(first_name="Freya", last_name="Khan", phone="07700 900102")
    failed = NotificationFactory(
        recipient=freya,
        status="failed",
        address="+447700900102",
        body="Your survey is on Tuesday at 10:00.",
    )
    DeliveryReceipt.objects.create(
        notification=failed, status="sent", gateway_message_id="SM" + "a" * 32
    )
    DeliveryReceipt.objects.create(
        notification=failed,
        status="failed",
        gateway_message_id="SM" + "a" * 32,
        error_code="30003",
        error_message="Unreachable destination handset",
    )
    for index in range(3):
        other = UserFactory(first_name="Sam", last_name=f"Jones{index}")
        NotificationFactory(recipient=other, status="delivered", address=other.phone)
    NotificationFactory(
        recipient=UserFactory(first_name="Ola", last_name="Nowak"),
        channel="email",
        subject="Your quote",
        status="sent",
        address="ola@example.com",
    )
    return failed


def test_find_a_message_by_phone_read_why_it_failed_and_resend_it(
    admin_page, messages_of_a_day, queue_without_worker
):
    failed = messages_of_a_day
    page = admin_page()
    page.goto(URL)
    assert page.locator("svg.csn-overview-chart").count() == 2
    screenshot(page, "notification-list")

    # The customer rings: "I never got the text". Staff type the number as they hear it.
    page.fill("#searchbar", "07700 900102")
    page.press("#searchbar", "Enter")
    page.wait_for_url(re.compile(r"q=07700"))
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "Freya Khan" in rows.first.inner_text()
    screenshot(page, "notification-search-by-phone")

    # All failed SMS, and why, without opening anything.
    page.goto(URL)
    page.get_by_role("link", name="SMS", exact=True).first.click()
    page.get_by_role("link", name="Failed", exact=True).first.click()
    page.wait_for_url(re.compile(r"status__exact=failed"))
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    reason = rows.first.locator(".csn-failure").inner_text()
    assert "30003" in reason
    assert "unreachable" in reason
    screenshot(page, "notification-failed-sms")

    # The page: receipts in time order, each explained; the address used.
    rows.first.get_by_role("link", name="Freya Khan").click()
    page.wait_for_url(re.compile(str(failed.pk)))
    content = page.inner_text("#content")
    assert "+447700900102" in content
    receipts = page.locator(".inline-related tbody tr").all_inner_texts()
    assert "Sent" in receipts[0]
    assert "The handset is unreachable" in receipts[1]
    screenshot(page, "notification-page")

    # Resend: confirm, then the new notification is queued and linked to this one.
    page.goto(f"{URL}?status__exact=failed")
    page.locator("input.action-select").first.check()
    page.select_option("select[name=action]", "resend_failed")
    page.click("button[name=index]")
    assert "This touches 1 failed notification." in page.inner_text("#content")
    screenshot(page, "notification-resend-confirmation")
    page.click("input[type=submit][value^='Yes']")
    assert "Resent 1 failed notification" in page.inner_text(".messagelist")
    copy = Notification.objects.get(resent_from=failed)
    assert copy.status == "queued"
    page.goto(f"{URL}?status__exact=queued")
    assert "Freya Khan" in page.locator("#result_list").inner_text()
    assert "Queued" in page.locator("#result_list .csn-badge").first.inner_text()
