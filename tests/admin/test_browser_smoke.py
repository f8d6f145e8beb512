"""The admin in a real browser: the fixtures the other browser tests stand on."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_log_in_and_reach_the_apps_index(admin_page):
    page = admin_page()
    page.goto("/admin/chargesol_notifications/")
    assert "Notifications" in page.inner_text("#content")
