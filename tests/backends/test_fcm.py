"""FcmBackend through the real ``firebase-admin`` and ``google-auth`` and the loopback
stand-in of FCM (chargesol_notifications.testing.fcm): the service account's key signs
the token request, the stand-in checks the signature, issues the access token and
checks every send against FCM's v1 schema."""

from __future__ import annotations

import json
import time
import uuid
from io import StringIO

import pytest
import requests
from django.core.management import call_command

from chargesol_notifications import notify
from chargesol_notifications.backends.base import OutgoingMessage
from chargesol_notifications.backends.fcm import FcmBackend
from chargesol_notifications.checks import check_channels
from chargesol_notifications.delivery import deliver
from chargesol_notifications.signals import notification_failed, push_token_invalid
from chargesol_notifications.testing.fcm import check_request

from ..factories import UserFactory

pytestmark = pytest.mark.django_db

FCM = "chargesol_notifications.backends.fcm.FcmBackend"
#: Device tokens by username, as a project's device table would hold them.
DEVICES: dict[str, list[str]] = {}
PHONE, TABLET, OLD_PHONE = (f"{name}:APA91b{'x' * 40}" for name in ("phone", "tablet", "old"))


def device_tokens(user):
    """The PUSH_TOKEN_RESOLVER of these tests."""
    return DEVICES.get(user.username)


@pytest.fixture(autouse=True)
def _devices():
    yield
    DEVICES.clear()


def use_fcm(settings, standin, **options):
    settings.CHARGESOL_NOTIFICATIONS = {
        "QUIET_HOURS": None,
        "CHANNELS": {"push": {"BACKEND": FCM, "OPTIONS": standin.backend_options(**options)}},
        "PUSH_TOKEN_RESOLVER": "tests.backends.test_fcm.device_tokens",
        "RETRY_BACKOFF_SECONDS": 0,
    }


@pytest.fixture
def fcm(settings, fcm_standin):
    use_fcm(settings, fcm_standin, DEFAULT_TITLE="ChargeSol")
    return fcm_standin


@pytest.fixture
def customer():
    user = UserFactory(username="aoife")
    DEVICES[user.username] = [PHONE, TABLET, OLD_PHONE]
    return user


@pytest.fixture
def invalid_tokens():
    """(token, notification id, error code) of each push_token_invalid, in order."""
    received = []

    def receiver(sender, token, notification, error_code, **kwargs):
        received.append((token, notification.pk, error_code))

    push_token_invalid.connect(receiver)
    yield received
    push_token_invalid.disconnect(receiver)


def receipts(n):
    return sorted(
        n.receipts.values_list("status", "gateway_message_id", "error_code"),
        key=lambda r: (r[0], r[1] or ""),
    )


def deliver_queued():
    call_command("deliver_queued", min_age=0, stdout=StringIO())


# -- several devices ---------------------------------------------------------------------


def test_three_devices_one_unregistered_sent_with_a_receipt_per_token(
    fcm, send, customer, invalid_tokens
):
    fcm.unregister(OLD_PHONE)
    n = send(customer, "push", body="Your installer is on the way.")

    assert n.status == "sent"
    assert n.sent_at is not None
    names = {push.token: push.name for push in fcm.pushes}
    assert set(names) == {PHONE, TABLET}
    assert receipts(n) == sorted(
        [
            ("failed", None, "UNREGISTERED"),
            ("sent", names[PHONE], None),
            ("sent", names[TABLET], None),
        ],
        key=lambda r: (r[0], r[1] or ""),
    )
    failed = n.receipts.get(status="failed")
    assert failed.error_message.startswith(f"Device token {OLD_PHONE[:12]}…: The app was")
    assert invalid_tokens == [(OLD_PHONE, n.pk, "UNREGISTERED")]
    assert n.address.startswith("push:phone:APA91")


