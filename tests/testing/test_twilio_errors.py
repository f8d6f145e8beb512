"""Queued failures: Twilio's error bodies, 429/5xx, slow answers, dropped connections."""

from __future__ import annotations

import time

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from chargesol_notifications.testing.twilio import twilio_error

TO = "+447700900123"
FROM = "+15005550006"


def send(client, to=TO, **kwargs):
    kwargs.setdefault("from_", FROM)
    kwargs.setdefault("body", "Your survey is confirmed")
    return client.messages.create(to=to, **kwargs)


@pytest.mark.parametrize(
    ("code", "status", "message"),
    [
        (21211, 400, f"The 'To' number {TO} is not a valid phone number."),
        (21610, 400, "Attempt to send to unsubscribed recipient"),
        (21614, 400, f"To number: {TO}, is not a mobile number"),
        (21408, 400, f"region indicated by the 'To' number: {TO}"),
        (63016, 400, "Failed to send freeform message because you are outside the allowed window"),
        (20429, 429, "Too Many Requests"),
        (20500, 500, "Internal Server Error"),
    ],
)
def test_injected_error_raises_twilio_rest_exception(
    twilio_standin, twilio_client, code, status, message
):
    twilio_standin.fail_next(code)

    with pytest.raises(TwilioRestException) as caught:
        send(twilio_client)

    assert caught.value.code == code
    assert caught.value.status == status
    assert caught.value.method == "POST"
    assert message in caught.value.msg
    assert caught.value.uri.endswith("/Messages.json")
    assert twilio_standin.messages == []
    # The next request succeeds again.
    assert send(twilio_client).status == "queued"


def test_error_body_has_twilios_shape(twilio_standin, raw):
    twilio_standin.fail_next(21610)
    response = raw.post(
        "/2010-04-01/Accounts/{account}/Messages.json", {"To": TO, "From": FROM, "Body": "x"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": 21610,
        "message": "Attempt to send to unsubscribed recipient",
        "more_info": "https://www.twilio.com/docs/errors/21610",
        "status": 400,
    }


def test_service_unavailable(twilio_standin, twilio_client):
    twilio_standin.fail_next(20500, status=503)
    with pytest.raises(TwilioRestException) as caught:
        send(twilio_client)
    assert (caught.value.status, caught.value.code) == (503, 20500)


def test_bare_status_picks_twilios_code(twilio_standin, twilio_client):
    twilio_standin.fail_next(status=429)
    with pytest.raises(TwilioRestException) as caught:
        send(twilio_client)
    assert (caught.value.status, caught.value.code) == (429, 20429)


def test_non_json_answer_from_a_proxy(twilio_standin, twilio_client):
    twilio_standin.fail_next(status=502, body="<html><body>Bad gateway</body></html>")
    with pytest.raises(TwilioRestException) as caught:
        send(twilio_client)
    # twilio-python falls back to the HTTP status when the body is not Twilio's JSON.
    assert (caught.value.status, caught.value.code) == (502, 502)


def test_fault_matching_a_recipient_leaves_others_alone(twilio_standin, twilio_client):
    twilio_standin.fail_next(21610, to="+447700900999", times=None)

    assert send(twilio_client).status == "queued"
    for _ in range(2):
        with pytest.raises(TwilioRestException) as caught:
            send(twilio_client, to="+447700900999")
        assert caught.value.code == 21610
    assert [m.to for m in twilio_standin.messages] == [TO]


def test_fault_counts_down(twilio_standin, twilio_client):
    twilio_standin.fail_next(20429, times=2)
    for _ in range(2):
        with pytest.raises(TwilioRestException):
            send(twilio_client)
    assert send(twilio_client).sid.startswith("SM")


def test_fault_for_calls_only(twilio_standin, twilio_client):
    twilio_standin.fail_next(21211, resource="calls")
    send(twilio_client)
    with pytest.raises(TwilioRestException) as caught:
        twilio_client.calls.create(to=TO, from_=FROM, twiml="<Response/>")
    assert caught.value.code == 21211


def test_invalid_requests_are_violations_even_when_a_fault_is_queued(twilio_standin, twilio_client):
    twilio_standin.fail_next(21610)
    with pytest.raises(TwilioRestException) as caught:
        send(twilio_client, to="not-a-number")
    assert caught.value.code == 21211
    assert len(twilio_standin.take_violations()) == 1
    with pytest.raises(TwilioRestException) as caught:  # the fault is still queued
        send(twilio_client)
    assert caught.value.code == 21610


def test_custom_code_needs_status_and_message(twilio_standin, twilio_client):
    with pytest.raises(ValueError, match="not in the stand-in's catalogue"):
        twilio_standin.fail_next(30450)
    twilio_standin.fail_next(30450, status=400, message="Message delivery blocked")
    with pytest.raises(TwilioRestException) as caught:
        send(twilio_client)
    assert caught.value.code == 30450


def test_twilio_error_detail_for_authentication():
    assert twilio_error(20003).body() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
        "detail": "Your AccountSid or AuthToken was incorrect.",
    }


