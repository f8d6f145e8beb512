"""Deliver queued notifications whose task was lost, whose retry is due, or whose
scheduled time has come (the only way they go with a task backend that cannot defer),
and escalate the steps of escalation chains that are past their time.

Safe to run from cron on several hosts at once: delivery claims its rows in waves
(``SELECT ... FOR UPDATE SKIP LOCKED``) and re-checks each is still queued and due, so no
notification is sent twice (see docs/guarantees.rst for the window a crash leaves).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Count, Max
from django.db.models.functions import Coalesce
from django.utils import timezone

from ...attempts import TRANSIENT_FAILURES
from ...choices import NotificationStatus
from ...delivery import deliver_batch, enqueue_delivery
from ...delivery_settings import batch_size
from ...escalation import escalate_overdue
from ...models import Notification, NotificationTemplate
from ...retry import is_due

logger = logging.getLogger("chargesol_notifications.delivery")


class Command(BaseCommand):
    help = "Deliver queued notifications that lost their task or wait for a retry."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--min-age",
            type=float,
            default=60.0,
            help="Leave notifications younger than this many seconds (counted from their "
            "scheduled time, for a scheduled one) to their own task (default 60).",
        )
        parser.add_argument(
            "--limit", type=int, default=1000, help="Deliver at most this many (default 1000)."
        )
        parser.add_argument(
            "--enqueue",
            action="store_true",
            help="Hand the due notifications to the task backend instead of sending here.",
        )

    def handle(self, *args: Any, min_age: float, limit: int, enqueue: bool, **options: Any) -> None:
        # Escalation steps past their time (where no deferred check runs, or it was
        # lost): their next steps are queued and handed to delivery like any other.
        escalated = escalate_overdue()
        if escalated:
            self.stdout.write(f"Escalated {len(escalated)} notification(s).")
        now = timezone.now()
        # A scheduled notification's age counts from its scheduled time: it becomes a
        # candidate min_age after it is due, and one scheduled for later is not one yet.
        candidates = (
            Notification.objects.annotate(due_since=Coalesce("scheduled_for", "created_at"))
            .filter(
                status=NotificationStatus.QUEUED, due_since__lte=now - timedelta(seconds=min_age)
            )
            .annotate(
                failures=Count("receipts", filter=TRANSIENT_FAILURES),
                last_failure_at=Max("receipts__received_at", filter=TRANSIENT_FAILURES),
            )
            .order_by("created_at")
            .values_list("pk", "channel", "failures", "last_failure_at")
        )
        due: dict[str, list[uuid.UUID]] = {}
        found = 0
        for pk, channel, failures, last_failure_at in candidates.iterator(chunk_size=2000):
            if is_due(failures, last_failure_at, now):
                due.setdefault(channel, []).append(pk)
                found += 1
                if found >= limit:
                    break
        if enqueue:
            for channel, ids in due.items():
                enqueue_delivery(ids, channel=channel)
            self.stdout.write(f"Enqueued {found} notification(s).")
            return
        results: dict[str, int] = {}
        size = batch_size()
        # Each template is loaded once per run, not once per batch: a run lasts as long as
        # its batches take, and an edit made meanwhile reaches the next run.
        templates: dict[Any, NotificationTemplate] = {}
        for channel, ids in due.items():
            for start in range(0, len(ids), size):
                batch = ids[start : start + size]
                try:
                    outcomes = deliver_batch(batch, channel=channel, templates=templates).values()
                except Exception:
                    # One bad batch must not stop the run: log it and go on with the rest.
                    logger.exception("deliver_queued: a batch of %s %s raised", len(batch), channel)
                    results["error"] = results.get("error", 0) + len(batch)
                    continue
                for outcome in outcomes:
                    results[outcome.result] = results.get(outcome.result, 0) + 1
        summary = ", ".join(f"{count} {result}" for result, count in sorted(results.items()))
        self.stdout.write(f"Delivered {found} due notification(s): {summary or 'none'}.")
