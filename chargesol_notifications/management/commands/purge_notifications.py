"""Delete notifications (and their receipts) older than an age, and optionally call logs.

Meant for cron, e.g. nightly: ``purge_notifications --older-than 365d
--call-logs-older-than 730d``. The work goes in short batches (see retention.py), so it
can run beside delivery and the admin. docs/retention.rst is the operator's page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from ... import retention
from ...choices import NotificationStatus


class Command(BaseCommand):
    help = (
        "Delete notifications created before an age (with their receipts), in batches; "
        "call logs too when --call-logs-older-than is given."
    )
    # Whether a progress bar is drawn on the current line, which the next line must end.
    _bar_open = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            required=True,
            metavar="AGE",
            help="Delete notifications created longer ago than this: a whole number and "
            "h, d or w, e.g. 365d.",
        )
        parser.add_argument(
            "--call-logs-older-than",
            metavar="AGE",
            help="Also delete call logs of calls made longer ago than this (e.g. 730d). "
            "Without it call logs are kept.",
        )
        parser.add_argument(
            "--include-queued",
            action="store_true",
            help="Also delete old notifications that are still queued (never sent), but "
            "none scheduled for the cutoff or later. By default they are kept and counted.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=retention.DEFAULT_BATCH_SIZE,
            help="Rows per batch, each batch its own transaction "
            f"(default {retention.DEFAULT_BATCH_SIZE:,}).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(
        self,
        *args: Any,
        older_than: str,
        call_logs_older_than: str | None,
        include_queued: bool,
        batch_size: int,
        dry_run: bool,
        **options: Any,
    ) -> None:
        # Every argument is checked before anything is deleted.
        now = timezone.now()
        try:
            cutoff = retention.cutoff_for(retention.parse_age(older_than), now)
            call_cutoff = (
                retention.cutoff_for(retention.parse_age(call_logs_older_than), now)
                if call_logs_older_than is not None
                else None
            )
            retention.check_batch_size(batch_size)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        verbosity = int(options["verbosity"])
        if dry_run:
            self._dry_run(cutoff, call_cutoff, include_queued)
            return
        purged = retention.purge_notifications(
            cutoff,
            batch_size=batch_size,
            include_queued=include_queued,
            on_batch=self._progress(
                "notifications",
                lambda: retention.purgeable_notifications(
                    cutoff, include_queued=include_queued
                ).count(),
                verbosity,
            ),
        )
        self._finish_progress()
        self._say(
            verbosity,
            f"Deleted {purged.rows:,} notifications and {purged.receipts:,} receipts older "
            f"than {when(cutoff)}.",
        )
        if not include_queued:
            self._report_kept(cutoff, verbosity)
        if call_cutoff is not None:
            logs = retention.purge_call_logs(
                call_cutoff,
                batch_size=batch_size,
                on_batch=self._progress(
                    "call logs",
                    lambda: retention.purgeable_call_logs(call_cutoff).count(),
                    verbosity,
                ),
            )
            self._finish_progress()
            self._say(verbosity, f"Deleted {logs.rows:,} call logs older than {when(call_cutoff)}.")

    def _dry_run(
        self, cutoff: datetime, call_cutoff: datetime | None, include_queued: bool
    ) -> None:
        counted = retention.count_notifications(cutoff, include_queued=include_queued)
        self.stdout.write(
            f"Dry run: would delete {counted.rows:,} notifications and {counted.receipts:,} "
            f"receipts older than {when(cutoff)}."
        )
        if not include_queued:
            self._report_kept(cutoff, 1, "Dry run: would keep")
        if call_cutoff is not None:
            logs = retention.purgeable_call_logs(call_cutoff).count()
            self.stdout.write(
                f"Dry run: would delete {logs:,} call logs older than {when(call_cutoff)}."
            )

    def _report_kept(self, cutoff: datetime, verbosity: int, verb: str = "Kept") -> None:
        """Old notifications still queued are kept: say so, since it points at a queue
        nobody delivers."""
        kept = retention.purgeable_notifications(cutoff, include_queued=True).filter(
            status=NotificationStatus.QUEUED
        )
        count = kept.count()
        if count:
            self._say(
                verbosity,
                f"{verb} {count:,} notifications older than {when(cutoff)} that are still "
                "queued (never sent); --include-queued deletes them.",
            )

    def _progress(
        self, what: str, count: Callable[[], int], verbosity: int
    ) -> retention.OnBatch | None:
        """A bar on a terminal; a line per batch at verbosity 2 or more otherwise (cron
        mails whatever a job prints, so by default only the summary is printed)."""
        if verbosity < 1:
            return None
        if self.stdout.isatty():
            # The bar needs the total: one COUNT, only when someone watches.
            return ProgressBar(self, what, count())
        if verbosity < 2:
            return None
        return lambda totals: self.stdout.write(
            f"Batch {totals.batches:,}: {totals.rows:,} {what} deleted so far"
            + (f", {totals.receipts:,} receipts" if totals.receipts else "")
            + "."
        )

    def _finish_progress(self) -> None:
        if self._bar_open:
            self.stdout.write("")
            self._bar_open = False

    def _say(self, verbosity: int, text: str) -> None:
        if verbosity >= 1:
            self.stdout.write(text)


class ProgressBar:
    """``Deleting notifications [#######.............]  35% 14,000/40,000``, redrawn in
    place after each batch."""

    WIDTH = 30

    def __init__(self, command: Command, what: str, total: int) -> None:
        self.command, self.what, self.total = command, what, max(total, 1)

    def __call__(self, totals: retention.Purged) -> None:
        done = min(totals.rows, self.total)
        filled = self.WIDTH * done // self.total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.command.stdout.write(
            f"\rDeleting {self.what} [{bar}] {100 * done // self.total:3d}% "
            f"{totals.rows:,}/{self.total:,}",
            ending="",
        )
        self.command.stdout.flush()
        self.command._bar_open = True


def when(cutoff: datetime) -> str:
    """The cutoff as the operator reads it: local time, to the minute."""
    return timezone.localtime(cutoff).strftime("%Y-%m-%d %H:%M %Z")
