"""Handing a failed step of an escalation chain to :mod:`.escalation`, by a signal.

The status webhooks learn that a step failed (a failed/undelivered callback), but the next
step is delivered through the channel backends, which the webhooks never import
(tests/webhooks/test_boundaries.py). So they send ``escalation_due`` once their
transaction commits, and :mod:`.escalation`, loaded by ``AppConfig.ready()``, receives it.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.dispatch import Signal

from .models import Notification

#: Steps failed and may escalate. ``sender`` is Notification; ``notification_ids``.
escalation_due = Signal()


def escalate_failed_on_commit(steps: Sequence[Notification], using: str) -> None:
    """Escalate ``steps`` (failed, with channels left) once the transaction commits."""
    ids = [step.pk for step in steps if step.fallback_channels]
    if not ids:
        return

    def on_commit() -> None:
        escalation_due.send(sender=Notification, notification_ids=ids)

    transaction.on_commit(on_commit, using=using, robust=True)
