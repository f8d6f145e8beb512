"""No duplicate after a lost answer: a retry asks Twilio before it sends again.

Everything goes through the real ``twilio`` client and the loopback stand-in, which
creates the message and then loses the answer (``lose_next_response``) or drops the
request before creating anything (``disconnect_next``). The tests read what the caller
and staff see: the notification's status and its receipts, and what Twilio holds.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from ..factories import UserFactory
from ..twilio_setup import use_twilio

pytestmark = pytest.mark.django_db

PHONE = "+447700900123"
TEXT = "Your installer arrives tomorrow between 8 and 10."
STANDIN_CLIENT = "chargesol_notifications.testing.twilio.StandinHttpClient"


@pytest.fixture
def customer():
    return UserFactory(first_name="Niamh", phone="07700 900123")


def deliver_queued():
    call_command("deliver_queued", min_age=0, stdout=StringIO())


def receipts(n):
    return [
        (r.status, r.error_code, r.gateway_message_id)
        for r in n.receipts.order_by("received_at", "pk")
    ]


def methods(standin):
    return [request.method for request in standin.requests]


LOST = {
    "connection dropped": ({}, 0.0, "connection_error"),
    "client timed out": ({"HTTP_CLIENT": STANDIN_CLIENT, "TIMEOUT": 0.3}, 1.0, "timeout"),
}


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
@pytest.mark.parametrize(("options", "delay", "code"), list(LOST.values()), ids=list(LOST))
def test_a_lost_answer_after_twilio_created_the_message_is_found_not_resent(
    settings, twilio_standin, send, customer, channel, options, delay, code
):
    use_twilio(settings, twilio_standin)
    config = settings.CHARGESOL_NOTIFICATIONS
    config["CHANNELS"][channel]["OPTIONS"].update(options)
    settings.CHARGESOL_NOTIFICATIONS = config
    twilio_standin.lose_next_response(delay=delay)

    n = send(customer, channel, body=TEXT)

    (message,) = twilio_standin.messages  # Twilio has it, the app does not know
    assert n.status == "queued"
    assert receipts(n) == [("failed", code, None)]

    deliver_queued()

    n.refresh_from_db()
    assert (n.status, n.sent_at is not None) == ("sent", True)
    assert receipts(n) == [("failed", code, None), ("sent", None, message.sid)]
    assert len(twilio_standin.messages) == 1
    assert methods(twilio_standin) == ["POST", "GET"]  # the lookup, no second create
    (lookup,) = [r for r in twilio_standin.requests if r.method == "GET"]
    to = PHONE if channel == "sms" else f"whatsapp:{PHONE}"
    assert lookup.params["To"] == [to]
    assert lookup.params["From"] == [message.from_]
    deliver_queued()
    assert len(twilio_standin.requests) == 2  # sent is sent: nothing more


def test_a_request_lost_before_twilio_created_anything_is_sent_once(standin, send, customer):
    standin.disconnect_next()
    n = send(customer, "sms", body=TEXT)
    assert (n.status, receipts(n)) == ("queued", [("failed", "connection_error", None)])
    assert standin.messages == []

    deliver_queued()

    n.refresh_from_db()
    (message,) = standin.messages
    assert n.status == "sent"
    assert receipts(n) == [("failed", "connection_error", None), ("sent", None, message.sid)]
    assert methods(standin) == ["POST", "GET", "POST"]


def test_a_refusal_needs_no_lookup(standin, send, customer):
    standin.fail_next(status=503)  # Twilio answered: it did not create the message
    n = send(customer, "sms", body=TEXT)
    deliver_queued()
    n.refresh_from_db()
    assert n.status == "sent"
    assert methods(standin) == ["POST", "POST"]


LOOKUP_FAILURES = {
    "503": {"status": 503},
    "429": {"code": 20429, "status": 429},
}


@pytest.mark.parametrize("failure", list(LOOKUP_FAILURES.values()), ids=list(LOOKUP_FAILURES))
def test_a_failing_lookup_defers_the_retry_and_never_sends_blind(standin, send, customer, failure):
    standin.lose_next_response()
    standin.fail_next(**failure, operation="list")
    n = send(customer, "sms", body=TEXT)

    deliver_queued()  # the lookup fails: no second create

    n.refresh_from_db()
    (message,) = standin.messages
    assert n.status == "queued"
    assert [(s, c) for s, c, _ in receipts(n)] == [
        ("failed", "connection_error"),
        ("failed", "lookup_failed"),
    ]
    assert "not sent again" in n.receipts.get(error_code="lookup_failed").error_message
    assert methods(standin) == ["POST", "GET"]

    deliver_queued()  # the next lookup answers: the message is found

    n.refresh_from_db()
    assert n.status == "sent"
    assert receipts(n)[-1] == ("sent", None, message.sid)
    assert len(standin.messages) == 1
    assert methods(standin) == ["POST", "GET", "GET"]


def test_a_dropped_lookup_is_deferred_too(standin, send, customer):
    standin.lose_next_response()
    standin.disconnect_next(operation="list")
    n = send(customer, "sms", body=TEXT)
    deliver_queued()
    n.refresh_from_db()
    assert (n.status, receipts(n)[-1][1]) == ("queued", "lookup_failed")
    assert methods(standin) == ["POST", "GET"]


def test_a_lookup_failing_until_attempts_run_out_fails_without_a_second_send(
    settings, twilio_standin, send, customer
):
    use_twilio(settings, twilio_standin, MAX_ATTEMPTS=3)
    twilio_standin.lose_next_response()
    twilio_standin.fail_next(status=503, operation="list", times=None)
    n = send(customer, "sms", body=TEXT)
    deliver_queued()
    deliver_queued()
    deliver_queued()

    n.refresh_from_db()
    assert n.status == "failed"
    final = n.receipts.order_by("-received_at", "-pk").first()
    assert final.error_code == "lookup_failed"
    assert final.error_message.startswith("Gave up after 3 attempts.")
    assert len(twilio_standin.messages) == 1
    assert methods(twilio_standin) == ["POST", "GET", "GET"]


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
@pytest.mark.parametrize("created", [True, False], ids=["created", "not created"])
def test_another_notification_with_the_same_text_is_not_taken_for_ours(
    standin, send, customer, channel, created
):
    earlier = send(customer, channel, body=TEXT)  # same recipient, same text, its own callback
    (theirs,) = standin.messages
    if created:
        standin.lose_next_response()
    else:
        standin.disconnect_next()
    n = send(customer, channel, body=TEXT)

    deliver_queued()

    n.refresh_from_db()
    assert n.status == "sent"
    assert len(standin.messages) == 2  # theirs and exactly one of ours
    (ours,) = [m for m in standin.messages if m.sid != theirs.sid]
    assert ours.status_callback.endswith(f"?n={n.pk}")
    assert theirs.status_callback.endswith(f"?n={earlier.pk}")
    assert receipts(n)[-1] == ("sent", None, ours.sid)
    assert earlier.receipts.get().gateway_message_id == theirs.sid
    expected = ["POST", "POST", "GET"] if created else ["POST", "POST", "GET", "POST"]
    assert methods(standin) == expected


def test_a_different_text_to_the_same_recipient_is_not_taken_for_ours(standin, send, customer):
    standin.disconnect_next()
    n = send(customer, "sms", body=TEXT)
    send(customer, "sms", body="Something else entirely.")

    deliver_queued()

    n.refresh_from_db()
    assert n.status == "sent"
    assert sorted(m.body for m in standin.messages) == ["Something else entirely.", TEXT]


def test_through_a_messaging_service(settings, twilio_standin, send, customer):
    service = "MG" + "1" * 32
    use_twilio(settings, twilio_standin, sms_options={"FROM": "", "MESSAGING_SERVICE_SID": service})
    twilio_standin.lose_next_response()
    n = send(customer, "sms", body=TEXT)

    deliver_queued()

    n.refresh_from_db()
    (message,) = twilio_standin.messages
    assert receipts(n)[-1] == ("sent", None, message.sid)
    (lookup,) = [r for r in twilio_standin.requests if r.method == "GET"]
    assert "From" not in lookup.params  # the service picks the sender


def test_every_attempt_after_an_uncertain_one_asks_first(standin, send, customer):
    standin.disconnect_next()  # attempt 1: lost before Twilio created anything
    standin.fail_next(status=503)  # attempt 2: asks, finds nothing, sends, refused
    n = send(customer, "sms", body=TEXT)
    deliver_queued()
    deliver_queued()  # attempt 3: attempt 1 is still uncertain, so it asks again

    n.refresh_from_db()
    (message,) = standin.messages
    assert receipts(n) == [
        ("failed", "connection_error", None),
        ("failed", "20500", None),
        ("sent", None, message.sid),
    ]
    assert methods(standin) == ["POST", "GET", "POST", "GET", "POST"]
