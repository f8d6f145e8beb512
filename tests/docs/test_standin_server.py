"""The stand-in beside a development server (docs/standin_server.rst), run as documented.

``python -m chargesol_notifications.testing.twilio`` runs in a subprocess, as a developer
starts it; the settings it prints drive the app, and its status callbacks reach
pytest-django's live server, which stands in for ``runserver``.
"""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from twilio.rest import Client

from chargesol_notifications import notify, place_call
from chargesol_notifications.testing.twilio import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    StandinHttpClient,
)
from chargesol_notifications.testing.twilio.local import settings_snippet

HERE = Path(__file__).resolve().parent
COMMAND = [sys.executable, "-m", "chargesol_notifications.testing.twilio"]


class StandinProcess:
    """The command in a subprocess, its output read line by line as it comes."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [*COMMAND, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        """The first line (from here on) that matches ``pattern``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.output.append(line)
            if match := re.search(pattern, line):
                return match
        pytest.fail(f"the stand-in never printed {pattern!r}:\n{''.join(self.output)}")

    def stop(self) -> int:
        self.process.terminate()
        try:
            return self.process.wait(timeout=10)
        finally:
            self.process.kill()


@pytest.fixture
def standin_process(live_server) -> Iterator[StandinProcess]:
    """The stand-in on a free loopback port, calling the live server back."""
    process = StandinProcess("--port", "0", "--app-url", live_server.url, "--pause", "0.2")
    yield process
    process.stop()


def test_the_documented_settings_are_what_the_command_prints():
    # The docs show the settings for the default port and runserver's default address.
    documented = (HERE / "local_standin_settings.py").read_text()
    assert settings_snippet("http://127.0.0.1:8010", "http://127.0.0.1:8000") == documented


def test_it_answers_the_real_client_on_loopback(standin_process):
    url = standin_process.wait_for(r"listening on (http://127\.0\.0\.1:\d+)")[1]
    client = Client(DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, http_client=StandinHttpClient(url=url))

    message = client.messages.create(to="+447700900123", from_="+15005550006", body="Hi")

    assert message.sid.startswith("SM")
    standin_process.wait_for(rf"^message {message.sid} to \+447700900123$")
    assert standin_process.stop() == 0


@pytest.mark.django_db(transaction=True)
def test_its_settings_and_callbacks_drive_the_app(
    standin_process, live_server, settings, customer, surveyor, lead
):
    url = standin_process.wait_for(r"listening on (http://127\.0\.0\.1:\d+)")[1]
    snippet = settings_snippet(url, live_server.url)
    standin_process.wait_for(re.escape(snippet.splitlines()[-1]))  # printed in full
    printed: dict = {}
    exec(snippet, printed)  # what a developer pastes into settings.py
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        **printed["CHARGESOL_NOTIFICATIONS"],
    }

    notification = notify(customer, "sms", body="Your survey is booked")  # autocommit: sent
    sid = notification.receipts.get().gateway_message_id
    status_url = f"{live_server.url}/notifications/twilio/message-status/"
    standin_process.wait_for(rf"{sid} delivered -> {re.escape(status_url)}: HTTP 200")
    notification.refresh_from_db()
    assert notification.status == "delivered"

    call_log = place_call(
        caller=surveyor,
        callee_phone="+447700900123",
        call_type="introductory",
        context_type="lead",
        context_id=lead.pk,
    )
    standin_process.wait_for(r"answer URL -> .*: HTTP 200")
    standin_process.wait_for(r"completed -> .*/twilio/call-status/: HTTP 200")
    call_log.refresh_from_db()
    assert (call_log.outcome, call_log.duration_seconds) == ("connected", 30)


def test_it_calls_back_nothing_but_this_machine():
    result = subprocess.run(
        [*COMMAND, "--app-url", "https://chargesol.example.com"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "--app-url must be an http:// address on this machine" in result.stderr
