"""Twilio webhooks under hostile or odd input: mismatched sids, values the database would
refuse, replayed answer requests. Every request is signed for real (RequestValidator, via
the stand-in), so each refusal is the view's own and not the signature check's."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.core.signals import got_request_exception
from django.db import connection
from django.http import QueryDict
from django.test import Client
from django.utils import timezone
from twilio.request_validator import RequestValidator

from chargesol_notifications import notify, place_call
from chargesol_notifications.models import CallLog, DeliveryReceipt, Notification
from chargesol_notifications.signals import notification_sent, receipt_recorded

from ..factories import StaffUserFactory, UserFactory
from ..twilio_setup import WEBHOOK_BASE_URL, use_twilio

pytestmark = pytest.mark.django_db

MESSAGE_STATUS = "/notifications/twilio/message-status/"
CALL_STATUS = "/notifications/twilio/call-status/"
CALL_ANSWER = "/notifications/twilio/call-answer/"
FORM = "application/x-www-form-urlencoded"
CUSTOMER = "+447700900123"
STAFF_PHONE = "+447700900999"
MALFORMED_TEXT = b"Malformed webhook request."


def database_state():
    """Everything a webhook could write, to compare before and after a request."""
    return (
        sorted(
            DeliveryReceipt.objects.values_list(
                "pk", "notification_id", "status", "gateway_message_id", "error_code"
            )
        ),
        sorted(Notification.objects.values_list("pk", "status", "sent_at", "delivered_at")),
        sorted(CallLog.objects.values_list("pk", "outcome", "duration_seconds", "notes")),
    )


def new_sid(prefix: str = "SM") -> str:
    return prefix + uuid.uuid4().hex


def post_signed(client, standin, url: str, pairs: list[tuple[str, str]]):
    """POST form ``pairs`` (a name may repeat) to ``url``, signed as Twilio signs them."""
    body = urlencode(pairs)
    signature = RequestValidator(standin.auth_token).compute_signature(url, QueryDict(body))
    path = url.removeprefix(WEBHOOK_BASE_URL)
    return client.post(
        path, data=body, content_type=FORM, secure=True, HTTP_X_TWILIO_SIGNATURE=signature
    )


def assert_plain(response, status: int, text: bytes) -> None:
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == text


@pytest.fixture
def sent_sms(standin, django_capture_on_commit_callbacks):
    """Two SMS notifications that Twilio accepted: [(notification, its SM sid), ...]."""
    with django_capture_on_commit_callbacks(execute=True):
        first = notify(UserFactory(phone=CUSTOMER), "sms", body="Your survey is booked")
        second = notify(UserFactory(), "sms", body="Your quote is ready")
    return [(first, standin.messages[0].sid), (second, standin.messages[1].sid)]


@pytest.fixture
def spoken(standin, django_capture_on_commit_callbacks):
    """A ``call`` notification that Twilio accepted: (notification, its CA sid)."""
    with django_capture_on_commit_callbacks(execute=True):
        n = notify(UserFactory(phone=CUSTOMER), "call", body="Your installer is outside")
    (call,) = standin.calls
    return n, call.sid


@pytest.fixture
def placed(standin, django_capture_on_commit_callbacks):
    """A click-to-call placed through the stand-in: (CallLog, the stand-in's call)."""
    with django_capture_on_commit_callbacks(execute=True):
        call_log = place_call(
            caller=StaffUserFactory(phone=STAFF_PHONE),
            callee_phone=CUSTOMER,
            call_type="introductory",
            context_type="lead",
            context_id=uuid.uuid4(),
        )
    (call,) = standin.calls
    return call_log, call


# -- 1. a sid and an ?n= that do not belong together ------------------------------------------


def test_sid_of_another_notification_is_recorded_on_neither(client, standin, sent_sms, caplog):
    (first, _first_sid), (_second, second_sid) = sent_sms
    url = f"{WEBHOOK_BASE_URL}{MESSAGE_STATUS}?n={first.pk}"
    (callback,) = standin.callbacks(second_sid, ["undelivered"], error_code=30003, url=url)
    before = database_state()
    assert callback.deliver(client).status_code == 200
    assert database_state() == before
    (warning,) = [r for r in caplog.records if "recorded nowhere" in r.getMessage()]
    assert warning.levelname == "WARNING"
    assert second_sid in warning.getMessage()


def test_sid_other_than_the_notifications_sent_sid_is_recorded_on_neither(
    client, standin, sent_sms, caplog
):
    (first, _sid), _second = sent_sms
    url = f"{WEBHOOK_BASE_URL}{MESSAGE_STATUS}?n={first.pk}"
    stranger = new_sid()
    params = {"MessageSid": stranger, "MessageStatus": "delivered", "AccountSid": "AC" + "0" * 32}
    before = database_state()
    assert standin.sign(url, params).deliver(client).status_code == 200
    assert database_state() == before
    assert not DeliveryReceipt.objects.filter(gateway_message_id=stranger).exists()
    assert "recorded nowhere" in caplog.text


def test_call_status_for_another_sid_is_recorded_on_neither(client, standin, spoken, caplog):
    n, _sid = spoken
    url = f"{WEBHOOK_BASE_URL}{CALL_STATUS}?n={n.pk}"
    params = {"CallSid": new_sid("CA"), "CallStatus": "completed", "CallDuration": "40"}
    before = database_state()
    assert standin.sign(url, params).deliver(client).status_code == 200
    assert database_state() == before
    assert "recorded nowhere" in caplog.text


def test_the_matching_sid_still_lands(client, standin, sent_sms):
    (first, sid), _second = sent_sms
    (callback,) = standin.callbacks(sid, ["delivered"])
    assert f"?n={first.pk}" in callback.url
    assert callback.deliver(client).status_code == 200
    first.refresh_from_db()
    assert first.status == "delivered"


@pytest.mark.skipif(connection.vendor == "sqlite", reason="needs concurrent transactions")
@pytest.mark.django_db(transaction=True)
def test_mismatch_racing_the_send_commit_is_seen_after_the_lock(
    live_server, settings, twilio_standin
):
    """The check waits for the notification's row lock, so it sees the send's sid."""
    use_twilio(settings, twilio_standin)
    responses = []
    threads: list[threading.Thread] = []

    def stranger_calls_back_before_our_commit(notification, receipt, **kwargs):
        url = f"{WEBHOOK_BASE_URL}{MESSAGE_STATUS}?n={notification.pk}"
        params = {"MessageSid": new_sid(), "MessageStatus": "delivered"}
        callback = twilio_standin.sign(url, params)
        thread = threading.Thread(
            target=lambda: responses.append(callback.deliver_http(live_server.url))
        )
        thread.start()
        time.sleep(0.5)  # the webhook is now waiting on the notification's row lock
        threads.append(thread)

    notification_sent.connect(stranger_calls_back_before_our_commit)
    try:
        n = notify(UserFactory(phone=CUSTOMER), "sms", body="Racing")
    finally:
        notification_sent.disconnect(stranger_calls_back_before_our_commit)
    threads[0].join(timeout=30)
    assert [r.status for r in responses] == [200]
    n.refresh_from_db()
    assert n.status == "sent"
    assert list(n.receipts.values_list("status", "gateway_message_id")) == [
        ("sent", twilio_standin.messages[0].sid)
    ]


# -- 2. and 3. signed but odd values: 400, text/plain, no echo, nothing written ---------------

ODD_MESSAGE_VALUES = {
    "MessageSid longer than its column": {"MessageSid": "SM" + "0" * 120},
    "MessageSid not a Twilio sid": {"MessageSid": "SM-12345"},
    "MessageSid with a lowercase prefix": {"MessageSid": "sm" + "0" * 32},
    "MessageSid with a NUL": {"MessageSid": "SM" + "0" * 31 + "\x00"},
    "MessageStatus with a NUL": {"MessageStatus": "undelivered\x00"},
    "ErrorCode longer than its column": {"ErrorCode": "3" * 51},
    "ErrorCode not digits": {"ErrorCode": "30003 OR 1=1"},
    "ErrorCode in fullwidth digits": {"ErrorCode": "\uff13\uff10\uff10\uff10\uff13"},
    "ErrorCode with a NUL": {"ErrorCode": "30003\x00"},
    "ErrorMessage with a NUL": {"ErrorMessage": "Unreachable\x00handset"},
}


@pytest.mark.parametrize("changes", list(ODD_MESSAGE_VALUES.values()), ids=list(ODD_MESSAGE_VALUES))
def test_odd_message_values_are_400_and_write_nothing(client, standin, sent_sms, changes):
    (_first, sid), _second = sent_sms
    (callback,) = standin.callbacks(sid, ["undelivered"], error_code=30003, **changes)
    before = database_state()
    response = callback.deliver(client)
    assert_plain(response, 400, MALFORMED_TEXT)
    assert database_state() == before


ODD_CALL_VALUES = {
    "CallDuration of a superscript two": {"CallDuration": "\u00b2"},
    "CallDuration of 20 digits": {"CallDuration": "9" * 20},
    "CallDuration one past a 32-bit int": {"CallDuration": str(2**31)},
    "CallDuration negative": {"CallDuration": "-5"},
    "CallDuration with a NUL": {"CallDuration": "95\x00"},
    "CallSid longer than its column": {"CallSid": "CA" + "0" * 120},
    "CallSid not a Twilio sid": {"CallSid": "CA" + "g" * 32},
    "CallSid with a NUL": {"CallSid": "CA\x00" + "0" * 31},
    "CallStatus with a NUL": {"CallStatus": "completed\x00"},
    "AnsweredBy with a NUL": {"AnsweredBy": "human\x00"},
}


@pytest.mark.parametrize("changes", list(ODD_CALL_VALUES.values()), ids=list(ODD_CALL_VALUES))
def test_odd_call_values_are_400_and_write_nothing(client, standin, placed, changes):
    _call_log, call = placed
    (callback,) = standin.callbacks(
        call.sid, ["completed"], duration=95, answered_by="human", **changes
    )
    before = database_state()
    assert_plain(callback.deliver(client), 400, MALFORMED_TEXT)
    assert database_state() == before


@pytest.mark.parametrize("changes", list(ODD_CALL_VALUES.values()), ids=list(ODD_CALL_VALUES))
def test_odd_values_on_a_spoken_notification_are_400_and_write_nothing(
    client, standin, spoken, changes
):
    _n, sid = spoken
    (callback,) = standin.callbacks(sid, ["completed"], duration=20, **changes)
    before = database_state()
    assert_plain(callback.deliver(client), 400, MALFORMED_TEXT)
    assert database_state() == before


def test_the_largest_32_bit_duration_is_recorded(client, standin, placed):
    call_log, call = placed
    (callback,) = standin.callbacks(call.sid, ["completed"], CallDuration=str(2**31 - 1))
    assert callback.deliver(client).status_code == 200
    call_log.refresh_from_db()
    assert call_log.duration_seconds == 2**31 - 1


@pytest.mark.parametrize("view", [MESSAGE_STATUS, CALL_STATUS, CALL_ANSWER])
def test_a_parameter_given_twice_is_400(client, standin, sent_sms, placed, view):
    (_first, sid), _second = sent_sms
    _call_log, call = placed
    name = "MessageSid" if view == MESSAGE_STATUS else "CallSid"
    first = sid if view == MESSAGE_STATUS else call.sid
    pairs = [(name, first), (name, new_sid(first[:2])), ("MessageStatus", "delivered")]
    pairs.append(("CallStatus", "completed"))
    before = database_state()
    response = post_signed(client, standin, f"{WEBHOOK_BASE_URL}{view}", pairs)
    assert_plain(response, 400, MALFORMED_TEXT)
    assert database_state() == before


ODD_QUERIES = {
    "NUL in n": f"{MESSAGE_STATUS}?n=%00",
    "n given twice": f"{MESSAGE_STATUS}?n={uuid.uuid4()}&n={uuid.uuid4()}",
    "NUL in call": f"{CALL_STATUS}?call={uuid.uuid4()}%00",
}


@pytest.mark.parametrize("path", list(ODD_QUERIES.values()), ids=list(ODD_QUERIES))
def test_odd_queries_are_400(client, standin, sent_sms, path):
    (_first, sid), _second = sent_sms
    (callback,) = standin.callbacks(sid, ["delivered"], url=f"{WEBHOOK_BASE_URL}{path}")
    if path.startswith(CALL_STATUS):
        callback = standin.sign(callback.url, {"CallSid": new_sid("CA"), "CallStatus": "completed"})
    before = database_state()
    assert_plain(callback.deliver(client), 400, MALFORMED_TEXT)
    assert database_state() == before


def test_an_over_long_error_message_is_cut_to_500_characters(client, standin, sent_sms):
    (first, sid), _second = sent_sms
    (callback,) = standin.callbacks(
        sid, ["undelivered"], error_code=30010, ErrorMessage="Message price exceeds max. " * 400
    )
    assert callback.deliver(client).status_code == 200
    receipt = first.receipts.get(status="failed")
    assert receipt.error_code == "30010"
    assert len(receipt.error_message) == 500
    assert receipt.error_message.startswith("Message price exceeds max. ")


@pytest.mark.parametrize(
    "limit",
    [{"DATA_UPLOAD_MAX_NUMBER_FIELDS": 3}, {"DATA_UPLOAD_MAX_MEMORY_SIZE": 100}],
    ids=["too many fields", "too big"],
)
def test_a_body_django_refuses_to_parse_is_400(client, standin, sent_sms, settings, limit):
    for name, value in limit.items():
        setattr(settings, name, value)
    (_first, sid), _second = sent_sms
    (callback,) = standin.callbacks(sid, ["delivered"])
    before = database_state()
    assert_plain(callback.deliver(client), 400, MALFORMED_TEXT)
    assert database_state() == before


def test_a_bad_signature_is_403_in_plain_text_without_an_echo(client, standin, sent_sms):
    (_first, sid), _second = sent_sms
    (callback,) = standin.callbacks(sid, ["undelivered"], error_code=30003)
    before = database_state()
    response = callback.forged().deliver(client)
    assert_plain(response, 403, b"Invalid Twilio signature.")
    assert sid.encode() not in response.content
    assert database_state() == before


@pytest.mark.django_db(transaction=True)  # the failed callback rolls back its transaction
@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG off", "DEBUG on"])
def test_an_unexpected_error_is_a_plain_500_without_an_echo(
    standin, sent_sms, settings, caplog, debug
):
    """A receiver that breaks: logged and reported, never a page quoting the payload."""
    settings.DEBUG = debug
    (_first, sid), _second = sent_sms
    (callback,) = standin.callbacks(
        sid, ["undelivered"], error_code=30010, ErrorMessage="secret-ish detail"
    )
    reported = []

    def broken_receiver(receipt, **kwargs):
        raise RuntimeError(f"cannot handle {receipt.gateway_message_id} {receipt.error_message}")

    def error_reporter(sender, request, **kwargs):
        reported.append(request.path)

    before = database_state()
    receipt_recorded.connect(broken_receiver)
    got_request_exception.connect(error_reporter)
    try:
        response = callback.deliver(Client(raise_request_exception=False))
    finally:
        receipt_recorded.disconnect(broken_receiver)
        got_request_exception.disconnect(error_reporter)
    assert_plain(response, 500, b"The webhook could not be processed.")
    assert database_state() == before
    assert reported == [MESSAGE_STATUS]
    assert "cannot handle" in caplog.text  # the details are in the log


# -- 4. LoginRequiredMiddleware -----------------------------------------------------------------


def test_callbacks_pass_login_required_middleware(client, standin, sent_sms, settings):
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        "django.contrib.auth.middleware.LoginRequiredMiddleware",
    ]
    (first, sid), _second = sent_sms
    (callback,) = standin.callbacks(sid, ["delivered"])
    assert callback.deliver(client).status_code == 200
    first.refresh_from_db()
    assert first.status == "delivered"
    assert first.receipts.filter(status="delivered", gateway_message_id=sid).exists()


