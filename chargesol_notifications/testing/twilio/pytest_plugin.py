"""pytest fixtures for the Twilio stand-in: ``twilio_standin`` and ``twilio_client``.

The app's plugin, :mod:`chargesol_notifications.testing.pytest_plugin`, enables them (with
the outbox fixture); a project that wants only these enables this module instead, in its
root ``conftest.py``::

    pytest_plugins = ["chargesol_notifications.testing.twilio.pytest_plugin"]
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from twilio.rest import Client

from .standin import TwilioStandin


@pytest.fixture
def twilio_standin() -> Iterator[TwilioStandin]:
    """A running stand-in; at teardown the test fails if any request broke Twilio's spec.

    A test that sends a bad request on purpose calls ``twilio_standin.take_violations()``
    to claim the violations it expects.
    """
    with TwilioStandin() as standin:
        yield standin
    standin.assert_no_violations()


@pytest.fixture
def twilio_client(twilio_standin: TwilioStandin) -> Client:
    """A real ``twilio.rest.Client`` for the stand-in's account."""
    return twilio_standin.client()
