"""Headless Chromium for the browser tests, driven by Playwright's sync API.

Playwright drives the system's Chromium (``shutil.which("chromium")``), so its own browser
download is never needed. When Playwright or Chromium is missing the test is skipped, or
failed when ``CHARGESOL_REQUIRE_BROWSER`` is set (CI sets it): there, a browser test must
not pass by quietly not running.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

# Headless and offline: without the background-networking flags Chromium keeps trying to
# reach Google's services, which a CI machine's closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def browser_required() -> bool:
    return os.environ.get("CHARGESOL_REQUIRE_BROWSER", "") not in ("", "0")


def unavailable(reason: str) -> NoReturn:
    if browser_required():
        pytest.fail(f"{reason}, and CHARGESOL_REQUIRE_BROWSER is set")
    pytest.skip(reason)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Yield a headless Chromium; skip (or fail, see above) when there is none."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed")
    executable = shutil.which("chromium")
    if executable is None:
        unavailable("no chromium executable on PATH (Debian: apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
