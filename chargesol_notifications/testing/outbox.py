"""Emptying ``chargesol_notifications.outbox`` between tests, with or without pytest.

The locmem backend appends every message it "sends" to the module-level list
``chargesol_notifications.outbox``, as Django's locmem mail backend does with
``django.core.mail.outbox``. Django empties ``mail.outbox`` before each test; nothing
empties this one unless the tests ask for it:

* with pytest, enable :mod:`chargesol_notifications.testing.pytest_plugin`, whose autouse
  ``notification_outbox`` fixture does it;
* with Django's test runner, mix :class:`EmptyOutboxMixin` into the test case classes.

Both empty the list in place, so a reference taken earlier
(``from chargesol_notifications import outbox``) stays valid.
"""

from __future__ import annotations

from typing import Any

import chargesol_notifications

__all__ = ["EmptyOutboxMixin", "empty_outbox"]


def empty_outbox() -> list[Any]:
    """Empty ``chargesol_notifications.outbox`` in place and return it."""
    chargesol_notifications.outbox.clear()
    return chargesol_notifications.outbox


class EmptyOutboxMixin:
    """For ``django.test`` test cases: every test starts and ends with an empty outbox.

    Put it before the test case class::

        class BookingTests(EmptyOutboxMixin, TestCase): ...
    """

    def setUp(self) -> None:
        empty_outbox()
        self.addCleanup(empty_outbox)  # type: ignore[attr-defined]
        super().setUp()  # type: ignore[misc]