def test_callbacks_need_no_csrf_token(standin, sent_sms):
    (first, sid), _second = sent_sms
    (callback,) = standin.callbacks(sid, ["delivered"])
    assert callback.deliver(Client(enforce_csrf_checks=True)).status_code == 200
    first.refresh_from_db()
    assert first.status == "delivered"


# -- 5. the answer URL after the call ------------------------------------------------------------


def answer(client, standin, call_log, call):
    url = f"{WEBHOOK_BASE_URL}{CALL_ANSWER}?call={call_log.pk}"
    params = {"CallSid": call.sid, "CallStatus": "in-progress", "AnsweredBy": "human"}
    return standin.sign(url, params).deliver(client)


def assert_hangs_up(response) -> None:
    assert response.status_code == 200
    twiml = response.content.decode()
    assert "<Hangup" in twiml
    assert "<Dial" not in twiml
    assert STAFF_PHONE not in twiml


def test_answer_replayed_after_the_call_completed_hangs_up(client, standin, placed, caplog):
    call_log, call = placed
    (completed,) = standin.callbacks(call.sid, ["completed"], duration=95, answered_by="human")
    assert completed.deliver(client).status_code == 200
    before = database_state()
    assert_hangs_up(answer(client, standin, call_log, call))
    assert database_state() == before
    assert "after the call was over" in caplog.text


