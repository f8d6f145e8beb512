"""The real twilio client creating messages and calls through the stand-in."""

from __future__ import annotations

import re
from email.utils import parsedate_to_datetime

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from chargesol_notifications.testing.twilio import StandinHttpClient, TwilioStandin
from chargesol_notifications.testing.twilio.resources import (
    check_representation,
    count_segments,
)

from .conftest import CALLS, MESSAGES

CALLBACK = "https://chargesol.example.com/notifications/twilio/message-status/?n=7"


def test_message_is_created_and_parsed_by_the_real_client(twilio_client, twilio_standin):
    message = twilio_client.messages.create(
        to="+447700900123", from_="+15005550006", body="Survey confirmed", status_callback=CALLBACK
    )

    assert re.fullmatch(r"SM[0-9a-f]{32}", message.sid)
    assert message.status == "queued"
    assert message.num_segments == "1"
    assert message.account_sid == twilio_standin.account_sid
    assert message.to == "+447700900123"
    assert message.direction == "outbound-api"
    assert message.date_created.tzinfo is not None
    assert (
        message.uri
        == f"/2010-04-01/Accounts/{twilio_standin.account_sid}/Messages/{message.sid}.json"
    )

    [recorded] = twilio_standin.messages
    assert recorded.sid == message.sid
    assert (recorded.to, recorded.from_, recorded.body) == (
        "+447700900123",
        "+15005550006",
        "Survey confirmed",
    )
    assert recorded.status_callback == CALLBACK
    assert recorded.params["StatusCallback"] == [CALLBACK]


def test_call_is_created_and_parsed_by_the_real_client(twilio_client, twilio_standin):
    response = VoiceResponse()
    response.say("Hello from ChargeSol")
    call = twilio_client.calls.create(
        to="+447700900123",
        from_="+15005550006",
        twiml=response,
        status_callback="https://chargesol.example.com/notifications/twilio/call-status/",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
        machine_detection="Enable",
    )

    assert re.fullmatch(r"CA[0-9a-f]{32}", call.sid)
    assert call.status == "queued"
    assert call.direction == "outbound-api"
    [recorded] = twilio_standin.calls
    assert recorded.twiml.startswith("<?xml")
    assert "Hello from ChargeSol" in recorded.twiml
    assert recorded.status_callback_events == ["initiated", "ringing", "answered", "completed"]
    assert recorded.machine_detection == "Enable"


def test_answers_have_every_property_of_the_response_schemas(twilio_client, twilio_standin):
    twilio_client.messages.create(to="+447700900123", from_="+15005550006", body="Hi")
    twilio_client.calls.create(
        to="+447700900123", from_="+15005550006", url="https://chargesol.example.com/twiml"
    )

    message, call = (r.response for r in twilio_standin.requests)
    assert check_representation("api.v2010.account.message", message) == []
    assert check_representation("api.v2010.account.call", call) == []
    assert parsedate_to_datetime(message["date_created"]).utcoffset().total_seconds() == 0
    assert re.fullmatch(
        r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000", message["date_created"]
    )


def test_fetch_returns_what_was_created(twilio_client):
    created = twilio_client.messages.create(to="+447700900123", from_="+15005550006", body="Hi")
    call = twilio_client.calls.create(to="+447700900123", from_="+15005550006", twiml="<Response/>")

    assert twilio_client.messages(created.sid).fetch().body == "Hi"
    assert twilio_client.calls(call.sid).fetch().to == "+447700900123"
    with pytest.raises(TwilioRestException) as caught:
        twilio_client.messages("SM" + "0" * 32).fetch()
    assert (caught.value.status, caught.value.code) == (404, 20404)


def test_messaging_service_without_from_is_accepted(twilio_client):
    message = twilio_client.messages.create(
        to="whatsapp:+447700900123", messaging_service_sid="MG" + "1" * 32, body="Hi"
    )
    assert message.status == "accepted"
    assert message.from_ is None
    assert message.messaging_service_sid == "MG" + "1" * 32


