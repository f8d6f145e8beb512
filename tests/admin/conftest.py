"""Fixtures of the admin tests: staff users by permission, and the admin in Chromium.

``admin_page`` logs a user in to the admin served by pytest-django's ``live_server`` and
returns a Playwright page. The browser tests run with transactional databases (the live
server reads what the test wrote), so they are slower than the client tests beside them.

Screenshots: ``screenshot(page, name)`` writes ``docs/staff/screenshots/<name>.png`` when
``CHARGESOL_SCREENSHOTS`` is set (``tox -e screenshots``), so the staff guide shows
pages the tests really reached; otherwise it does nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission

from ..browser import chromium
from ..factories import UserFactory

PASSWORD = "correct horse battery staple"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "staff" / "screenshots"


def staff_user(*codenames: str, **fields: Any):
    """An active staff user holding the app's permissions ``codenames`` (``view_calllog``)."""
    user = UserFactory(is_staff=True, **fields)
    user.set_password(PASSWORD)
    user.save()
    permissions = Permission.objects.filter(
        content_type__app_label="chargesol_notifications", codename__in=codenames
    )
    assert len(permissions) == len(codenames), f"unknown permission among {codenames}"
    user.user_permissions.set(permissions)
    return user


VIEW_ONLY = (
    "view_notification",
    "view_notificationtemplate",
    "view_calllog",
    "view_deliveryreceipt",
    "view_inboundmessage",
    "view_optout",
)


@pytest.fixture(autouse=True)
def _fresh_overview_cache():
    """The notification list caches its overview for a minute; each test starts afresh."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def view_only_staff(db):
    return staff_user(*VIEW_ONLY, username="viewer")


@pytest.fixture
def browser() -> Iterator[Any]:
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls
    # are synchronous and Django's async-safety check would refuse them.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with chromium() as browser:
        yield browser


@pytest.fixture
def admin_page(browser, live_server) -> Callable[..., Any]:
    """``admin_page(user)``: a page with ``user`` logged in to the admin (superuser if
    none). The page's ``base_url`` is the live server's."""
    pages = []

    def admin_page(user: Any = None):
        if user is None:
            user = UserFactory(is_staff=True, is_superuser=True, username="staffadmin")
            user.set_password(PASSWORD)
            user.save()
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1400, "height": 900}
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto("/admin/login/")
        page.fill("#id_username", user.get_username())
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#user-tools")
        pages.append(context)
        return page

    yield admin_page
    for context in pages:
        context.close()


def screenshot(page: Any, name: str) -> None:
    """Save ``page`` for the staff guide when ``CHARGESOL_SCREENSHOTS`` is set."""
    if os.environ.get("CHARGESOL_SCREENSHOTS", "") in ("", "0"):
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)
