"""``manage.py demo``: migrate, seed sample data, print a staff login and serve the admin."""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from chargesol_notifications.models import (
    CallLog,
    DeliveryReceipt,
    Notification,
    NotificationTemplate,
)

from ...demo_data import seed_notifications
from ...seed import STAFF_PASSWORD, STAFF_USERNAME, seed_people, seed_templates


class Command(BaseCommand):
    help = (
        "Create the database tables, fill them with a week of sample ChargeSol notifications "
        "and calls, and serve the admin. Safe to run again: it updates the same rows."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--addrport",
            default="127.0.0.1:8000",
            help="Address and port to serve on (default: 127.0.0.1:8000).",
        )
        parser.add_argument(
            "--no-serve",
            action="store_false",
            dest="serve",
            help="Migrate and seed only; do not start the development server.",
        )

    def handle(self, *args: Any, addrport: str, serve: bool, **options: Any) -> None:
        verbosity = options["verbosity"]
        call_command("migrate", interactive=False, verbosity=max(verbosity - 1, 0))
        with transaction.atomic():
            seed_templates()
            seed_notifications(seed_people())

        if ":" not in addrport:
            addrport = f"127.0.0.1:{addrport}"
        self.stdout.write(self.style.SUCCESS("Demo data ready:"))
        for model in (NotificationTemplate, Notification, DeliveryReceipt, CallLog):
            self.stdout.write(f"  {model.objects.count()} {model._meta.verbose_name_plural}")
        self.stdout.write(
            "\nLog in to the admin as a staff user:\n"
            f"  URL:      http://{addrport}/admin/\n"
            f"  Username: {STAFF_USERNAME}\n"
            f"  Password: {STAFF_PASSWORD}\n"
        )
        if serve:
            # No autoreloader: it would run this command, and so the seeding, a second time.
            call_command("runserver", addrport, use_reloader=False)
