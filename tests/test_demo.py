"""The example project's ``manage.py demo``: seeding, idempotence, and the admin it serves.

The demo runs as a subprocess, the way a developer runs it, on a SQLite file in the test's
temporary directory, so it never touches the database the rest of the suite uses.
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .browser import chromium

MANAGE_PY = Path(__file__).resolve().parent.parent / "example" / "manage.py"

# The demo prints one "<count> <verbose name plural>" line per model; the admin's
# changelist paginator reads the same.
TABLES = {
    "notification templates": "chargesol_notifications_notificationtemplate",
    "notifications": "chargesol_notifications_notification",
    "delivery receipts": "chargesol_notifications_deliveryreceipt",
    "call logs": "chargesol_notifications_calllog",
}
CHANGELISTS = {
    "notification templates": "/admin/chargesol_notifications/notificationtemplate/",
    "notifications": "/admin/chargesol_notifications/notification/",
    "delivery receipts": "/admin/chargesol_notifications/deliveryreceipt/",
    "call logs": "/admin/chargesol_notifications/calllog/",
}


def demo_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        # pytest-django exported the test settings; the demo runs the example project's.
        DJANGO_SETTINGS_MODULE="chargesol_example.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        DEBUG="true",  # runserver serves the admin's static files only in DEBUG
        PYTHONUNBUFFERED="1",
    )
    return env


def run_demo(tmp_path: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(MANAGE_PY), "demo", *args],
        env=demo_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def seeded_counts(output: str) -> dict[str, int]:
    names = "|".join(TABLES)
    counts = {name: int(n) for n, name in re.findall(rf"^ +(\d+) ({names})$", output, re.M)}
    assert set(counts) == set(TABLES), output
    return counts


def staff_login(output: str) -> tuple[str, str]:
    username = re.search(r"^ +Username: (\S+)$", output, re.M)
    password = re.search(r"^ +Password: (\S+)$", output, re.M)
    assert username, output
    assert password, output
    return username[1], password[1]


def query(database: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(database) as connection:
        return connection.execute(sql).fetchall()


def test_demo_seeds_every_model_once(tmp_path):
    first = run_demo(tmp_path, "--no-serve")
    second = run_demo(tmp_path, "--no-serve")

    counts = seeded_counts(first)
    assert seeded_counts(second) == counts, "a second run must not add rows"
    assert all(counts.values()), counts
    database = tmp_path / "demo.sqlite3"
    for name, table in TABLES.items():
        assert query(database, f"SELECT COUNT(*) FROM {table}") == [(counts[name],)]
    assert staff_login(second) == staff_login(first)

    def distinct(table: str, column: str) -> set[str]:
        return {value for (value,) in query(database, f"SELECT DISTINCT {column} FROM {table}")}

    # A spread of what staff meet in the admin: every channel, state and trigger.
    notifications = TABLES["notifications"]
    assert distinct(notifications, "channel") == {"sms", "email", "whatsapp", "push", "call"}
    assert distinct(notifications, "status") == {"queued", "sent", "delivered", "failed"}
    assert distinct(notifications, "context_type") == {
        "lead",
        "survey",
        "installation",
        "payment",
        "emergency",
    }
    assert distinct(TABLES["delivery receipts"], "status") == {
        "sent",
        "delivered",
        "read",
        "failed",
    }
    assert distinct(TABLES["call logs"], "outcome") >= {
        "connected",
        "no_answer",
        "busy",
        "voicemail",
        "callback_requested",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def demo_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Run ``manage.py demo`` until it serves; yield its base URL and what it printed."""
    port = free_port()
    log_path = tmp_path / "demo.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, str(MANAGE_PY), "demo", "--addrport", f"127.0.0.1:{port}"],
            env=demo_env(tmp_path),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"demo exited with {process.returncode}:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"demo did not serve within 120 s:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{base_url}/admin/login/", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        yield base_url, log_path.read_text()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.browser
def test_demo_admin_lists_the_seeded_rows(tmp_path):
    with chromium() as browser, demo_server(tmp_path) as (base_url, output):
        counts = seeded_counts(output)
        username, password = staff_login(output)
        page = browser.new_page()
        page.goto(f"{base_url}/admin/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        page.wait_for_url(f"{base_url}/admin/")
        assert "Notifications" in page.inner_text("#content")

        for name, path in CHANGELISTS.items():
            page.goto(f"{base_url}{path}")
            paginator = " ".join(page.inner_text(".paginator").split())
            assert f"{counts[name]} {name}" in paginator, (path, paginator)
            assert page.locator("#result_list tbody tr").count() == counts[name], path
