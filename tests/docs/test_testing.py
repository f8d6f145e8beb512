"""The testing page's examples (docs/testing.rst), run as they are shown there."""

from __future__ import annotations

import pytest
import requests
from django.core import checks
from twilio.base.exceptions import TwilioRestException

from chargesol_notifications import notify, place_call
from chargesol_notifications.testing.twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

from . import standin_settings
from .booking import book_survey


def test_the_standin_without_pytest_fixtures():
    # [without pytest]
    from chargesol_notifications.testing.twilio import TwilioStandin

    with TwilioStandin() as standin:
        client = standin.client()  # twilio.rest.Client, real HTTP to 127.0.0.1
        client.messages.create(to="+447700900123", from_="+15005550006", body="Hi")
        assert standin.messages[0].body == "Hi"
        standin.assert_no_violations()
    # [end]


def test_the_test_settings_reach_the_standin(
    settings, twilio_standin, customer, django_capture_on_commit_callbacks
):
    options = standin_settings.TWILIO_TEST_OPTIONS
    assert (options["ACCOUNT_SID"], options["AUTH_TOKEN"]) == (
        DEFAULT_ACCOUNT_SID,
        DEFAULT_AUTH_TOKEN,
    )
    settings.CHARGESOL_NOTIFICATIONS = standin_settings.CHARGESOL_NOTIFICATIONS
    assert [m for m in checks.run_checks() if m.is_serious()] == []

    with django_capture_on_commit_callbacks(execute=True):
        for channel in ("sms", "whatsapp", "call"):
            notify(customer, channel, body="Your survey is on Tuesday")

    assert [m.to for m in twilio_standin.messages] == ["+447700900123", "whatsapp:+447700900123"]
    assert [c.to for c in twilio_standin.calls] == ["+447700900123"]


@pytest.mark.django_db(transaction=True)
def test_confirmation_sms(twilio_channels, survey_confirmation_sms, lead, surveyor, tuesday_10am):
    book_survey(lead, when=tuesday_10am, surveyor=surveyor)  # commits: sent at once

    [message] = twilio_channels.messages
    assert message.to == "+447700900123"
    assert "Tuesday 2 June" in message.body
    assert message.status_callback.startswith(
        "https://chargesol.example.com/notifications/twilio/message-status/"
    )


def test_queued_failures(twilio_standin, twilio_client):
    standin = twilio_standin
    # [fail_next]
    standin.fail_next(21211)  # 400 "The 'To' number ... is not a valid phone number."
    standin.fail_next(21610, to="+447700900123")  # 400 "Attempt to send to unsubscribed ..."
    standin.fail_next(21614)  # 400 "To number: ..., is not a mobile number"
    standin.fail_next(63016)  # 400, WhatsApp outside the 24-hour window
    standin.fail_next(20429, times=2)  # 429 "Too Many Requests", twice
    standin.fail_next(20500)  # 500 "Internal Server Error"
    standin.fail_next(20500, status=503)  # 503 during an outage
    standin.fail_next(status=502, body="<html>Bad gateway</html>")  # not Twilio's JSON
    standin.fail_next(30450, status=400, message="...")  # a code outside the catalogue
    # [end]

    def send():
        return twilio_client.messages.create(to="+447700900123", from_="+15005550006", body="Hi")

    answers = []
    for _ in range(10):
        with pytest.raises(TwilioRestException) as raised:
            send()
        answers.append((raised.value.status, raised.value.code))
    assert answers == [
        (400, 21211),
        (400, 21610),
        (400, 21614),
        (400, 63016),
        (429, 20429),
        (429, 20429),
        (500, 20500),
        (503, 20500),
        (502, 502),  # twilio-python uses the HTTP status when the body is not JSON
        (400, 30450),
    ]
    assert send().status == "queued"  # and then Twilio behaves normally again


def test_timeouts_and_dropped_connections(twilio_standin):
    standin = twilio_standin
    client = standin.client(timeout=0.5)

    def send():
        return client.messages.create(to="+447700900123", from_="+15005550006", body="Hi")

    # [network]
    standin.slow_next(5)  # creates the message, answers 5 s late
    standin.fail_next(20500, delay=5)
    standin.disconnect_next()  # closes the connection without answering
    # [end]
    with pytest.raises(requests.exceptions.Timeout):
        send()
    assert len(standin.messages) == 1  # "maybe sent": created although the client gave up
    with pytest.raises(requests.exceptions.Timeout):
        send()
    with pytest.raises(requests.exceptions.ConnectionError):
        send()
    assert send().status == "queued"


def test_delivery_failures(twilio_channels, client, customer, django_capture_on_commit_callbacks):
    standin = twilio_channels
    # [fail_delivery]
    standin.fail_delivery(63016)  # ends "undelivered", ErrorCode=63016
    standin.fail_delivery(30007, status="failed")
    # [end]
    with django_capture_on_commit_callbacks(execute=True):
        notifications = [notify(customer, "sms", body=body) for body in ("One", "Two")]

    for message in standin.messages:  # accepted (201); the failure comes by callback
        for callback in standin.callbacks(message.sid):
            assert callback.deliver(client).status_code == 200
    for notification, code in zip(notifications, ["63016", "30007"], strict=True):
        notification.refresh_from_db()
        assert notification.status == "failed"
        assert notification.receipts.get(status="failed").error_code == code


def test_delivery_receipts(twilio_channels, client, customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notification = notify(customer, "sms", body="Your quote is ready")
    sid = twilio_channels.messages[0].sid

    sent, delivered = twilio_channels.callbacks(sid)
    # Any order, with duplicates: the app must never move a status backwards.
    assert delivered.deliver(client).status_code == 200  # Django test Client
    assert sent.deliver(client).status_code == 200
    assert delivered.deliver(client).status_code == 200

    notification.refresh_from_db()
    assert notification.status == "delivered"


@pytest.mark.django_db(transaction=True)
def test_voicemail(twilio_channels, client, surveyor, lead):
    call_log = place_call(  # no transaction around it: dials at once
        caller=surveyor,
        callee_phone="+447700900123",
        call_type="introductory",
        context_type="lead",
        context_id=lead.pk,
    )
    [completed] = twilio_channels.callbacks(
        twilio_channels.calls[0].sid, ["completed"], duration=31, answered_by="machine_end_beep"
    )
    assert completed.deliver(client).status_code == 200

    call_log.refresh_from_db()
    assert (call_log.outcome, call_log.duration_seconds) == ("voicemail", 31)


def test_forged_and_tampered_callbacks_are_refused(
    twilio_channels, client, customer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        notification = notify(customer, "sms", body="Your quote is ready")
    [delivered] = twilio_channels.callbacks(twilio_channels.messages[0].sid, ["delivered"])

    # [refused]
    assert delivered.forged().deliver(client).status_code == 403  # wrong auth token
    assert delivered.altered(MessageStatus="read").deliver(client).status_code == 403  # tampered
    assert delivered.unsigned().deliver(client).status_code == 403  # no signature
    # [end]
    notification.refresh_from_db()
    assert notification.status == "sent"


def test_rejects_bad_numbers(twilio_standin, twilio_client):
    with pytest.raises(TwilioRestException):
        twilio_client.messages.create(to="07700 900123", from_="+15005550006", body="Hi")
    [violation] = twilio_standin.take_violations()
    assert violation.problems[0].code == 21211