def test_title_body_and_data_as_fcm_receives_them(fcm, send, customer):
    survey = uuid.uuid4()
    n = send(customer, "push", body="Survey booked", context_type="survey", context_id=survey)

    assert len(fcm.pushes) == 3
    for push in fcm.pushes:
        assert push.message["notification"] == {"title": "ChargeSol", "body": "Survey booked"}
        assert push.data == {
            "notification_id": str(n.pk),
            "context_type": "survey",
            "context_id": str(survey),
        }
        assert push.sent_by == fcm.account.client_email
        assert push.name.startswith(f"projects/{fcm.project_id}/messages/")
    # The App keeps its access token: the next notification asks for none.
    asked = fcm.token_requests
    send(customer, "push", body="Survey moved")
    assert len(fcm.pushes) == 6
    assert fcm.token_requests == asked


def test_a_push_without_context_or_title(settings, fcm_standin, send, customer):
    use_fcm(settings, fcm_standin)
    DEVICES[customer.username] = [PHONE]
    n = send(customer, "push", body="Hello")
    (push,) = fcm_standin.pushes
    assert push.message["notification"] == {"body": "Hello"}
    assert push.data == {"notification_id": str(n.pk), "context_type": "", "context_id": ""}
    assert receipts(n) == [("sent", push.name, None)]


def test_every_token_unregistered_fails_with_a_signal_for_each(fcm, send, customer, invalid_tokens):
    DEVICES[customer.username] = [PHONE, TABLET]
    fcm.unregister(PHONE, TABLET)
    failed = []

    def on_failed(sender, notification, receipt, error, **kwargs):
        failed.append((notification.pk, receipt.error_code, error.code))

    notification_failed.connect(on_failed)
    try:
        n = send(customer, "push", body="x")
    finally:
        notification_failed.disconnect(on_failed)

    assert n.status == "failed"
    assert receipts(n) == [("failed", None, "UNREGISTERED")] * 2
    assert sorted(invalid_tokens) == sorted(
        [(PHONE, n.pk, "UNREGISTERED"), (TABLET, n.pk, "UNREGISTERED")]
    )
    assert failed == [(n.pk, "UNREGISTERED", "UNREGISTERED")]
    assert fcm.pushes == []


def test_a_malformed_token_and_another_projects_token_are_reported(
    fcm, send, customer, invalid_tokens
):
    DEVICES[customer.username] = [PHONE, "not a token!", TABLET]
    fcm.foreign.add(TABLET)
    n = send(customer, "push", body="x")

    assert n.status == "sent"
    codes = sorted(code for _, _, code in receipts(n) if code)
    assert codes == ["INVALID_ARGUMENT", "SENDER_ID_MISMATCH"]
    assert sorted(invalid_tokens) == sorted(
        [("not a token!", n.pk, "INVALID_ARGUMENT"), (TABLET, n.pk, "SENDER_ID_MISMATCH")]
    )


def test_an_invalid_argument_about_the_message_is_not_the_tokens_fault(
    fcm, send, customer, invalid_tokens
):
    DEVICES[customer.username] = [PHONE]
    n = send(customer, "push", body="x" * 5000)  # over FCM's 4 KB
    assert n.status == "failed"
    assert receipts(n) == [("failed", None, "INVALID_ARGUMENT")]
    assert "Message is too big" in n.receipts.get().error_message
    assert invalid_tokens == []


def test_the_signal_waits_for_the_commit(
    fcm, customer, invalid_tokens, django_capture_on_commit_callbacks
):
    fcm.unregister(OLD_PHONE)
    with django_capture_on_commit_callbacks(execute=False):
        n = notify(customer, "push", body="x")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert deliver(n.pk).result == "sent"
        assert invalid_tokens == []  # recorded, not committed yet
    for callback in callbacks:
        callback()
    assert invalid_tokens == [(OLD_PHONE, n.pk, "UNREGISTERED")]


