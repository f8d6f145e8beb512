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
from datetime import UTC, datetime
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
INBOUND = "chargesol_notifications_inboundmessage"
OPT_OUTS = "chargesol_notifications_optout"
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
def demo_server(tmp_path: Path, *args: str) -> Iterator[tuple[str, Path]]:
    """Run ``manage.py demo`` until it serves; yield its base URL and its log file."""
    port = free_port()
    log_path = tmp_path / "demo.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, str(MANAGE_PY), "demo", "--addrport", f"127.0.0.1:{port}", *args],
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
        yield base_url, log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.browser
def test_demo_admin_lists_every_row(tmp_path):
    """Seeded rows and those the console traffic added: each changelist shows them all."""
    with chromium() as browser, demo_server(tmp_path, "--gateways", "console") as (base_url, log):
        output = wait_for_line(log, "Live traffic done")
        seeded = seeded_counts(output)
        page = log_in(browser, base_url, output)
        assert "Notifications" in page.inner_text("#content")

        for name, path in CHANGELISTS.items():
            ((count,),) = query(tmp_path / "demo.sqlite3", f"SELECT COUNT(*) FROM {TABLES[name]}")
            assert count >= seeded[name]
            page.goto(f"{base_url}{path}")
            paginator = " ".join(page.inner_text(".paginator").split())
            assert f"{count} {name}" in paginator, (path, paginator)
            assert page.locator("#result_list tbody tr").count() == count, path


def test_console_demo_sends_on_every_channel(tmp_path):
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")  # as SQLite stores it
    with demo_server(tmp_path, "--gateways", "console") as (_base_url, log):
        output = wait_for_line(log, "Live traffic done")
    assert "using settings 'chargesol_example.settings'" in output, output
    for line in ("[sms] to +447700900101", "[whatsapp] to +447700900102", "[push] to demo-device-"):
        assert line in output, output
    assert "Subject: Your ChargeSol installation on Friday 5 December" in output  # email
    assert "[call] to +447700900104" in output  # the spoken notification
    assert "[call] ring +447700900105, then connect +447700900100" in output  # click-to-call
    sent = query(
        tmp_path / "demo.sqlite3",
        f"SELECT channel, status FROM {TABLES['notifications']} WHERE created_at >= '{started}'",
    )
    assert sorted(sent) == [
        (channel, "sent") for channel in ("call", "email", "push", "sms", "whatsapp")
    ]


def log_in(browser, base_url: str, output: str):
    username, password = staff_login(output)
    page = browser.new_page()
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base_url}/admin/")
    return page


def wait_for_line(log: Path, text: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = log.read_text()
        if text in output:
            return output
        time.sleep(0.2)
    pytest.fail(f"the demo never printed {text!r}:\n{log.read_text()}")


def test_demo_plays_the_twilio_loop_against_its_own_server(tmp_path):
    """Live SMS, WhatsApp and calls go to the Twilio stand-in; its signed callbacks
    come back to the running demo over HTTP and move statuses forward."""
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")  # as SQLite stores it
    with demo_server(tmp_path, "--callback-pause", "0") as (_base_url, log):
        output = wait_for_line(log, "Live traffic done")
    assert "HTTP 403" not in output
    assert "HTTP 400" not in output
    # runserver's banner names the settings the demo really runs with.
    assert "using settings 'chargesol_example.settings'" in output, output
    database = tmp_path / "demo.sqlite3"
    live_messages = query(
        database,
        f"SELECT r.status, COUNT(*) FROM {TABLES['delivery receipts']} r "
        f"JOIN {TABLES['notifications']} n ON n.id = r.notification_id "
        f"WHERE n.created_at >= '{started}' AND r.gateway_message_id LIKE 'SM%' "
        "GROUP BY r.status",
    )
    # Seven messages accepted; six delivered, one read on WhatsApp, one undelivered.
    assert dict(live_messages) == {"sent": 7, "delivered": 6, "read": 1, "failed": 1}
    (call,) = query(
        database,
        f"SELECT outcome, duration_seconds FROM {TABLES['call logs']} "
        "WHERE outcome != '' ORDER BY called_at DESC LIMIT 1",
    )
    assert call == ("connected", 74)
    (spoken,) = query(
        database,
        f"SELECT status FROM {TABLES['notifications']} WHERE channel = 'call' "
        "ORDER BY created_at DESC LIMIT 1",
    )
    assert spoken == ("delivered",)

    # Customers answered through the stand-in: a YES to the survey confirmation (stored,
    # linked to it and to the customer, noted on the survey, thanked) and a STOP to the
    # WhatsApp reminder (an opt-out of WhatsApp for that number).
    assert "replies YES to the survey confirmation" in output
    assert "your ChargeSol home survey is confirmed" in output, output
    replies = query(
        database,
        "SELECT i.channel, i.from_address, i.body, u.username, n.channel, n.context_type "
        f"FROM {INBOUND} i LEFT JOIN accounts_user u ON u.id = i.user_id "
        f"LEFT JOIN {TABLES['notifications']} n ON n.id = i.in_reply_to_id "
        "ORDER BY i.received_at",
    )
    assert replies == [
        ("sms", "+447700900101", "YES", "amelia.hughes", "sms", "survey"),
        ("whatsapp", "whatsapp:+447700900102", "STOP", "oliver.patel", "whatsapp", "survey"),
    ]
    assert query(database, f"SELECT channel, address, reason, lifted_at FROM {OPT_OUTS}") == [
        ("whatsapp", "whatsapp:+447700900102", "stop_keyword", None)
    ]
    (notes,) = query(
        database,
        "SELECT s.notes FROM leads_survey s JOIN leads_lead l ON l.id = s.lead_id "
        "JOIN accounts_user u ON u.id = l.customer_id WHERE u.username = 'amelia.hughes'",
    )
    assert "Customer confirmed by replying YES" in notes[0]


@pytest.mark.browser
def test_live_receipts_appear_in_the_admin(tmp_path):
    with chromium() as browser, demo_server(tmp_path, "--callback-pause", "0") as (base_url, log):
        output = wait_for_line(log, "Live traffic done")
        page = log_in(browser, base_url, output)
        page.goto(f"{base_url}{CHANGELISTS['delivery receipts']}?status__exact=read")
        rows = page.locator("#result_list tbody tr")
        texts = [rows.nth(i).inner_text() for i in range(rows.count())]
        # The seeded WhatsApp read receipt, and the one Twilio's callback just brought.
        assert len(texts) == 2, texts
        assert any("SM" in text for text in texts), texts
