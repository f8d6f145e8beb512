"""The app's pytest plugin (outbox and Twilio fixtures) and the outbox TestCase mixin."""

from __future__ import annotations

import os
import subprocess
import sys
import unittest
from pathlib import Path

import chargesol_notifications
from chargesol_notifications.testing.outbox import EmptyOutboxMixin, empty_outbox

ROOT = Path(__file__).resolve().parents[2]

# A project's tests that share the outbox, run in file order.
PROJECT_TESTS = """
import chargesol_notifications


def test_a_message_is_left_behind():
    chargesol_notifications.outbox.append("left behind")


def test_the_next_test_starts_empty(notification_outbox):
    assert notification_outbox is chargesol_notifications.outbox
    assert notification_outbox == []


def test_the_twilio_fixtures_come_with_it(twilio_standin, twilio_client):
    twilio_client.messages.create(to="+447700900123", from_="+15005550006", body="Hi")
    assert [m.body for m in twilio_standin.messages] == ["Hi"]
"""


def test_the_plugin_empties_the_outbox_for_every_test_of_a_project(tmp_path):
    (tmp_path / "conftest.py").write_text(
        'pytest_plugins = ["chargesol_notifications.testing.pytest_plugin"]\n'
    )
    (tmp_path / "test_project.py").write_text(PROJECT_TESTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO"))}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_empty_outbox_keeps_the_list():
    outbox = chargesol_notifications.outbox
    outbox.append("a message")
    assert empty_outbox() is outbox
    assert outbox == []


class _Case(EmptyOutboxMixin, unittest.TestCase):
    def test_nothing(self):
        pass


def test_the_mixin_empties_the_outbox_before_and_after_each_test():
    chargesol_notifications.outbox.append("left by an earlier test")
    case = _Case("test_nothing")
    case.setUp()
    assert chargesol_notifications.outbox == []
    chargesol_notifications.outbox.append("sent by this test")
    case.doCleanups()
    assert chargesol_notifications.outbox == []
