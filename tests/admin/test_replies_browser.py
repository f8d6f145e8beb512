"""Replies and opt-outs in Chromium: find a customer's reply by their number as staff
say it, and put a customer on the opt-out list by hand.

Run with ``CHARGESOL_SCREENSHOTS=1`` to refresh the pictures of the staff guide
(``docs/staff/replies.rst``).
"""

from __future__ import annotations

import pytest

from chargesol_notifications import notify
from chargesol_notifications.models import InboundMessage, Notification, OptOut

from ..factories import NotificationFactory, UserFactory
from .conftest import screenshot, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ADMIN = "/admin/chargesol_notifications"
NUMBER = "+447700900102"


def test_find_a_reply_by_the_customers_number_in_national_format(admin_page):
    clerk = staff_user("view_inboundmessage", "view_notification", first_name="Freya")
    customer = UserFactory(first_name="Sam", last_name="Okafor", phone="07700 900102")
    confirmation = NotificationFactory(
        recipient=customer,
        status="sent",
        address=NUMBER,
        context_type="survey",
        body="Your survey is on Tuesday at 10am. Reply to this message to rearrange.",
    )
    InboundMessage.objects.create(
        channel="sms",
        from_address=NUMBER,
        to_address="+15005550006",
        body="Could we make it Wednesday afternoon instead?",
        gateway_message_id="SM" + "a1" * 16,
        user=customer,
        in_reply_to=confirmation,
    )
    InboundMessage.objects.create(
        channel="sms",
        from_address="+447700900555",
        to_address="+15005550006",
        body="Thanks, see you then",
        gateway_message_id="SM" + "b2" * 16,
    )
    page = admin_page(clerk)

    page.goto(f"{ADMIN}/inboundmessage/")
    page.fill("#searchbar", "07700 900102")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "Wednesday afternoon" in rows.first.inner_text()
    assert f"Sam Okafor ({NUMBER})" in rows.first.inner_text()
    screenshot(page, "replies-search")

    rows.first.locator("th a").click()
    page.wait_for_selector("div.field-in_reply_to a")
    assert "Could we make it Wednesday afternoon" in page.inner_text("div.field-body")
    screenshot(page, "replies-page")

    page.click("div.field-in_reply_to a")
    page.wait_for_selector("#content-main")
    assert "Could we make it Wednesday afternoon" in page.inner_text("#content-main")
    page.locator("text=replies from the customer").scroll_into_view_if_needed()
    screenshot(page, "replies-on-notification")


def test_add_an_opt_out_by_hand_then_lift_it(admin_page):
    clerk = staff_user(
        "view_optout",
        "add_optout",
        "change_optout",
        "view_notification",
        "view_deliveryreceipt",
        first_name="Freya",
        last_name="Khan",
    )
    customer = UserFactory(first_name="Sam", last_name="Okafor", phone="07700 900102")
    page = admin_page(clerk)

    page.goto(f"{ADMIN}/optout/")
    page.click("a.addlink")
    page.select_option("#id_channel", "sms")
    page.fill("#id_address", "07700 900102")
    page.fill("#id_detail", "Rang on 12 June: no more texts, emails are fine.")
    screenshot(page, "opt-outs-add")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")

    row = page.locator("#result_list tbody tr", has_text=NUMBER)
    assert row.count() == 1
    assert row.locator("td.field-added_by").inner_text() == "Freya Khan"
    screenshot(page, "opt-outs-list")
    opt_out = OptOut.objects.get()
    assert (opt_out.address, opt_out.reason, opt_out.created_by) == (NUMBER, "staff", clerk)

    notify(customer, "sms", body="Your installer is on the way.")  # delivered at once
    failed = Notification.objects.get(recipient=customer)
    assert failed.status == "failed"
    page.goto(f"{ADMIN}/notification/{failed.pk}/change/")
    assert "opted out" in page.inner_text("#content-main")
    page.locator("text=receipts, oldest first").scroll_into_view_if_needed()
    screenshot(page, "opt-outs-failed-notification")

    page.goto(f"{ADMIN}/optout/")
    page.fill("#searchbar", "+44 7700 900102")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    page.locator("#result_list tbody tr input.action-select").check()
    page.select_option("select[name=action]", "lift_selected")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist .success")
    assert "Lifted 1 opt-out" in page.inner_text(".messagelist")
    screenshot(page, "opt-outs-lifted")
    opt_out.refresh_from_db()
    assert opt_out.lifted_at is not None