def test_a_failing_receiver_is_logged_and_the_others_still_run(fcm, send, customer, caplog):
    fcm.unregister(OLD_PHONE)
    seen = []

    def broken(sender, **kwargs):
        raise RuntimeError("device table is gone")

    def working(sender, token, **kwargs):
        seen.append(token)

    push_token_invalid.connect(broken)
    push_token_invalid.connect(working)
    try:
        n = send(customer, "push", body="x")
    finally:
        push_token_invalid.disconnect(broken)
        push_token_invalid.disconnect(working)
    assert n.status == "sent"
    assert seen == [OLD_PHONE]
    assert "push_token_invalid receiver" in caplog.text


# -- retries -------------------------------------------------------------------------------


def test_an_unavailable_fcm_is_retried(fcm, send, customer):
    DEVICES[customer.username] = [PHONE]
    # firebase-admin itself tries a 503 five times (four retries) before it gives up.
    fcm.fail("UNAVAILABLE", times=5)
    n = send(customer, "push", body="x")

    assert n.status == "queued"
    (attempt,) = n.receipts.all()
    assert (attempt.status, attempt.error_code) == ("failed", "UNAVAILABLE")
    assert "retrying" in attempt.error_message
    assert fcm.pushes == []

    deliver_queued()
    n.refresh_from_db()
    assert n.status == "sent"
    assert [r.token for r in fcm.refused] == [PHONE] * 5
    assert receipts(n) == [("failed", None, "UNAVAILABLE"), ("sent", fcm.pushes[0].name, None)]


def test_a_retry_keeps_one_receipt_per_attempt_whatever_the_tokens(fcm, send, customer):
    DEVICES[customer.username] = [PHONE, TABLET]
    fcm.unregister(TABLET)
    # FCM answers HTTP 401 for it: google-auth refreshes the access token and tries
    # twice more before firebase-admin reports it.
    fcm.fail("THIRD_PARTY_AUTH_ERROR", token=PHONE, times=3)
    n = send(customer, "push", body="x")
    assert n.status == "queued"
    (attempt,) = n.receipts.all()
    assert attempt.error_code == "THIRD_PARTY_AUTH_ERROR"
    assert "THIRD_PARTY_AUTH_ERROR (1), UNREGISTERED (1)" in attempt.error_message


def test_quota_exceeded_pauses_and_sends_again_without_using_an_attempt(fcm, send, customer):
    DEVICES[customer.username] = [PHONE]
    fcm.fail("QUOTA_EXCEEDED", retry_after=1)
    started = time.monotonic()
    n = send(customer, "push", body="x")
    assert n.status == "sent"
    assert time.monotonic() - started >= 1
    assert [r.error_code for r in fcm.refused] == ["QUOTA_EXCEEDED"]
    assert receipts(n) == [("sent", fcm.pushes[0].name, None)]


# -- configuration ---------------------------------------------------------------------------


def test_refused_credentials_are_retried_with_a_clear_error(settings, fcm_standin, send, customer):
    use_fcm(settings, fcm_standin)
    wrong_key = fcm_standin.service_account_info(fcm_standin.account.with_other_key())
    settings.CHARGESOL_NOTIFICATIONS["CHANNELS"]["push"]["OPTIONS"]["CREDENTIALS"] = wrong_key
    n = send(customer, "push", body="x")

    assert n.status == "queued"
    (attempt,) = n.receipts.all()
    assert attempt.error_code == "credentials_refused"
    assert "['push']['OPTIONS']['CREDENTIALS']" in attempt.error_message
    assert "Invalid JWT Signature" in attempt.error_message
    assert fcm_standin.pushes == []


def test_credentials_that_are_not_a_service_account_are_a_configuration_error(
    settings, fcm_standin, send, customer
):
    use_fcm(settings, fcm_standin)
    options = settings.CHARGESOL_NOTIFICATIONS["CHANNELS"]["push"]["OPTIONS"]
    options["CREDENTIALS"] = {"type": "authorized_user", "client_id": "x"}
    n = send(customer, "push", body="x")

    assert n.status == "queued"
    (attempt,) = n.receipts.all()
    assert attempt.error_code == "improperly_configured"
    assert "is not a service-account key" in attempt.error_message
    assert "chargesol_notifications.E035" in [m.id for m in check_channels()]


