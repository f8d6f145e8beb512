from __future__ import annotations

import pytest

import chargesol_notifications

# The Twilio stand-in's fixtures (twilio_standin, twilio_client), as ChargeSol enables them.
pytest_plugins = ["chargesol_notifications.testing.twilio.pytest_plugin"]


@pytest.fixture(autouse=True)
def _empty_outbox():
    """Every test starts with an empty locmem outbox, like Django's mail.outbox."""
    chargesol_notifications.outbox.clear()
    yield
    chargesol_notifications.outbox.clear()
