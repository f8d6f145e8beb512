"""``manage.py demo``: migrate, seed sample data, print a staff login and serve the admin."""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.test.utils import override_settings

from chargesol_notifications.models import (
    CallLog,
    DeliveryReceipt,
    Notification,
    NotificationTemplate,
)
from chargesol_notifications.testing.twilio import TwilioStandin

from ...demo_data import seed_notifications
from ...live import ConsoleTraffic, LiveTraffic, standin_settings
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
        parser.add_argument(
            "--gateways",
            choices=["standin", "console"],
            default="standin",
            help="standin (default): while serving, send live SMS, WhatsApp and calls "
            "through the Twilio backends to the app's loopback stand-in of Twilio's API, "
            "whose status callbacks then arrive at this server. console: every channel "
            "prints to the console, as the settings say.",
        )
        parser.add_argument(
            "--callback-pause",
            type=float,
            default=1.5,
            help="Seconds between the stand-in's status callbacks (default 1.5).",
        )

    def handle(
        self,
        *args: Any,
        addrport: str,
        serve: bool,
        gateways: str,
        callback_pause: float,
        **options: Any,
    ) -> None:
        verbosity = options["verbosity"]
        call_command("migrate", interactive=False, verbosity=max(verbosity - 1, 0))
        with transaction.atomic():
            seed_templates()
            people = seed_people()
            seed_notifications(people)

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
        if not serve:
            return
        if gateways == "console":
            traffic = ConsoleTraffic(f"http://{addrport}", people, self.write_line)
            threading.Thread(target=traffic.run, name="demo-live-traffic", daemon=True).start()
            self.serve(addrport)
            return
        server_url = f"http://{addrport}"
        with (
            TwilioStandin() as standin,
            override_settings(
                CHARGESOL_NOTIFICATIONS=standin_settings(
                    settings.CHARGESOL_NOTIFICATIONS, standin, server_url
                ),
                # override_settings stands a holder with SETTINGS_MODULE = None in front
                # of the settings, and runserver's banner prints that name.
                SETTINGS_MODULE=settings.SETTINGS_MODULE,
            ),
        ):
            self.stdout.write(
                f"Twilio stand-in listening on {standin.url}; live traffic starts once the "
                "server is up.\n"
            )
            traffic = LiveTraffic(standin, server_url, people, self.write_line, callback_pause)
            threading.Thread(target=traffic.run, name="demo-live-traffic", daemon=True).start()
            self.serve(addrport)

    def serve(self, addrport: str) -> None:
        # No autoreloader: it would run this command, and so the seeding, a second time.
        call_command("runserver", addrport, use_reloader=False)

    def write_line(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()
