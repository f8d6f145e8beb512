"""log_call(), place_call() and what the call webhooks make of a call."""

from __future__ import annotations

import uuid

import pytest

import chargesol_notifications
from chargesol_notifications import log_call, notify, place_call
from chargesol_notifications.backends.base import OutgoingCall
from chargesol_notifications.exceptions import InvalidCallError, NotificationError
from chargesol_notifications.models import CallLog

from .factories import StaffUserFactory, UserFactory
from .twilio_setup import SMS_FROM, use_twilio

pytestmark = pytest.mark.django_db

CUSTOMER = "+447700900123"
STAFF_PHONE = "+447700900999"
CALL_STATUS = "/notifications/twilio/call-status/"
CALL_ANSWER = "/notifications/twilio/call-answer/"


@pytest.fixture
def staff():
    return StaffUserFactory(phone=STAFF_PHONE)


@pytest.fixture
def placed(standin, staff, django_capture_on_commit_callbacks):
    """A click-to-call placed through the stand-in: (CallLog, the stand-in's call)."""
    with django_capture_on_commit_callbacks(execute=True):
        call_log = place_call(
            caller=staff,
            callee_phone=CUSTOMER,
            call_type="introductory",
            context_type="lead",
            context_id=uuid.uuid4(),
        )
    (call,) = standin.calls
    return call_log, call


# -- log_call -------------------------------------------------------------------------------


def test_log_call_records_a_call_made_by_hand(staff):
    survey_id = uuid.uuid4()
    call_log = log_call(
        caller=staff,
        callee_phone=CUSTOMER,
        call_type="survey_confirmation",
        context_type="survey",
        context_id=survey_id,
        outcome="connected",
        duration_seconds=95,
        notes="Confirmed Tuesday 10am",
    )
    call_log.refresh_from_db()
    assert (call_log.callee_phone, call_log.outcome, call_log.duration_seconds) == (
        CUSTOMER,
        "connected",
        95,
    )
    assert (call_log.context_type, call_log.context_id) == ("survey", survey_id)


BAD_CALLS = {
    "national format": dict(callee_phone="07700 900123"),
    "too short": dict(callee_phone="+4412"),
    "letters": dict(callee_phone="+44 call me"),
    "unknown call_type": dict(call_type="sales_pitch"),
    "unknown outcome": dict(outcome="hung_up"),
    "negative duration": dict(duration_seconds=-5),
    "empty context_type": dict(context_type=""),
    "context_id not a uuid": dict(context_id="lead-7"),
}


@pytest.mark.parametrize("changes", list(BAD_CALLS.values()), ids=list(BAD_CALLS))
def test_log_call_rejects_bad_input_and_writes_nothing(staff, changes):
    arguments = (
        dict(
            caller=staff,
            callee_phone=CUSTOMER,
            call_type="survey_confirmation",
            context_type="survey",
            context_id=uuid.uuid4(),
        )
        | changes
    )
    with pytest.raises(InvalidCallError) as excinfo:
        log_call(**arguments)
    assert isinstance(excinfo.value, NotificationError)
    assert CallLog.objects.count() == 0


# -- place_call -----------------------------------------------------------------------------


def test_place_call_dials_the_customer_with_machine_detection(placed):
    call_log, call = placed
    assert call.to == CUSTOMER
    assert call.from_ == SMS_FROM
    assert call.machine_detection == "Enable"
    assert call.url == f"https://chargesol.example.com{CALL_ANSWER}?call={call_log.pk}"
    assert call.status_callback == f"https://chargesol.example.com{CALL_STATUS}?call={call_log.pk}"
    call_log.refresh_from_db()
    assert (call_log.outcome, call_log.duration_seconds) == ("", None)


