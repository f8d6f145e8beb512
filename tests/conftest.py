from __future__ import annotations

import pytest

import chargesol_notifications


@pytest.fixture(autouse=True)
def _empty_outbox():
    """Every test starts with an empty locmem outbox, like Django's mail.outbox."""
    chargesol_notifications.outbox.clear()
    yield
    chargesol_notifications.outbox.clear()