def test_media_messages_get_an_mm_sid(twilio_client):
    message = twilio_client.messages.create(
        to="+447700900123", from_="+15005550006", media_url=["https://chargesol.example.com/a.png"]
    )
    assert message.sid.startswith("MM")
    assert message.num_media == "1"


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),
        ("€" * 81, 2),
        ("ş" * 70, 1),
        ("ş" * 71, 2),
        ("👍" * 35, 1),
        ("👍" * 36, 2),
        ("", 1),
    ],
)
def test_segments_count_like_twilio(body, segments):
    assert count_segments(body) == segments


def test_whatsapp_is_one_segment(twilio_client):
    message = twilio_client.messages.create(
        to="whatsapp:+447700900123", from_="whatsapp:+15005550006", body="x" * 500
    )
    assert message.num_segments == "1"


def test_api_key_credentials_are_accepted():
    key, secret = "SK" + "2" * 32, "key-secret"
    with TwilioStandin(api_keys={key: secret}) as standin:
        client = Client(key, secret, standin.account_sid, http_client=standin.http_client())
        client.messages.create(to="+447700900123", from_="+15005550006", body="Hi")
        assert len(standin.messages) == 1
        standin.assert_no_violations()


@pytest.mark.parametrize(
    "auth",
    [
        ("AC" + "5eed" * 8, "wrong-token"),
        ("SK" + "3" * 32, "not-a-key"),
        ("AC" + "0" * 32, "70ce" * 8),
        False,  # no Authorization header at all
    ],
)
def test_bad_credentials_are_answered_401_and_recorded(raw, twilio_standin, auth):
    response = raw.post(
        MESSAGES, {"To": "+447700900123", "From": "+15005550006", "Body": "x"}, auth=auth
    )

    assert response.status_code == 401
    assert response.json()["code"] == 20003
    assert response.json()["message"] == "Authenticate"
    assert twilio_standin.messages == []
    [violation] = twilio_standin.take_violations()
    assert violation.problems[0].code == 20003


def test_credentials_for_another_account_are_refused(twilio_standin):
    other = "AC" + "9" * 32
    client = Client(
        twilio_standin.account_sid,
        twilio_standin.auth_token,
        other,
        http_client=twilio_standin.http_client(),
    )
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to="+447700900123", from_="+15005550006", body="Hi")
    assert (caught.value.status, caught.value.code) == (401, 20003)
    assert len(twilio_standin.take_violations()) == 1


def test_reset_forgets_everything(twilio_client, twilio_standin):
    twilio_client.messages.create(to="+447700900123", from_="+15005550006", body="Hi")
    twilio_standin.fail_next(21211)
    twilio_standin.reset()
    twilio_client.messages.create(to="+447700900123", from_="+15005550006", body="Hi")
    assert len(twilio_standin.messages) == 1
    assert len(twilio_standin.requests) == 1


def test_get_raises_for_unknown_sid(twilio_standin):
    with pytest.raises(KeyError):
        twilio_standin.get("SM" + "0" * 32)


def test_standin_can_be_restarted_and_nested():
    outer = TwilioStandin()
    with outer, TwilioStandin() as inner:
        assert outer.port != inner.port
        client = Client(inner.account_sid, inner.auth_token, http_client=StandinHttpClient())
        client.messages.create(to="+447700900123", from_="+15005550006", body="Hi")
        assert len(inner.messages) == 1
        assert outer.messages == []
    assert not outer.running
    with outer:
        assert outer.running


def test_calls_path_and_messages_path_are_both_served(raw):
    ok = raw.post(
        CALLS,
        {"To": "+447700900123", "From": "+15005550006", "Url": "https://chargesol.example.com/t"},
    )
    assert ok.status_code == 201
    assert ok.headers["Content-Type"].startswith("application/json")
