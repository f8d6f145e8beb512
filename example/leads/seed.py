"""Sample templates, people, leads and surveys for the demo.

Every row has a fixed natural key (a template name, a username) or a primary key derived
from a label with :func:`demo_uuid`, and is written with ``update_or_create``: running the
seeding twice leaves the same rows, not twice as many.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from chargesol_notifications.models import NotificationTemplate

from .models import Lead, Survey

#: Fixed namespace of the demo's primary keys; see :func:`demo_uuid`.
DEMO_NAMESPACE = uuid.UUID("6b1c2a8e-4a1f-4e55-9d0b-2f6c1d9a7e10")

STAFF_USERNAME = "staff"
# Shown on the console by the demo command; this project is for a local machine only.
STAFF_PASSWORD = "chargesol-demo"

TEMPLATES = [
    {
        "name": "survey_confirmation_sms",
        "channel": "sms",
        "body_template": (
            "Hi {{ recipient.first_name }}, your ChargeSol home survey is booked for "
            "{{ survey.scheduled_for|date:'l j F, H:i' }}. Reply STOP to opt out."
        ),
    },
    {
        "name": "installation_reminder_email",
        "channel": "email",
        "subject_template": "Your ChargeSol installation on {{ installation_date }}",
        "body_template": (
            "Dear {{ recipient.first_name }},\n\n"
            "This is a reminder that our engineer will install your {{ lead.charger_model }} "
            "at {{ lead.address }} on {{ installation_date }}.\n\n"
            "Please make sure we can reach your fuse board.\n\nThe ChargeSol team"
        ),
    },
    {
        "name": "emergency_outage_sms",
        "channel": "sms",
        "body_template": (
            "ChargeSol: we are aware of a network outage in {{ area }} affecting chargers. "
            "Engineers are on it; we will text you when it is fixed."
        ),
    },
    {
        "name": "survey_reminder_whatsapp",
        "channel": "whatsapp",
        "body_template": (
            "Hi {{ recipient.first_name }}, a reminder that your ChargeSol surveyor visits "
            "tomorrow at {{ survey.scheduled_for|date:'H:i' }}."
        ),
    },
    {
        "name": "installation_update_push",
        "channel": "push",
        "body_template": "Your charger installation is confirmed for {{ installation_date }}.",
    },
]

# username, first name, last name, phone, postcode, town
CUSTOMERS = [
    ("amelia.hughes", "Amelia", "Hughes", "+447700900101", "BS1 4DJ", "Bristol"),
    ("oliver.patel", "Oliver", "Patel", "+447700900102", "M4 1HN", "Manchester"),
    ("isla.murray", "Isla", "Murray", "+447700900103", "EH3 9DR", "Edinburgh"),
    ("george.obrien", "George", "O'Brien", "+447700900104", "CF10 1EP", "Cardiff"),
    ("freya.khan", "Freya", "Khan", "+447700900105", "LS1 4AP", "Leeds"),
    # No phone number: a text to him fails for want of an address, as it would in production.
    ("harry.wilson", "Harry", "Wilson", "", "NE1 7RU", "Newcastle"),
]
CHARGERS = ["Zappi v2", "Ohme Home Pro", "Wallbox Pulsar Plus", "Easee One", "Hypervolt Home 3"]
#: Customers with a home survey booked; the others are new leads.
SURVEYED = 4


def demo_uuid(label: str) -> uuid.UUID:
    """The same UUID for the same label on every run: what makes the seeding idempotent."""
    return uuid.uuid5(DEMO_NAMESPACE, label)


@dataclass
class DemoPeople:
    staff: Any
    customers: list[Any]
    leads: list[Lead]
    surveys: list[Survey]


def seed_templates() -> list[NotificationTemplate]:
    templates = []
    for spec in TEMPLATES:
        template = NotificationTemplate(**spec)
        template.full_clean(exclude=["name"])  # the app's own checks, as in the admin form
        templates.append(
            NotificationTemplate.objects.update_or_create(
                name=spec["name"], defaults={**spec, "is_active": True}
            )[0]
        )
    return templates


def seed_people() -> DemoPeople:
    """The staff login, the customers, one lead each and surveys for the first four."""
    user_model = get_user_model()
    staff, _ = user_model.objects.update_or_create(
        username=STAFF_USERNAME,
        defaults={
            "first_name": "Sam",
            "last_name": "Fletcher",
            "email": "sam.fletcher@chargesol.example.com",
            "phone": "+447700900100",
            "is_staff": True,
            "is_superuser": True,
            "is_active": True,
        },
    )
    staff.set_password(STAFF_PASSWORD)
    staff.save(update_fields=["password"])

    ten_am = timezone.localtime().replace(hour=10, minute=0, second=0, microsecond=0)
    customers, leads, surveys = [], [], []
    for index, (username, first, last, phone, postcode, town) in enumerate(CUSTOMERS):
        customer, _ = user_model.objects.update_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@example.com",
                "phone": phone,
            },
        )
        if customer.has_usable_password():  # customers never log in to the admin
            customer.set_unusable_password()
            customer.save(update_fields=["password"])
        lead, _ = Lead.objects.update_or_create(
            id=demo_uuid(f"lead:{username}"),
            defaults={
                "customer": customer,
                "address": f"{index + 12} High Street, {town}",
                "postcode": postcode,
                "charger_model": CHARGERS[index % len(CHARGERS)],
                "status": Lead.Status.SURVEY_BOOKED if index < SURVEYED else Lead.Status.NEW,
            },
        )
        customers.append(customer)
        leads.append(lead)
        if index < SURVEYED:
            survey, _ = Survey.objects.update_or_create(
                id=demo_uuid(f"survey:{username}"),
                defaults={
                    "lead": lead,
                    "surveyor": staff,
                    "scheduled_for": ten_am + timedelta(days=index + 1),
                    "status": Survey.Status.SCHEDULED,
                },
            )
            surveys.append(survey)
    return DemoPeople(staff=staff, customers=customers, leads=leads, surveys=surveys)
