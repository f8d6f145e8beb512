"""200 SMS through a storm of Twilio's real failures, then the recovery.

The stand-in answers with what Twilio and the network do on a bad day: HTTP 429 (Twilio
error 20429), 500s, a proxy's 502 page, answers slower than the client's ``TIMEOUT``
(with and without the message created), requests dropped on their way in, answers lost on
their way out after the message was created, and lookups of the Messages list that fail
in the same ways. Each recipient's number gets its own script of faults, drawn once from
a fixed seed, and a short burst of 429s hits whatever comes first. The faults are used up
as requests arrive; then ``deliver_queued`` runs until nothing is queued.

Measured at the gateway and in the database: no notification sent twice, none failed
while the gateway had its message, none left queued, and each recorded SID one of the
notification's own messages.

A second test puts two notifications with the same text to the same number in one wave,
the older one due for a plain retry, the newer one for a lookup after an attempt that
created nothing.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from chargesol_notifications import notify_many
from chargesol_notifications.models import DeliveryReceipt, Notification
from chargesol_notifications.testing.twilio import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    DEFAULT_FROM,
    TwilioStandin,
)

from .conftest import BODY, Tally, make_recipients, phone, report

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(
        connection.vendor == "sqlite",
        reason="the fault suites run on a database server (SQLite has no row locks)",
    ),
]

NOTIFICATIONS = 200
#: The client's TIMEOUT option, and how late a slow answer comes (always later).
TIMEOUT = 0.5
SLOW = 1.5
#: Enough attempts that the storm cannot use them up: a notification meets at most 6
#: failures (a 429 of the opening burst, 3 failed creates, 2 failed lookups).
MAX_ATTEMPTS = 12
#: Longest a notification may stay queued once the faults have stopped.
RETRY_HORIZON = 60.0
SEED = 9

Fault = Callable[[TwilioStandin, str], None]

#: Faults of a create. "created" says whether Twilio has the message afterwards.
CREATE_FAULTS: dict[str, tuple[Fault, bool]] = {
    "429 Too Many Requests": (lambda s, to: s.fail_next(20429, to=to), False),
    "500 Internal Server Error": (lambda s, to: s.fail_next(20500, to=to), False),
    "503 during an outage": (lambda s, to: s.fail_next(20500, status=503, to=to), False),
    "502 page of a proxy": (
        lambda s, to: s.fail_next(status=502, body="<html>Bad gateway</html>", to=to),
        False,
    ),
    "500 after the timeout": (lambda s, to: s.fail_next(20500, to=to, delay=SLOW), False),
    "request dropped": (lambda s, to: s.disconnect_next(to=to), False),
    "created, answer after the timeout": (lambda s, to: s.slow_next(SLOW, to=to), True),
    "created, answer lost": (lambda s, to: s.lose_next_response(to=to), True),
    "created, answer lost after the timeout": (
        lambda s, to: s.lose_next_response(to=to, delay=SLOW),
        True,
    ),
}
#: Faults of the lookup that follows an attempt whose outcome was unknown.
LOOKUP_FAULTS: dict[str, Fault] = {
    "lookup 503": lambda s, to: s.fail_next(20500, status=503, operation="list", to=to),
    "lookup after the timeout": lambda s, to: s.fail_next(
        20500, operation="list", to=to, delay=SLOW
    ),
    "lookup dropped": lambda s, to: s.disconnect_next(operation="list", to=to),
}
#: Faults whose outcome the client cannot know (a lookup follows them).
UNCERTAIN = {
    "500 after the timeout",
    "request dropped",
    "created, answer after the timeout",
    "created, answer lost",
    "created, answer lost after the timeout",
}


def storm_script(rng: random.Random) -> list[str]:
    """The faults that one number meets, in order: none for about 40% of them."""
    if rng.random() < 0.4:
        return []
    script = rng.choices(list(CREATE_FAULTS), k=rng.randint(1, 3))
    if any(kind in UNCERTAIN for kind in script) and rng.random() < 0.5:
        script += rng.sample(list(LOOKUP_FAULTS), k=rng.randint(1, 2))
    return script


def raise_the_storm(standin: TwilioStandin) -> Counter[str]:
    """Queue the storm at the stand-in; how many of each fault."""
    planned: Counter[str] = Counter()
    # A burst of 429s first: whatever is sent first meets them, whoever it is for.
    standin.fail_next(20429, times=3)
    planned["429 Too Many Requests (burst)"] += 3
    rng = random.Random(SEED)
    for index in range(NOTIFICATIONS):
        for kind in storm_script(rng):
            fault = LOOKUP_FAULTS[kind] if kind in LOOKUP_FAULTS else CREATE_FAULTS[kind][0]
            fault(standin, phone(index))
            planned[kind] += 1
    return planned


@pytest.fixture
def sms_through_the_standin(settings, twilio_standin):
    """SMS through the real Twilio backend and client to the stand-in, TIMEOUT short,
    retries due soon after a failure; the immediate task backend sends at once."""
    settings.CHARGESOL_NOTIFICATIONS = {
        "QUIET_HOURS": None,
        "CHANNELS": {
            "sms": {
                "BACKEND": "chargesol_notifications.backends.twilio.SmsBackend",
                "OPTIONS": {
                    "ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
                    "AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
                    "FROM": DEFAULT_FROM,
                    # A dotted path: the backend builds it and applies TIMEOUT to it.
                    "HTTP_CLIENT": "chargesol_notifications.testing.twilio.StandinHttpClient",
                    "TIMEOUT": TIMEOUT,
                },
            },
        },
        "DEFAULT_REGION": "GB",
        "WEBHOOK_BASE_URL": "https://chargesol.example.com",
        "MAX_ATTEMPTS": MAX_ATTEMPTS,
        "RETRY_BACKOFF_SECONDS": 0.1,
        "RETRY_BACKOFF_MAX_SECONDS": 0.4,
    }
    return twilio_standin


@pytest.mark.django_db(transaction=True)
def test_a_storm_of_gateway_errors_sends_each_notification_once(sms_through_the_standin):
    standin = sms_through_the_standin
    planned = raise_the_storm(standin)
    users = make_recipients(NOTIFICATIONS)

    started = time.monotonic()
    notify_many(users, "sms", body=BODY)  # each is sent (or tried) at once, on commit
    storm_over = time.monotonic()
    runs = deliver_until_nothing_is_queued()
    elapsed = time.monotonic() - started

    tally = Tally.take(standin)
    at_gateway = set(tally.sends)
    wrongly_failed = [
        pk for pk, status in tally.statuses.items() if status == "failed" and pk in at_gateway
    ]
    stuck = [pk for pk, status in tally.statuses.items() if status == "queued"]
    failed_attempts = Counter(
        DeliveryReceipt.objects.filter(status="failed", gateway_message_id=None).values_list(
            "error_code", flat=True
        )
    )
    answers = Counter(
        f"{r.method} {r.status or 'no answer'}"
        for r in standin.requests
        if r.path.endswith("Messages.json")
    )
    report(
        f"{NOTIFICATIONS} SMS through a storm of gateway errors",
        faults_planned=f"{sum(planned.values())} {dict(sorted(planned.items()))}",
        stand_in_answers=dict(sorted(answers.items())),
        failed_attempts_recorded=dict(sorted(failed_attempts.items(), key=str)),
        deliver_queued_runs=runs,
        sends_per_notification=tally.sends_per_notification(),
        duplicates=tally.duplicates(),
        wrongly_failed=len(wrongly_failed),
        stuck=len(stuck),
        statuses=tally.status_counts(),
        elapsed_seconds=(
            f"{elapsed:.1f} (storm {storm_over - started:.1f}, recovery "
            f"{elapsed - (storm_over - started):.1f})"
        ),
    )
    assert tally.duplicates() == 0, tally.summary()
    assert wrongly_failed == [], tally.summary()
    assert stuck == [], f"still queued {RETRY_HORIZON:.0f} s after the storm: {tally.summary()}"
    assert tally.status_counts() == {"sent": NOTIFICATIONS}, tally.summary()
    assert tally.sends_per_notification() == {1: NOTIFICATIONS}
    assert tally.strangers() == []
    assert set(tally.sent_receipts.values()) == {1}
    assert len(tally.sent_receipts) == NOTIFICATIONS
    assert tally.misrecorded() == [], "a sent receipt names another notification's message"


def deliver_until_nothing_is_queued() -> int:
    """Run deliver_queued (in this process) until nothing is queued, or the horizon has
    passed; how many runs it took."""
    runs = 0
    deadline = time.monotonic() + RETRY_HORIZON
    while Notification.objects.filter(status="queued").exists() and time.monotonic() < deadline:
        call_command("deliver_queued", min_age=0, stdout=StringIO())
        runs += 1
        time.sleep(0.1)
    return runs


#: Numbers that get the same text twice, both due in the same wave.
PAIRS = 8


@pytest.mark.django_db(transaction=True)
def test_the_same_text_twice_to_one_number_in_one_wave(sms_through_the_standin, settings):
    standin = sms_through_the_standin
    config = settings.CHARGESOL_NOTIFICATIONS
    sms = {**config["CHANNELS"]["sms"], "CONCURRENCY": 2 * PAIRS}  # one wave for all
    settings.CHARGESOL_NOTIFICATIONS = {**config, "CHANNELS": {"sms": sms}}
    users = make_recipients(PAIRS)
    for index in range(PAIRS):
        # The first notification to each number meets a 500 (Twilio created nothing, and
        # said so); the second, its request dropped on the way in (created nothing, but
        # the client cannot know: its retry asks Twilio first).
        standin.fail_next(20500, to=phone(index))
        standin.disconnect_next(to=phone(index))

    started = time.monotonic()
    notify_many(users, "sms", body=BODY)
    notify_many(users, "sms", body=BODY)
    time.sleep(0.5)  # both retries due: deliver_queued takes all of them in one wave
    runs = deliver_until_nothing_is_queued()
    elapsed = time.monotonic() - started

    tally = Tally.take(standin)
    recorded_sent_never_sent = [
        pk for pk, status in tally.statuses.items() if status == "sent" and not tally.sends[pk]
    ]
    report(
        f"the same text twice to {PAIRS} numbers, both due in one wave",
        deliver_queued_runs=runs,
        sends_per_notification=tally.sends_per_notification(),
        duplicates=tally.duplicates(),
        recorded_sent_but_never_at_the_gateway=len(recorded_sent_never_sent),
        without_a_sent_receipt=2 * PAIRS - len(tally.sent_receipts),
        statuses=tally.status_counts(),
        elapsed_seconds=f"{elapsed:.1f}",
    )
    assert recorded_sent_never_sent == [], tally.summary()
    assert tally.sends_per_notification() == {1: 2 * PAIRS}, tally.summary()
    assert len(tally.sent_receipts) == 2 * PAIRS
    assert tally.misrecorded() == []
