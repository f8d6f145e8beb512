"""The call log admin in Chromium: a call logged by hand, search, and click-to-call.

Run with ``CHARGESOL_SCREENSHOTS=1`` to refresh the pictures of the staff guide
(``docs/staff/calls.rst``).
"""

from __future__ import annotations

import uuid

import pytest

from chargesol_notifications.models import CallLog

from ..factories import CallLogFactory, UserFactory
from .conftest import screenshot, staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BASE = "/admin/chargesol_notifications/calllog"


def test_log_a_call_made_by_hand_and_find_it(admin_page):
    clerk = staff_user("view_calllog", "add_calllog", first_name="Freya", last_name="Khan")
    CallLogFactory(caller=UserFactory(first_name="Sam", last_name="Okafor"), duration_seconds=61)
    page = admin_page(clerk)
    page.goto(f"{BASE}/")
    page.click("a.addlink")
    page.fill("#id_callee_phone", "07700 900102")
    page.select_option("#id_call_type", "survey_confirmation")
    page.select_option("#id_context_type", "survey")
    page.fill("#id_context_id", str(uuid.uuid4()))
    page.select_option("#id_outcome", "connected")
    page.fill("#id_duration", "4:05")
    page.fill("#id_notes", "Confirmed the survey for Tuesday at 10am.")
    screenshot(page, "calls-add")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")

    row = page.locator("#result_list tbody tr", has_text="+447700900102")
    assert row.count() == 1
    assert row.locator("td.field-duration").inner_text() == "4:05"
    assert row.locator("td.field-caller_name").inner_text() == "Freya Khan"
    screenshot(page, "calls-list")

    page.fill("#searchbar", "+44 7700 900102")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 1
    assert CallLog.objects.get(callee_phone="+447700900102").caller == clerk


def test_call_a_customer_again_from_their_call_log(admin_page, standin):
    caller = staff_user(
        "view_calllog", "place_call", first_name="Freya", last_name="Khan", phone="07700 900999"
    )
    earlier = CallLogFactory(callee_phone="+447700900102", call_type="reschedule", notes="")
    page = admin_page(caller)
    page.goto(f"{BASE}/{earlier.pk}/change/")
    screenshot(page, "calls-log-page")
    page.click("a.calllink")
    page.wait_for_selector("#id_callee_phone")
    assert page.input_value("#id_callee_phone") == "+447700900102"
    page.fill("#id_notes", "Customer asked to move the installation.")
    screenshot(page, "calls-place")
    page.click("input[name=_call]")
    page.wait_for_selector(".messagelist .success")
    assert "Calling +447700900102" in page.inner_text(".messagelist")
    screenshot(page, "calls-placed")
    new = CallLog.objects.exclude(pk=earlier.pk).get()
    assert new.caller == caller
    assert [call.to for call in standin.calls] == ["+447700900102"]