def test_answered_by_a_person_connects_the_staff_phone(client, standin, placed):
    call_log, call = placed
    url = f"https://chargesol.example.com{CALL_ANSWER}?call={call_log.pk}"
    params = {"CallSid": call.sid, "CallStatus": "in-progress", "AnsweredBy": "human"}
    response = standin.sign(url, params).deliver(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    twiml = response.content.decode()
    assert "<Dial" in twiml
    assert STAFF_PHONE in twiml
    assert f'callerId="{SMS_FROM}"' in twiml


def test_answered_by_a_machine_hangs_up(client, standin, placed):
    call_log, call = placed
    url = f"https://chargesol.example.com{CALL_ANSWER}?call={call_log.pk}"
    params = {"CallSid": call.sid, "CallStatus": "in-progress", "AnsweredBy": "machine_start"}
    response = standin.sign(url, params).deliver(client)
    assert "<Hangup" in response.content.decode()
    assert "<Dial" not in response.content.decode()


OUTCOMES = {
    "completed by a person": (
        dict(statuses=["completed"], duration=95, answered_by="human"),
        "connected",
        95,
    ),
    "no answer": (dict(statuses=["no-answer"]), "no_answer", 0),
    "busy": (dict(statuses=["busy"]), "busy", 0),
    "voicemail": (
        dict(statuses=["completed"], duration=31, answered_by="machine_end_beep"),
        "voicemail",
        31,
    ),
}


@pytest.mark.parametrize(
    ("callbacks", "outcome", "duration"), list(OUTCOMES.values()), ids=list(OUTCOMES)
)
def test_call_status_fills_the_outcome(client, standin, placed, callbacks, outcome, duration):
    call_log, call = placed
    responses = [cb.deliver(client) for cb in standin.callbacks(call.sid, **callbacks)]
    assert {r.status_code for r in responses} == {200}
    call_log.refresh_from_db()
    assert call_log.outcome == outcome
    assert call_log.duration_seconds == duration


def test_progress_and_duplicate_call_callbacks_change_nothing_twice(client, standin, placed):
    call_log, call = placed
    callbacks = standin.callbacks(
        call.sid,
        ["initiated", "ringing", "in-progress", "completed"],
        duration=61,
        answered_by="human",
    )
    for callback in callbacks + callbacks[::-1]:
        assert callback.deliver(client).status_code == 200
    call_log.refresh_from_db()
    assert (call_log.outcome, call_log.duration_seconds) == ("connected", 61)


def test_a_refused_call_is_noted_on_its_log(standin, staff, django_capture_on_commit_callbacks):
    standin.fail_next(code=21211)
    with django_capture_on_commit_callbacks(execute=True):
        call_log = place_call(
            caller=staff,
            callee_phone=CUSTOMER,
            call_type="emergency",
            context_type="installation",
            context_id=uuid.uuid4(),
        )
    call_log.refresh_from_db()
    assert "could not be placed" in call_log.notes
    assert "21211" in call_log.notes
    assert call_log.outcome == ""


def test_place_call_needs_the_callers_phone(standin, django_capture_on_commit_callbacks):
    with pytest.raises(InvalidCallError, match="caller has no phone"):
        place_call(
            caller=StaffUserFactory(phone=""),
            callee_phone=CUSTOMER,
            call_type="introductory",
            context_type="lead",
            context_id=uuid.uuid4(),
        )
    assert CallLog.objects.count() == 0
    assert standin.calls == []


def test_place_call_through_the_locmem_backend(staff, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        call_log = place_call(
            caller=staff,
            callee_phone=CUSTOMER,
            call_type="reschedule",
            context_type="installation",
            context_id=uuid.uuid4(),
        )
    assert chargesol_notifications.outbox == [
        OutgoingCall(call_log_id=call_log.pk, to=CUSTOMER, connect_to=STAFF_PHONE)
    ]


# -- spoken notifications follow their call --------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "status", "receipt"),
    [
        (["initiated", "ringing", "in-progress", "completed"], "delivered", ("delivered", None)),
        (["initiated", "ringing", "no-answer"], "failed", ("failed", "no-answer")),
        (["initiated", "busy"], "failed", ("failed", "busy")),
        (["failed"], "failed", ("failed", "failed")),
    ],
)
def test_call_notification_receipts_follow_the_call(
    client, standin, django_capture_on_commit_callbacks, statuses, status, receipt
):
    with django_capture_on_commit_callbacks(execute=True):
        n = notify(UserFactory(phone=CUSTOMER), "call", body="Your installation is tomorrow")
    (call,) = standin.calls
    for callback in standin.callbacks(call.sid, statuses, duration=20):
        assert callback.deliver(client).status_code == 200
    n.refresh_from_db()
    assert n.status == status
    last = n.receipts.order_by("-received_at").first()
    assert (last.status, last.error_code) == receipt
    assert last.gateway_message_id == call.sid


def test_caller_phone_gone_by_the_answer_hangs_up_and_notes_it(client, standin, placed):
    call_log, call = placed
    call_log.caller.phone = ""
    call_log.caller.save()
    url = f"https://chargesol.example.com{CALL_ANSWER}?call={call_log.pk}"
    params = {"CallSid": call.sid, "CallStatus": "in-progress", "AnsweredBy": "human"}
    response = standin.sign(url, params).deliver(client)
    assert response.status_code == 200
    assert "<Hangup" in response.content.decode()
    call_log.refresh_from_db()
    assert "could not be connected" in call_log.notes


def test_machine_detection_can_be_turned_off(
    settings, twilio_standin, django_capture_on_commit_callbacks
):
    use_twilio(settings, twilio_standin)
    channels = settings.CHARGESOL_NOTIFICATIONS["CHANNELS"]
    channels["call"]["OPTIONS"]["MACHINE_DETECTION"] = None
    settings.CHARGESOL_NOTIFICATIONS = {**settings.CHARGESOL_NOTIFICATIONS, "CHANNELS": channels}
    with django_capture_on_commit_callbacks(execute=True):
        notify(UserFactory(phone=CUSTOMER), "call", body="Hello")
    (call,) = twilio_standin.calls
    assert "MachineDetection" not in call.params


def test_duration_must_be_a_number_not_a_flag(staff):
    with pytest.raises(InvalidCallError):
        log_call(
            caller=staff,
            callee_phone=CUSTOMER,
            call_type="post_install",
            context_type="installation",
            context_id=uuid.uuid4(),
            duration_seconds=True,
        )
    assert CallLog.objects.count() == 0
