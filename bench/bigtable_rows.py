"""The rows of the admin bench (``admin_bigtable.py``): a year of a busy installer's messages.

Plain dicts of attribute values, made as they are written (``bigtable_seed.py``), so a
million notifications never sit in memory at once. Everything comes from seeded
``random.Random`` streams: two seedings of the same plan hold the same rows.

The shape, per notification: SMS 55 %, email 30 %, WhatsApp 10 %, push 5 %; about 5 %
failed (Twilio's 30003, 30005, 30007 and 21211, the last refused at send, so without a
gateway id), a handful still queued, most delivered. Every message the gateway accepted
has its ``sent`` receipt; delivered ones a ``delivered`` receipt, failed ones a ``failed``
receipt. ``created_at`` runs over the last 365 days in insertion order, as in a real table.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

#: Ofcom's drama range holds 100,000 numbers (+447700900000..+447700999999), one per user.
MAX_USERS = 100_000
STAFF_CALLERS = 20
ADMIN_USERNAME = "bigtable-admin"

CHANNELS = (("sms", 55), ("email", 30), ("whatsapp", 10), ("push", 5))
CONTEXT_TYPES = (("survey", 35), ("installation", 25), ("lead", 25), ("payment", 10), ("", 5))
#: Twilio failures: (error code, share among failed SMS/WhatsApp, accepted by the gateway).
TWILIO_FAILURES = (
    ("30003", 45, True),
    ("30005", 30, True),
    ("30007", 10, True),
    ("21211", 15, False),
)
ERROR_MESSAGES = {
    "30003": "Unreachable destination handset",
    "30005": "Unknown destination handset",
    "30007": "Message filtered by the carrier",
    "21211": "The 'To' number is not a valid phone number.",
    "bounced": "550 5.1.1 The email account that you tried to reach does not exist.",
    "unregistered": "The push token is no longer registered.",
}
CALL_TYPES = ("introductory", "survey_confirmation", "installation_confirmation", "reschedule")
CALL_OUTCOMES = ("connected", "connected", "no_answer", "voicemail", "busy", "")


@dataclass(frozen=True)
class Plan:
    notifications: int
    users: int
    call_logs: int
    seed: int = 20261126

    @classmethod
    def for_size(cls, notifications: int) -> Plan:
        """About 12 messages per customer (a lead, a survey, an installation each)."""
        users = min(MAX_USERS, max(200, notifications // 12))
        return cls(notifications, users, max(100, notifications // 10))


@dataclass(frozen=True)
class Targets:
    """What the bench searches for: values known to be in the seeded rows."""

    phone_as_typed: str
    email: str
    gateway_message_id: str
    notification_id: str


def phone(user_index: int) -> str:
    return f"+4477009{user_index:05d}"


def email(user_index: int) -> str:
    return f"customer{user_index:05d}@example.com"


def now_for_seeding() -> dt.datetime:
    """The seed's "now": the current hour, so that a reused table ages like a real one."""
    return dt.datetime.now(dt.UTC).replace(microsecond=0, second=0, minute=0)


# -- the rows ---------------------------------------------------------------------------