def check_ids(settings, **options):
    settings.CHARGESOL_NOTIFICATIONS = {
        "QUIET_HOURS": None,
        "CHANNELS": {"push": {"BACKEND": FCM, "OPTIONS": options}},
    }
    return {m.id: m.msg for m in check_channels() if ".E03" in m.id or ".W03" in m.id}


def test_checks_of_a_good_configuration(settings, fcm_standin):
    settings.DEBUG = True
    assert check_ids(settings, **fcm_standin.backend_options()) == {}


def test_checks_name_the_setting_to_fix(settings, fcm_standin, tmp_path):
    settings.DEBUG = False
    assert (
        "['push']['OPTIONS']['CREDENTIALS'] is missing"
        in check_ids(settings)["chargesol_notifications.E035"]
    )
    missing = tmp_path / "nowhere.json"
    assert (
        "cannot read"
        in check_ids(settings, CREDENTIALS=str(missing))["chargesol_notifications.E035"]
    )
    info = fcm_standin.service_account_info()
    info["private_key"] = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"
    assert "chargesol_notifications.E035" in check_ids(settings, CREDENTIALS=info)
    no_project = {**fcm_standin.service_account_info(), "project_id": ""}
    assert (
        "PROJECT_ID" in check_ids(settings, CREDENTIALS=no_project)["chargesol_notifications.E036"]
    )
    assert "chargesol_notifications.E036" not in check_ids(
        settings, CREDENTIALS=no_project, PROJECT_ID="p"
    )
    assert "chargesol_notifications.E037" in check_ids(
        settings, CREDENTIALS=fcm_standin.service_account_info(), TIMEOUT="soon"
    )
    warned = check_ids(settings, **fcm_standin.backend_options())
    assert list(warned) == ["chargesol_notifications.W038"]


def test_credentials_from_a_file(settings, fcm_standin, send, customer, tmp_path):
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps(fcm_standin.service_account_info()))
    use_fcm(settings, fcm_standin, CREDENTIALS=str(path))
    DEVICES[customer.username] = [PHONE]
    assert send(customer, "push", body="x").status == "sent"


def test_two_configurations_never_share_an_app(fcm_standin):
    options = fcm_standin.backend_options()
    first = FcmBackend(channel="push", options=options).app
    assert FcmBackend(channel="push", options=options).app is first
    other = FcmBackend(channel="push", options={**options, "TIMEOUT": 5}).app
    assert other is not first
    assert first.name.startswith("chargesol_notifications:push:")


def test_send_message_on_its_own(fcm_standin):
    backend = FcmBackend(channel="push", options=fcm_standin.backend_options())
    message = OutgoingMessage(uuid.uuid4(), "push", (PHONE,), body="Hi")
    assert backend.send_message(message) == fcm_standin.pushes[0].name


# -- the stand-in ------------------------------------------------------------------------------


def test_the_standin_refuses_a_request_without_an_access_token(fcm_standin):
    url = f"{fcm_standin.url}/v1/projects/{fcm_standin.project_id}/messages:send"
    answer = requests.post(url, json={"message": {"token": PHONE}}, timeout=5)
    assert answer.status_code == 401
    assert answer.json()["error"]["status"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"token": PHONE, "data": {"count": 1}}, "message.data[0].value"),
        ({"token": PHONE, "data": {"from": "x"}}, "message.data"),
        ({"token": PHONE, "topic": "news"}, "message"),
        ({"token": PHONE, "notification": {"subtitle": "x"}}, "message.notification.subtitle"),
        ({"token": PHONE, "priority": "high"}, "message.priority"),
    ],
)
def test_the_standin_checks_fcms_schema(message, field):
    assert field in [problem.field for problem in check_request({"message": message})]
