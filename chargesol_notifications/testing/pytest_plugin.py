"""The app's pytest plugin: an empty locmem outbox for every test, and the Twilio stand-in.

Enable it in the project's root ``conftest.py`` (it needs the ``testing`` extra:
``pip install chargesol-notifications[testing]``)::

    pytest_plugins = ["chargesol_notifications.testing.pytest_plugin"]

It is not registered as a ``pytest11`` entry point on purpose: pytest would then load it,
and run its autouse fixture, in every test session of every environment that has the app
installed, including projects that never asked for it.

Fixtures:

``notification_outbox`` (autouse)
    ``chargesol_notifications.outbox``, emptied before and after each test.
``twilio_standin``, ``twilio_client``
    From :mod:`chargesol_notifications.testing.twilio.pytest_plugin`, which this plugin
    enables.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .outbox import empty_outbox

pytest_plugins = ["chargesol_notifications.testing.twilio.pytest_plugin"]


@pytest.fixture(autouse=True)
def notification_outbox() -> Iterator[list[Any]]:
    """``chargesol_notifications.outbox``, empty when the test starts; emptied again after."""
    yield empty_outbox()
    empty_outbox()
