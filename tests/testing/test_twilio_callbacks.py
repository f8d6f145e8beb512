"""Signed status callbacks, delivered through Django's test Client or over real HTTP."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest
from twilio.request_validator import RequestValidator

from . import urls

BASE = "https://chargesol.example.com"
MESSAGE_STATUS = f"{BASE}/notifications/twilio/message-status/?n=42"
CALL_STATUS = f"{BASE}/notifications/twilio/call-status/"
TO = "+447700900123"
FROM = "+15005550006"


@pytest.fixture(autouse=True)
def _empty_received():
    urls.received.clear()
    yield
    urls.received.clear()


@pytest.fixture
def message(twilio_client):
    return twilio_client.messages.create(
        to=TO, from_=FROM, body="Your survey is confirmed", status_callback=MESSAGE_STATUS
    )


@pytest.fixture
def whatsapp(twilio_client):
    return twilio_client.messages.create(
        to=f"whatsapp:{TO}",
        from_=f"whatsapp:{FROM}",
        body="Your survey is confirmed",
        status_callback=MESSAGE_STATUS,
    )


def _valid(standin, callback):
    validator = RequestValidator(standin.auth_token)
    params = {} if callback.method == "GET" else callback.params
    return validator.validate(callback.request_url, params, callback.signature or "")


def test_message_callbacks_carry_twilios_parameters(twilio_standin, message):
    sent, delivered = twilio_standin.callbacks(message.sid)

    assert sent.url == MESSAGE_STATUS
    assert sent.method == "POST"
    assert sent.params == {
        "SmsSid": message.sid,
        "SmsStatus": "sent",
        "MessageStatus": "sent",
        "To": TO,
        "MessageSid": message.sid,
        "AccountSid": twilio_standin.account_sid,
        "From": FROM,
        "ApiVersion": "2010-04-01",
    }
    assert delivered.params["MessageStatus"] == delivered.params["SmsStatus"] == "delivered"
    assert len(delivered.params["RawDlrDoneDate"]) == 10
    assert _valid(twilio_standin, sent)
    assert _valid(twilio_standin, delivered)


def test_whatsapp_callbacks_name_the_channel(twilio_standin, whatsapp):
    sent, delivered, read = twilio_standin.callbacks(whatsapp.sid, ["sent", "delivered", "read"])

    assert sent.params["ChannelPrefix"] == "whatsapp"
    assert sent.params["ChannelToAddress"] == TO
    assert sent.params["ChannelInstallSid"].startswith("XE")
    assert sent.params["To"] == f"whatsapp:{TO}"
    assert "EventType" not in sent.params
    assert delivered.params["EventType"] == "DELIVERED"
    assert read.params["EventType"] == "READ"
    assert all(_valid(twilio_standin, cb) for cb in (sent, delivered, read))


def test_failed_statuses_carry_an_error_code(twilio_standin, message):
    [undelivered] = twilio_standin.callbacks(message.sid, ["undelivered"], error_code=30003)
    assert undelivered.params["ErrorCode"] == "30003"
    [failed] = twilio_standin.callbacks(message.sid, ["failed"])
    assert failed.params["ErrorCode"] == "30008"  # Twilio's "Unknown error"


def test_error_code_alone_means_undelivered(twilio_standin, message):
    statuses = [
        cb.params["MessageStatus"] for cb in twilio_standin.callbacks(message.sid, error_code=30005)
    ]
    assert statuses == ["sent", "undelivered"]


def test_extra_parameters_are_added_or_removed(twilio_standin, message):
    [callback] = twilio_standin.callbacks(message.sid, ["sent"], ApiVersion=None, Extra="1")
    assert "ApiVersion" not in callback.params
    assert callback.params["Extra"] == "1"
    assert _valid(twilio_standin, callback)


def test_forged_and_tampered_callbacks_do_not_validate(twilio_standin, message):
    [delivered] = twilio_standin.callbacks(message.sid, ["delivered"])

    assert not _valid(twilio_standin, delivered.forged())
    assert not _valid(twilio_standin, delivered.forged(twilio_standin.auth_token[::-1]))
    assert not _valid(twilio_standin, delivered.altered(MessageStatus="failed"))
    assert not _valid(twilio_standin, delivered.altered(ErrorCode=None, Injected="1"))
    assert not _valid(twilio_standin, delivered.unsigned())
    assert delivered.unsigned().headers().get("X-Twilio-Signature") is None


def test_callbacks_update_what_a_fetch_returns(twilio_standin, twilio_client, message):
    twilio_standin.callbacks(message.sid)
    fetched = twilio_client.messages(message.sid).fetch()
    assert fetched.status == "delivered"
    assert fetched.date_sent is not None


def test_call_callbacks_follow_the_requested_events(twilio_standin, twilio_client):
    call = twilio_client.calls.create(
        to=TO,
        from_=FROM,
        twiml="<Response><Say>Hi</Say></Response>",
        status_callback=CALL_STATUS,
        status_callback_event=["initiated", "ringing", "answered", "completed"],
        machine_detection="Enable",
    )

    callbacks = twilio_standin.callbacks(call.sid, duration=95)

    assert [cb.params["CallStatus"] for cb in callbacks] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert [cb.params["SequenceNumber"] for cb in callbacks] == ["0", "1", "2", "3"]
    completed = callbacks[-1]
    assert completed.params["CallDuration"] == "95"
    assert completed.params["Duration"] == "2"
    assert completed.params["AnsweredBy"] == "human"
    assert completed.params["CallbackSource"] == "call-progress-events"
    assert completed.params["Direction"] == "outbound-api"
    assert completed.params["ToCountry"] == "GB"
    assert completed.params["FromCountry"] == "US"
    assert completed.params["Timestamp"].endswith("+0000")
    assert "CallDuration" not in callbacks[0].params
    assert all(_valid(twilio_standin, cb) for cb in callbacks)
    fetched = twilio_client.calls(call.sid).fetch()
    assert (fetched.status, fetched.duration, fetched.answered_by) == ("completed", "95", "human")


def test_call_without_events_gets_completed_only(twilio_standin, twilio_client):
    call = twilio_client.calls.create(
        to=TO, from_=FROM, twiml="<Response/>", status_callback=CALL_STATUS
    )
    [completed] = twilio_standin.callbacks(call.sid)
    assert completed.params["CallStatus"] == "completed"
    assert "AnsweredBy" not in completed.params


@pytest.mark.parametrize(
    ("status", "answered_by"),
    [("no-answer", None), ("busy", None), ("completed", "machine_end_beep"), ("failed", None)],
)
def test_call_outcomes(twilio_standin, twilio_client, status, answered_by):
    call = twilio_client.calls.create(
        to=TO,
        from_=FROM,
        twiml="<Response/>",
        status_callback=CALL_STATUS,
        machine_detection="Enable",
    )
    [callback] = twilio_standin.callbacks(call.sid, [status], answered_by=answered_by)
    assert callback.params["CallStatus"] == status
    assert callback.params["CallDuration"] == "0"
    if answered_by:
        assert callback.params["AnsweredBy"] == answered_by


def test_get_status_callbacks_are_signed_over_the_query(
    twilio_standin, twilio_client, client, settings
):
    call = twilio_client.calls.create(
        to=TO,
        from_=FROM,
        twiml="<Response/>",
        status_callback=CALL_STATUS + "?log=7",
        status_callback_method="GET",
    )
    [completed] = twilio_standin.callbacks(call.sid, duration=12)

    assert completed.method == "GET"
    assert completed.body() == b""
    assert completed.request_url.startswith(CALL_STATUS + "?log=7&")
    assert "CallDuration=12" in completed.path
    assert _valid(twilio_standin, completed)
    assert not _valid(twilio_standin, completed.altered(CallDuration="13"))


def test_unknown_status_is_refused(twilio_standin, message):
    with pytest.raises(ValueError, match="unknown status"):
        twilio_standin.callbacks(message.sid, ["no_answer"])


def test_without_status_callback_there_are_no_callbacks(twilio_standin, twilio_client):
    message = twilio_client.messages.create(to=TO, from_=FROM, body="Hi")
    with pytest.raises(ValueError, match="without StatusCallback"):
        twilio_standin.callbacks(message.sid)
    [sent] = twilio_standin.callbacks(message.sid, ["sent"], url=MESSAGE_STATUS)
    assert sent.url == MESSAGE_STATUS


def test_sign_any_callback_for_an_unknown_sid(twilio_standin):
    callback = twilio_standin.sign(
        MESSAGE_STATUS, {"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered"}
    )
    assert _valid(twilio_standin, callback)


# -- delivery ------------------------------------------------------------------------------


@pytest.mark.urls("tests.testing.urls")
def test_delivered_through_the_django_test_client(twilio_standin, message, client):
    sent, delivered = twilio_standin.callbacks(message.sid)

    # Any order, with duplicates: the test decides.
    for callback in (delivered, sent, delivered):
        assert callback.deliver(client).status_code == 200
    assert [r["MessageStatus"] for r in urls.received] == ["delivered", "sent", "delivered"]
    assert urls.received[0]["MessageSid"] == message.sid

    assert delivered.forged().deliver(client).status_code == 403
    assert delivered.altered(MessageStatus="read").deliver(client).status_code == 403
    assert delivered.unsigned().deliver(client).status_code == 403
    assert len(urls.received) == 3


@pytest.mark.urls("tests.testing.urls")
def test_get_callback_through_the_django_test_client(twilio_standin, twilio_client, client):
    call = twilio_client.calls.create(
        to=TO,
        from_=FROM,
        twiml="<Response/>",
        status_callback=CALL_STATUS,
        status_callback_method="GET",
    )
    [completed] = twilio_standin.callbacks(call.sid, duration=30)
    assert completed.deliver(client).status_code == 200
    assert urls.received[0]["CallDuration"] == "30"


class _Receiver(BaseHTTPRequestHandler):
    """A live server standing in for ChargeSol, validating like the app must."""

    received: list[dict[str, str]] = []
    auth_token = ""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        params = dict(parse_qsl(body, keep_blank_values=True))
        url = BASE + self.path  # the public URL Twilio signed, not the loopback one
        valid = RequestValidator(self.auth_token).validate(
            url, params, self.headers.get("X-Twilio-Signature", "")
        )
        if valid:
            self.received.append(params)
        self.send_response(200 if valid else 403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def live_receiver(twilio_standin):
    _Receiver.received = []
    _Receiver.auth_token = twilio_standin.auth_token
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_delivered_over_real_http(twilio_standin, message, live_receiver):
    sent, delivered = twilio_standin.callbacks(message.sid)

    assert delivered.deliver_http(live_receiver).status == 200
    assert sent.deliver_http(live_receiver + "/").status == 200
    assert [r["MessageStatus"] for r in _Receiver.received] == ["delivered", "sent"]

    forged = delivered.forged().deliver_http(live_receiver)
    assert forged.status == 403
    assert delivered.altered(ErrorCode="30003").deliver_http(live_receiver).status == 403
    assert len(_Receiver.received) == 2


def test_headers_look_like_twilios(twilio_standin, message):
    [sent] = twilio_standin.callbacks(message.sid, ["sent"])
    headers = sent.headers()
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert headers["User-Agent"] == "TwilioProxy/1.1"
    assert headers["X-Twilio-Signature"] == sent.signature
    assert len(headers["I-Twilio-Idempotency-Token"]) == 32
    assert sent.path == "/notifications/twilio/message-status/?n=42"
