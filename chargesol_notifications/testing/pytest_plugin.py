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
``fcm_standin``
    A running :class:`~chargesol_notifications.testing.fcm.FcmStandin` (needs the ``fcm``
    extra); the test fails at teardown if any request broke FCM's schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .outbox import empty_outbox

pytest_plugins = ["chargesol_notifications.testing.twilio.pytest_plugin"]


@pytest.fixture
def fcm_standin() -> Iterator[Any]:
    """A running FCM stand-in; at teardown the test fails if any request broke FCM's
    schema (claim the ones a test sends on purpose with ``take_violations()``)."""
    try:
        from .fcm import FcmStandin
    except ImportError as exc:  # imported here: projects without the fcm extra load us too
        pytest.fail(f"fcm_standin needs the fcm extra (firebase-admin): {exc}")
    with FcmStandin() as standin:
        yield standin
    standin.assert_no_violations()


@pytest.fixture(autouse=True)
def notification_outbox() -> Iterator[list[Any]]:
    """``chargesol_notifications.outbox``, empty when the test starts; emptied again after."""
    yield empty_outbox()
    empty_outbox()
