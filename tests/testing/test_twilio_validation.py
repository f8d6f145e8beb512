"""Requests Twilio's API would reject are answered like Twilio and recorded as violations."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException

from chargesol_notifications.testing.twilio import TwilioStandin, validate_create
from chargesol_notifications.testing.twilio.validation import CALLS, MESSAGES

from .conftest import CALLS as CALLS_PATH
from .conftest import MESSAGES as MESSAGES_PATH

SMS = {"To": "+447700900123", "From": "+15005550006", "Body": "Hello"}
CALL = {
    "To": "+447700900123",
    "From": "+15005550006",
    "Twiml": "<Response><Say>Hi</Say></Response>",
}


def _form(**params):
    return {name: value if isinstance(value, list) else [value] for name, value in params.items()}


@pytest.mark.parametrize(
    "params",
    [
        SMS,
        {**SMS, "To": "whatsapp:+447700900123", "From": "whatsapp:+15005550006"},
        {"To": "+447700900123", "MessagingServiceSid": "MG" + "a" * 32, "Body": "x"},
        {"To": "+447700900123", "From": "ChargeSol", "Body": "alphanumeric sender"},
        {"To": "+447700900123", "From": "72345", "Body": "short code"},
        {
            **SMS,
            "Body": "",
            "MediaUrl": ["https://a.example.com/1.png", "https://a.example.com/2.png"],
        },
        {
            "To": "whatsapp:+447700900123",
            "From": "whatsapp:+15005550006",
            "ContentSid": "HX" + "b" * 32,
            "ContentVariables": '{"1": "Tuesday"}',
        },
        {**SMS, "StatusCallback": "https://chargesol.example.com/n/twilio/message-status/?n=1"},
        {**SMS, "ValidityPeriod": "600", "SmartEncoded": "true", "ProvideFeedback": "false"},
    ],
)
def test_valid_messages_pass(params):
    assert validate_create(MESSAGES, _form(**params)) == []


@pytest.mark.parametrize(
    "params",
    [
        CALL,
        {**CALL, "Twiml": "", "Url": "https://chargesol.example.com/twiml"},
        {"To": "+447700900123", "From": "+15005550006", "ApplicationSid": "AP" + "c" * 32},
        {
            **CALL,
            "StatusCallback": "https://chargesol.example.com/notifications/twilio/call-status/",
            "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
            "StatusCallbackMethod": "GET",
            "MachineDetection": "DetectMessageEnd",
            "Timeout": "30",
            "Record": "true",
        },
        {**CALL, "StatusCallbackEvent": "initiated ringing"},
        {**CALL, "To": "client:staff-7"},
        {**CALL, "To": "sip:desk@chargesol.example.com"},
    ],
)
def test_valid_calls_pass(params):
    assert validate_create(CALLS, _form(**params)) == []


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ({"From": "+15005550006", "Body": "x"}, 21604, "To"),
        ({**SMS, "To": ""}, 21604, "To"),
        ({"To": "+447700900123", "Body": "x"}, 21603, "From"),
        ({"To": "+447700900123", "From": "+15005550006"}, 21602, "Body"),
        ({**SMS, "To": "07700900123"}, 21211, "To"),
        ({**SMS, "To": "+44 7700 900123"}, 21211, "To"),
        ({**SMS, "To": "ChargeSol"}, 21211, "To"),
        ({**SMS, "From": "not a valid sender!"}, 21212, "From"),
        ({**SMS, "To": "whatsapp:+447700900123"}, 21910, "From"),
        ({**SMS, "StatusCallback": "/relative/path"}, 21609, "StatusCallback"),
        ({**SMS, "StatusCallback": "https://bad_host.example.com/x"}, 21609, "StatusCallback"),
        ({**SMS, "StatusCallback": ""}, 21609, "StatusCallback"),
        ({**SMS, "Body": "x" * 1601}, 21617, "Body"),
        (
            {**SMS, "ContentSid": "HX" + "b" * 32, "ContentVariables": "{not json"},
            21656,
            "ContentVariables",
        ),
        ({**SMS, "ContentVariables": '{"1": "x"}'}, 21656, "ContentVariables"),
        ({**SMS, "MessagingServiceSid": "MG123"}, 20001, "MessagingServiceSid"),
        ({**SMS, "ContentRetention": "forever"}, 20001, "ContentRetention"),
        ({**SMS, "ValidityPeriod": "soon"}, 20001, "ValidityPeriod"),
        ({**SMS, "ValidityPeriod": "36001"}, 20001, "ValidityPeriod"),
        ({**SMS, "SmartEncoded": "yes"}, 20001, "SmartEncoded"),
        ({**SMS, "Body": ["one", "two"]}, 20001, "Body"),
        ({**SMS, "StatusCallbackMethod": "POST"}, 20001, "StatusCallbackMethod"),
        ({**SMS, "status_callback": "https://chargesol.example.com/"}, 20001, "status_callback"),
    ],
)
def test_invalid_messages_are_refused_with_twilios_code(params, code, param):
    problems = validate_create(MESSAGES, _form(**params))
    assert problems, "the request should have been refused"
    assert (problems[0].code, problems[0].param) == (code, param)


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ({"From": "+15005550006", "Twiml": "<Response/>"}, 21201, "To"),
        ({"To": "+447700900123", "Twiml": "<Response/>"}, 21213, "From"),
        ({"To": "+447700900123", "From": "+15005550006"}, 20001, "Url"),
        ({**CALL, "To": "447700900123"}, 21211, "To"),
        ({**CALL, "Twiml": "", "Url": "not a url"}, 21205, "Url"),
        ({**CALL, "StatusCallbackMethod": "PUT"}, 20001, "StatusCallbackMethod"),
        ({**CALL, "MachineDetection": "enable"}, 20001, "MachineDetection"),
        ({**CALL, "StatusCallbackEvent": ["initiated", "no-answer"]}, 21626, "StatusCallbackEvent"),
        ({**CALL, "Twiml": "<Response><Say>Hi</Response>"}, 12100, "Twiml"),
        ({**CALL, "Twiml": "<Say>Hi</Say>"}, 12100, "Twiml"),
        ({**CALL, "Twiml": "<Response>" + "x" * 4000 + "</Response>"}, 20001, "Twiml"),
        ({**CALL, "Timeout": "601"}, 20001, "Timeout"),
        ({**CALL, "Record": "True"}, 20001, "Record"),
        ({**CALL, "SendDigits": "1234x"}, 20001, "SendDigits"),
        ({**CALL, "From": "client:desk"}, 21212, "From"),
        ({**CALL, "Body": "calls have no body"}, 20001, "Body"),
    ],
)
def test_invalid_calls_are_refused_with_twilios_code(params, code, param):
    problems = validate_create(CALLS, _form(**params))
    assert problems, "the request should have been refused"
    assert (problems[0].code, problems[0].param) == (code, param)


def test_bad_status_callback_method_through_the_real_client(twilio_client, twilio_standin):
    with pytest.raises(TwilioRestException) as caught:
        twilio_client.calls.create(
            to="+447700900123",
            from_="+15005550006",
            twiml="<Response/>",
            status_callback="https://chargesol.example.com/notifications/twilio/call-status/",
            status_callback_method="PATCH",
        )
    assert caught.value.status == 400
    assert "StatusCallbackMethod" in caught.value.msg
    [violation] = twilio_standin.take_violations()
    assert violation.problems[0].param == "StatusCallbackMethod"
    assert twilio_standin.calls == []


def test_non_e164_recipient_through_the_real_client(twilio_client, twilio_standin):
    with pytest.raises(TwilioRestException) as caught:
        twilio_client.messages.create(to="07700 900123", from_="+15005550006", body="Hi")
    assert (caught.value.status, caught.value.code) == (400, 21211)
    assert "The 'To' number 07700 900123 is not a valid phone number." in caught.value.msg
    assert len(twilio_standin.take_violations()) == 1


def test_missing_to_over_raw_http(raw, twilio_standin):
    response = raw.post(MESSAGES_PATH, {"From": "+15005550006", "Body": "Hi"})

    assert response.status_code == 400
    assert response.json() == {
        "code": 21604,
        "message": "A 'To' phone number is required.",
        "more_info": "https://www.twilio.com/docs/errors/21604",
        "status": 400,
    }
    [violation] = twilio_standin.take_violations()
    assert "To" in str(violation)


def test_unknown_parameter_over_raw_http(raw, twilio_standin):
    response = raw.post(CALLS_PATH, {**CALL, "StatusCallbackEvents": "completed"})

    assert response.status_code == 400
    assert "Unknown parameter 'StatusCallbackEvents'" in response.json()["message"]
    [violation] = twilio_standin.take_violations()
    assert violation.request.params["StatusCallbackEvents"] == ["completed"]


def test_json_body_is_refused(raw, twilio_standin):
    response = raw.post(MESSAGES_PATH, json=SMS)
    assert response.status_code == 400
    assert "application/x-www-form-urlencoded" in response.json()["message"]
    assert len(twilio_standin.take_violations()) == 1


def test_parameters_in_the_query_are_refused(raw, twilio_standin):
    response = raw.post(MESSAGES_PATH + "?Body=Hi", {"To": SMS["To"], "From": SMS["From"]})
    assert response.status_code == 400
    assert len(twilio_standin.take_violations()) == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/2010-04-01/Accounts/{account}/Calls.json"),  # only the Messages list
        ("get", "/2010-04-01/Accounts/{account}/Recordings.json"),
        ("post", "/2010-04-01/Accounts/{account}/Messages/SM" + "0" * 32 + ".json"),
        ("get", "/2010-04-01/Accounts/{account}/Messages/CA" + "0" * 32 + ".json"),
    ],
)
def test_operations_outside_the_slice_are_violations(raw, twilio_standin, method, path):
    response = getattr(raw, method)(path)
    assert response.status_code in (400, 404)
    assert len(twilio_standin.take_violations()) == 1


def test_assert_no_violations_names_each_problem():
    with TwilioStandin() as standin:
        client = standin.client()
        with pytest.raises(TwilioRestException):
            client.messages.create(to="+447700900123", from_="+15005550006")
        with pytest.raises(AssertionError) as caught:
            standin.assert_no_violations()
    assert "1 request(s)" in str(caught.value)
    assert "Message body is required. (Twilio error 21602)" in str(caught.value)


def test_take_violations_clears_them(twilio_client, twilio_standin):
    with pytest.raises(TwilioRestException):
        twilio_client.messages.create(to="+447700900123", from_="+15005550006")
    assert len(twilio_standin.take_violations()) == 1
    assert twilio_standin.violations == []
    twilio_standin.assert_no_violations()
