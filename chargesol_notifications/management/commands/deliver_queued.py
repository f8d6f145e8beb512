"""Deliver queued notifications whose task was lost or whose retry is due.

Safe to run from cron on several hosts at once: each delivery locks its notification row
(``SELECT ... FOR UPDATE SKIP LOCKED``) and re-checks it is still queued and due, so no
notification is sent twice.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Count, Max
from django.utils import timezone

from ...choices import NotificationStatus
from ...delivery import TRANSIENT_FAILURES, deliver, enqueue_delivery
from ...models import Notification
from ...retry import is_due

logger = logging.getLogger("chargesol_notifications.delivery")


class Command(BaseCommand):
    help = "Deliver queued notifications that lost their task or wait for a retry."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--min-age",
            type=float,
            default=60.0,
            help="Leave notifications younger than this many seconds to their own task "
            "(default 60).",
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
        now = timezone.now()
        candidates = (
            Notification.objects.filter(
                status=NotificationStatus.QUEUED, created_at__lte=now - timedelta(seconds=min_age)
            )
            .annotate(
                failures=Count("receipts", filter=TRANSIENT_FAILURES),
                last_failure_at=Max("receipts__received_at", filter=TRANSIENT_FAILURES),
            )
            .order_by("created_at")
            .values_list("pk", "failures", "last_failure_at")
        )
        due = []
        for pk, failures, last_failure_at in candidates.iterator(chunk_size=2000):
            if is_due(failures, last_failure_at, now):
                due.append(pk)
                if len(due) >= limit:
                    break
        if enqueue:
            enqueue_delivery(due)
            self.stdout.write(f"Enqueued {len(due)} notification(s).")
            return
        results: dict[str, int] = {}
        for pk in due:
            try:
                result = deliver(pk).result
            except Exception:
                # One bad row must not stop the run: log it and go on with the rest.
                logger.exception("deliver_queued: notification %s raised", pk)
                result = "error"
            results[result] = results.get(result, 0) + 1
        summary = ", ".join(f"{count} {result}" for result, count in sorted(results.items()))
        self.stdout.write(f"Delivered {len(due)} due notification(s): {summary or 'none'}.")