def test_slow_answer_times_out_in_requests_and_the_message_still_exists(twilio_standin):
    client = twilio_standin.client(timeout=0.3)
    twilio_standin.slow_next(5)

    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        send(client)
    assert time.monotonic() - started < 3
    # Twilio created it although the client gave up: the "maybe sent" case.
    assert len(twilio_standin.messages) == 1


def test_slow_error_answer(twilio_standin):
    client = twilio_standin.client(timeout=0.3)
    twilio_standin.fail_next(20500, delay=5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        send(client)
    assert twilio_standin.messages == []


def test_slow_answer_within_the_timeout_succeeds(twilio_standin):
    client = twilio_standin.client(timeout=5)
    twilio_standin.slow_next(0.2)
    assert send(client).status == "queued"


def test_dropped_connection(twilio_standin, twilio_client):
    twilio_standin.disconnect_next()
    with pytest.raises(requests.exceptions.ConnectionError):
        send(twilio_client)
    assert send(twilio_client).status == "queued"


def test_stopping_does_not_wait_for_a_slow_answer(twilio_standin):
    client = Client(
        twilio_standin.account_sid,
        twilio_standin.auth_token,
        http_client=twilio_standin.http_client(timeout=0.2),
    )
    twilio_standin.slow_next(30)
    with pytest.raises(requests.exceptions.Timeout):
        send(client)
    started = time.monotonic()
    twilio_standin.stop()
    assert time.monotonic() - started < 2


def test_delivery_failure_is_a_201_then_a_failed_callback(twilio_standin, twilio_client):
    twilio_standin.fail_delivery(63016, to="whatsapp:+447700900123")
    message = send(
        twilio_client,
        to="whatsapp:+447700900123",
        from_="whatsapp:+15005550006",
        status_callback="https://chargesol.example.com/notifications/twilio/message-status/",
    )
    assert message.status == "queued"

    sent, undelivered = twilio_standin.callbacks(message.sid)
    assert sent.params["MessageStatus"] == "sent"
    assert "ErrorCode" not in sent.params
    assert undelivered.params["MessageStatus"] == "undelivered"
    assert undelivered.params["ErrorCode"] == "63016"
    assert twilio_client.messages(message.sid).fetch().error_code == 63016


def test_delivery_failure_can_end_failed(twilio_standin, twilio_client):
    twilio_standin.fail_delivery(30007, status="failed")
    message = send(twilio_client, status_callback="https://chargesol.example.com/s/")
    [failed] = twilio_standin.callbacks(message.sid)
    assert (failed.params["MessageStatus"], failed.params["ErrorCode"]) == ("failed", "30007")
    with pytest.raises(ValueError, match="failed"):
        twilio_standin.fail_delivery(30007, status="delivered")
