"""What the Twilio webhooks read from settings themselves: the auth tokens of every channel,
the ``call`` channel's credentials and number. They never build a channel backend."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from chargesol_notifications.models import CallLog, DeliveryReceipt, Notification

from ..factories import CallLogFactory, StaffUserFactory
from ..twilio_setup import SMS_FROM, WEBHOOK_BASE_URL, use_twilio

pytestmark = pytest.mark.django_db

MESSAGE_STATUS = "/notifications/twilio/message-status/"
CALL_STATUS = "/notifications/twilio/call-status/"
CALL_ANSWER = "/notifications/twilio/call-answer/"
FORM = "application/x-www-form-urlencoded"
ACCOUNT_SID = "AC" + "1" * 32
SMS_TOKEN = "a" * 32
CALL_TOKEN = "b" * 32
STAFF_PHONE = "+447700900999"


def database_state():
    return (
        sorted(DeliveryReceipt.objects.values_list("pk", "status", "gateway_message_id")),
        sorted(Notification.objects.values_list("pk", "status")),
        sorted(CallLog.objects.values_list("pk", "outcome", "duration_seconds", "notes")),
    )


def post_signed(client, path: str, params: dict[str, str], token: str | None):
    """POST ``params`` to ``path``, signed with ``token`` as Twilio would (None: unsigned)."""
    headers = {}
    if token is not None:
        signature = RequestValidator(token).compute_signature(f"{WEBHOOK_BASE_URL}{path}", params)
        headers["HTTP_X_TWILIO_SIGNATURE"] = signature
    return client.post(path, data=urlencode(params), content_type=FORM, secure=True, **headers)


def twilio_options(token: str, **extra: str) -> dict[str, str]:
    return {"ACCOUNT_SID": ACCOUNT_SID, "AUTH_TOKEN": token, "FROM": SMS_FROM, **extra}


def configure(settings, channels: dict[str, dict]) -> None:
    settings.CHARGESOL_NOTIFICATIONS = {
        "QUIET_HOURS": None,
        "CHANNELS": channels,
        "DEFAULT_REGION": "GB",
        "WEBHOOK_BASE_URL": WEBHOOK_BASE_URL,
    }


# -- every channel's AUTH_TOKEN, read from settings at each request ---------------------------

UNKNOWN_SID = {
    MESSAGE_STATUS: {"MessageSid": "SM" + "f" * 32, "MessageStatus": "delivered"},
    CALL_STATUS: {"CallSid": "CA" + "f" * 32, "CallStatus": "completed", "CallDuration": "3"},
    CALL_ANSWER: {"CallSid": "CA" + "f" * 32, "CallStatus": "in-progress", "AnsweredBy": "human"},
}


@pytest.fixture
def two_accounts(settings):
    """SMS on one Twilio account, calls on another: each signs with its own token."""
    configure(
        settings,
        {
            "sms": {
                "BACKEND": "chargesol_notifications.backends.twilio.SmsBackend",
                "OPTIONS": twilio_options(SMS_TOKEN),
            },
            "call": {
                "BACKEND": "chargesol_notifications.backends.twilio.CallBackend",
                "OPTIONS": twilio_options(CALL_TOKEN),
            },
        },
    )


@pytest.mark.parametrize("path", list(UNKNOWN_SID))
@pytest.mark.parametrize("token", [SMS_TOKEN, CALL_TOKEN], ids=["sms token", "call token"])
def test_a_request_signed_with_any_channels_token_is_accepted(client, two_accounts, path, token):
    before = database_state()
    response = post_signed(client, path, UNKNOWN_SID[path], token)
    assert response.status_code == 200
    assert database_state() == before


@pytest.mark.parametrize("path", list(UNKNOWN_SID))
def test_a_request_signed_with_an_unknown_token_is_403(client, two_accounts, path):
    before = database_state()
    response = post_signed(client, path, UNKNOWN_SID[path], "c" * 32)
    assert response.status_code == 403
    assert response.content == b"Invalid Twilio signature."
    assert database_state() == before


def test_the_tokens_are_read_at_each_request(client, settings, two_accounts):
    """No token is cached: once the setting changes, the old token no longer signs."""
    params = UNKNOWN_SID[MESSAGE_STATUS]
    assert post_signed(client, MESSAGE_STATUS, params, CALL_TOKEN).status_code == 200
    channels = settings.CHARGESOL_NOTIFICATIONS["CHANNELS"]
    configure(
        settings, {**channels, "call": {**channels["call"], "OPTIONS": twilio_options("d" * 32)}}
    )
    assert post_signed(client, MESSAGE_STATUS, params, CALL_TOKEN).status_code == 403
    assert post_signed(client, MESSAGE_STATUS, params, "d" * 32).status_code == 200


def test_a_whatsapp_only_token_counts_too(client, settings):
    configure(settings, {"whatsapp": {"BACKEND": "x.Y", "OPTIONS": {"AUTH_TOKEN": "e" * 32}}})
    response = post_signed(client, MESSAGE_STATUS, UNKNOWN_SID[MESSAGE_STATUS], "e" * 32)
    assert response.status_code == 200


@pytest.mark.parametrize("path", list(UNKNOWN_SID))
def test_the_webhooks_never_load_a_backend(client, settings, path):
    """The BACKEND paths do not import: a webhook that loaded one would answer 500."""
    configure(
        settings,
        {
            "sms": {"BACKEND": "nowhere.SmsBackend", "OPTIONS": {"AUTH_TOKEN": SMS_TOKEN}},
            "call": {
                "BACKEND": "nowhere.CallBackend",
                "OPTIONS": {"AUTH_TOKEN": CALL_TOKEN, "FROM": SMS_FROM},
            },
        },
    )
    assert post_signed(client, path, UNKNOWN_SID[path], SMS_TOKEN).status_code == 200


def test_the_answer_dials_from_the_call_channels_number(client, settings, two_accounts):
    settings.CHARGESOL_NOTIFICATIONS["CHANNELS"]["call"]["OPTIONS"]["FROM"] = "+15005550009"
    call_log = CallLogFactory(
        caller=StaffUserFactory(phone=STAFF_PHONE), outcome="", duration_seconds=None
    )
    params = {"CallSid": "CA" + "0" * 32, "CallStatus": "in-progress", "AnsweredBy": "human"}
    response = post_signed(client, f"{CALL_ANSWER}?call={call_log.pk}", params, CALL_TOKEN)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml"
    twiml = response.content.decode()
    assert f">{STAFF_PHONE}</Dial>" in twiml
    assert 'callerId="+15005550009"' in twiml
    assert 'answerOnBridge="true"' in twiml


# -- call-answer when the call channel is not Twilio ------------------------------------------

NOT_TWILIO = {
    "ConsoleBackend": {"BACKEND": "chargesol_notifications.backends.console.ConsoleBackend"},
    "LocmemBackend": {"BACKEND": "chargesol_notifications.backends.locmem.LocmemBackend"},
    "not listed": None,
    "Twilio without AUTH_TOKEN": {
        "BACKEND": "chargesol_notifications.backends.twilio.CallBackend",
        "OPTIONS": {"ACCOUNT_SID": ACCOUNT_SID, "FROM": SMS_FROM},
    },
}


@pytest.fixture(params=list(NOT_TWILIO.values()), ids=list(NOT_TWILIO))
def call_not_on_twilio(request, settings, twilio_standin):
    """SMS, WhatsApp on Twilio (the stand-in); the call channel anything but Twilio."""
    use_twilio(settings, twilio_standin)
    channels = dict(settings.CHARGESOL_NOTIFICATIONS["CHANNELS"])
    if request.param is None:
        del channels["call"]
    else:
        channels["call"] = request.param
    settings.CHARGESOL_NOTIFICATIONS = {**settings.CHARGESOL_NOTIFICATIONS, "CHANNELS": channels}
    return twilio_standin


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_call_answer_is_404_when_the_call_channel_is_not_twilio(
    client, call_not_on_twilio, caplog, signed
):
    """Decided before the signature: no click-to-call went through Twilio to be answered."""
    call_log = CallLogFactory(
        caller=StaffUserFactory(phone=STAFF_PHONE), outcome="", duration_seconds=None
    )
    path = f"{CALL_ANSWER}?call={call_log.pk}"
    params = {
        "CallSid": "CA" + uuid.uuid4().hex,
        "CallStatus": "in-progress",
        "AnsweredBy": "human",
    }
    # Signed with the SMS channel's token, which is good for the status webhooks.
    token = call_not_on_twilio.auth_token if signed else None
    before = database_state()
    response = post_signed(client, path, params, token)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/plain")
    assert response.content == b"This webhook is not enabled."
    assert database_state() == before
    assert "'call' channel has no AUTH_TOKEN" in caplog.text


def test_the_status_webhooks_still_serve_the_twilio_channels(client, settings, twilio_standin):
    use_twilio(settings, twilio_standin)
    channels = settings.CHARGESOL_NOTIFICATIONS["CHANNELS"]
    channels["call"] = NOT_TWILIO["ConsoleBackend"]
    params = UNKNOWN_SID[MESSAGE_STATUS]
    assert post_signed(client, MESSAGE_STATUS, params, twilio_standin.auth_token).status_code == 200


def test_a_malformed_channels_entry_reads_as_no_credentials(client, settings):
    configure(
        settings, {"sms": "not a dict", "call": {"BACKEND": "x.Y", "OPTIONS": ["AUTH_TOKEN"]}}
    )
    params = UNKNOWN_SID[MESSAGE_STATUS]
    assert post_signed(client, MESSAGE_STATUS, params, SMS_TOKEN).status_code == 403
    assert post_signed(client, CALL_ANSWER, UNKNOWN_SID[CALL_ANSWER], SMS_TOKEN).status_code == 404


def test_an_unsigned_request_with_no_twilio_channel_at_all_is_403(client, settings):
    """The test project's own settings: every channel locmem."""
    params = UNKNOWN_SID[MESSAGE_STATUS]
    assert post_signed(client, MESSAGE_STATUS, params, None).status_code == 403
    assert post_signed(client, MESSAGE_STATUS, params, SMS_TOKEN).status_code == 403