def _weighted(choices: tuple[tuple[Any, ...], ...]) -> Callable[[random.Random], tuple]:
    population = list(choices)
    weights = [c[1] for c in choices]
    return lambda rng: rng.choices(population, weights)[0]


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def users(plan: Plan, now: dt.datetime) -> Iterator[dict[str, Any]]:
    first = ("Freya", "Niamh", "Amir", "Oliver", "Priya", "Tomasz", "Grace", "Kwame", "Isla")
    last = ("Khan", "Jones", "Murphy", "Nowak", "Patel", "Smith", "Okafor", "Evans", "Reid")
    for i in range(plan.users):
        yield {
            "username": f"customer{i:05d}",
            "email": email(i),
            "phone": phone(i),
            "first_name": first[i % len(first)],
            "last_name": last[(i // len(first)) % len(last)],
            "password": "!",  # unusable: customers do not log in to the admin
            "date_joined": now - dt.timedelta(days=400),
        }
    for i in range(STAFF_CALLERS):
        yield {
            "username": f"surveyor{i:02d}",
            "email": f"surveyor{i:02d}@chargesol.example.com",
            "is_staff": True,
            "password": "!",
            "date_joined": now - dt.timedelta(days=400),
        }


@dataclass
class SeededNotification:
    row: dict[str, Any]
    receipts: list[dict[str, Any]]


def notifications(
    plan: Plan, now: dt.datetime, template_ids: dict[str, int]
) -> Iterator[SeededNotification]:
    """The notifications in ``created_at`` order, each with its receipts.

    Four in five come from the channel's template (``template_ids``), the rest are
    one-off texts.
    """
    rng = random.Random(plan.seed)
    channel_of = _weighted(CHANNELS)
    context_of = _weighted(CONTEXT_TYPES)
    failure_of = _weighted(TWILIO_FAILURES)
    contexts = [_uuid(rng) for _ in range(max(1, plan.notifications // 4))]
    start = now - dt.timedelta(days=365)
    step = dt.timedelta(days=365) / plan.notifications
    for i in range(plan.notifications):
        created = start + step * i + dt.timedelta(seconds=rng.random())
        channel = channel_of(rng)[0]
        # Some customers hear from us much more than others (leads that became jobs).
        user = int(plan.users * rng.random() ** 1.4)
        context_type = context_of(rng)[0]
        roll = rng.random()
        status = "failed" if roll < 0.05 else "queued" if roll < 0.0505 else "delivered"
        if status == "delivered" and (channel == "push" or rng.random() < 0.12):
            status = "sent"  # no delivery report (push never sends one)
        row: dict[str, Any] = {
            "id": _uuid(rng),
            "recipient_id": user + 1,  # users are COPYed first, in order, ids from 1
            "channel": channel,
            "template_id": template_ids.get(channel) if rng.random() < 0.8 else None,
            "subject": "Your survey is booked" if channel == "email" else "",
            "body": f"Hi {('Freya', 'Amir', 'Niamh')[i % 3]}, your {context_type or 'visit'} "
            f"is booked for {created:%A %d %B} at 10:00. Reply STOP to opt out.",
            "context_type": context_type,
            "context_id": rng.choice(contexts) if context_type else None,
            "status": status,
            "created_at": created,
            "sent_at": None,
            "delivered_at": None,
            "address": _address(channel, user, rng),
        }
        receipts = _receipts(row, channel, status, rng, failure_of) if status != "queued" else []
        if status == "queued":
            row["address"] = ""  # written at delivery, which has not happened
        yield SeededNotification(row, receipts)


def _address(channel: str, user: int, rng: random.Random) -> str:
    if channel == "sms":
        return phone(user)
    if channel == "whatsapp":
        return f"whatsapp:{phone(user)}"
    if channel == "email":
        return email(user)
    return f"push:fcm:{rng.getrandbits(64):016x}"


def _gateway_id(channel: str, rng: random.Random) -> str:
    if channel in ("sms", "whatsapp"):
        return f"SM{rng.getrandbits(128):032x}"
    if channel == "email":
        return f"<{rng.getrandbits(96):024x}@mail.chargesol.example.com>"
    return f"projects/chargesol/messages/0:{rng.getrandbits(64):016x}"


def _receipts(
    row: dict[str, Any],
    channel: str,
    status: str,
    rng: random.Random,
    failure_of: Callable[[random.Random], tuple],
) -> list[dict[str, Any]]:
    sent_at = row["created_at"] + dt.timedelta(seconds=1 + rng.random() * 3)
    receipt = {"notification_id": row["id"], "error_code": None, "error_message": ""}
    code, accepted = None, True
    if status == "failed":
        if channel in ("sms", "whatsapp"):
            code, _, accepted = failure_of(rng)
        else:
            code = "bounced" if channel == "email" else "unregistered"
    if not accepted:  # refused at send: no gateway id, no sent receipt, never sent
        failed = {"status": "failed", "gateway_message_id": None, "received_at": sent_at}
        return [
            {
                **receipt,
                **failed,
                "id": _uuid(rng),
                "error_code": code,
                "error_message": ERROR_MESSAGES[code],
            }
        ]
    row["sent_at"] = sent_at
    gateway_id = _gateway_id(channel, rng)
    rows = [
        {
            **receipt,
            "id": _uuid(rng),
            "status": "sent",
            "gateway_message_id": gateway_id,
            "received_at": sent_at,
        }
    ]
    later = sent_at + dt.timedelta(seconds=2 + rng.random() * 20)
    if status == "delivered":
        row["delivered_at"] = later
        rows.append(
            {
                **receipt,
                "id": _uuid(rng),
                "status": "delivered",
                "gateway_message_id": gateway_id,
                "received_at": later,
            }
        )
    elif status == "failed":
        rows.append(
            {
                **receipt,
                "id": _uuid(rng),
                "status": "failed",
                "gateway_message_id": gateway_id,
                "received_at": later,
                "error_code": code,
                "error_message": ERROR_MESSAGES[code],
            }
        )
    return rows


def call_logs(plan: Plan, now: dt.datetime, caller_ids: list[int]) -> Iterator[dict[str, Any]]:
    rng = random.Random(plan.seed + 1)
    start = now - dt.timedelta(days=365)
    step = dt.timedelta(days=365) / plan.call_logs
    for i in range(plan.call_logs):
        outcome = rng.choice(CALL_OUTCOMES)
        yield {
            "id": _uuid(rng),
            "caller_id": rng.choice(caller_ids),
            "callee_phone": phone(int(plan.users * rng.random() ** 1.4)),
            "call_type": rng.choice(CALL_TYPES),
            "context_type": rng.choice(("lead", "survey", "installation")),
            "context_id": _uuid(rng),
            "outcome": outcome,
            "duration_seconds": rng.randrange(20, 600) if outcome == "connected" else None,
            "notes": "",
            "called_at": start + step * i,
        }