@pytest.mark.parametrize(
    ("status", "outcome"), [("no-answer", "no_answer"), ("busy", "busy"), ("failed", "")]
)
def test_answer_replayed_after_an_unanswered_call_hangs_up(
    client, standin, placed, status, outcome
):
    call_log, call = placed
    (ended,) = standin.callbacks(call.sid, [status])
    assert ended.deliver(client).status_code == 200
    call_log.refresh_from_db()
    # "failed" records no outcome, only its duration (0): that is enough.
    assert (call_log.outcome, call_log.duration_seconds) == (outcome, 0)
    before = database_state()
    assert_hangs_up(answer(client, standin, call_log, call))
    assert database_state() == before


def test_answer_for_a_call_dialled_over_ten_minutes_ago_hangs_up(client, standin, placed):
    call_log, call = placed
    CallLog.objects.filter(pk=call_log.pk).update(
        called_at=timezone.now() - timedelta(minutes=10, seconds=5)
    )
    before = database_state()
    assert_hangs_up(answer(client, standin, call_log, call))
    assert database_state() == before


def test_answer_within_ten_minutes_still_connects(client, standin, placed):
    call_log, call = placed
    CallLog.objects.filter(pk=call_log.pk).update(called_at=timezone.now() - timedelta(minutes=9))
    response = answer(client, standin, call_log, call)
    assert response.status_code == 200
    assert STAFF_PHONE in response.content.decode()
