"""The stand-in's Messages list and its lost answers, through the real twilio client."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import requests
from twilio.base.exceptions import TwilioException

from chargesol_notifications.testing.twilio import spec
from chargesol_notifications.testing.twilio.resources import check_representation

from .conftest import MESSAGES

TO = "+447700900123"
OTHER = "+447700900456"
FROM = "+15005550006"


def create(client, body, to=TO, from_=FROM):
    return client.messages.create(to=to, from_=from_, body=body)


def test_list_filters_by_recipient_and_sender_newest_first(twilio_client, twilio_standin):
    for number in range(3):
        create(twilio_client, f"to Niamh {number}")
    create(twilio_client, "to someone else", to=OTHER)
    create(twilio_client, "on WhatsApp", to=f"whatsapp:{TO}", from_="whatsapp:+14155238886")

    listed = twilio_client.messages.list(to=TO, from_=FROM)

    assert [m.body for m in listed] == ["to Niamh 2", "to Niamh 1", "to Niamh 0"]
    assert [m.body for m in twilio_client.messages.list(to=f"whatsapp:{TO}")] == ["on WhatsApp"]
    assert len(twilio_client.messages.list()) == 5
    assert twilio_client.messages.list(to=TO, from_="+15005550007") == []


def test_list_pages_follow_next_page_uri(twilio_client, twilio_standin):
    for number in range(5):
        create(twilio_client, str(number))

    listed = twilio_client.messages.list(to=TO, page_size=2)

    assert [m.body for m in listed] == ["4", "3", "2", "1", "0"]
    queries = [r.params for r in twilio_standin.requests if r.method == "GET"]
    assert [q.get("Page") for q in queries] == [None, ["1"], ["2"]]
    assert all(q["PageSize"] == ["2"] and q["To"] == [TO] for q in queries)
    assert twilio_client.messages.list(to=TO, limit=3, page_size=2)[-1].body == "2"


def test_list_answers_have_the_shape_of_the_description(twilio_client, twilio_standin, raw):
    for number in range(3):
        create(twilio_client, str(number))

    answer = raw.get(MESSAGES + "?PageSize=2&Page=1").json()

    schema = spec.list_response_schema(spec.MESSAGES_PATH)
    assert schema["title"] == "ListMessageResponse"
    assert set(answer) == set(schema["properties"])
    assert (answer["page"], answer["page_size"], answer["start"], answer["end"]) == (1, 2, 2, 2)
    assert answer["next_page_uri"] is None
    assert answer["previous_page_uri"].endswith("PageSize=2&Page=0")
    (message,) = answer["messages"]
    assert message["body"] == "0"
    assert check_representation("api.v2010.account.message", message) == []


def test_date_sent_filters_skip_messages_not_yet_sent(twilio_client, twilio_standin):
    sent = create(twilio_client, "sent")
    create(twilio_client, "still queued")
    twilio_standin.callbacks(sent.sid, ["sent"], url="https://chargesol.example.com/cb")
    today = datetime.now(UTC).date()

    def bodies(**filters):
        return [m.body for m in twilio_client.messages.list(to=TO, **filters)]

    assert bodies() == ["still queued", "sent"]
    assert bodies(date_sent=today) == ["sent"]
    assert bodies(date_sent_after=datetime.now(UTC) - timedelta(minutes=5)) == ["sent"]
    assert bodies(date_sent_before=today - timedelta(days=1)) == []
    assert bodies(date_sent_after=today + timedelta(days=1)) == []
    assert bodies(date_sent=date(2008, 1, 2)) == []


@pytest.mark.parametrize(
    "query",
    ["?PageSize=0", "?PageSize=1001", "?Page=-1", "?To=0123", "?Status=sent", "?DateSent=soon"],
)
def test_list_queries_the_api_would_refuse_are_violations(raw, twilio_standin, query):
    response = raw.get(MESSAGES + query)
    assert response.status_code == 400
    (violation,) = twilio_standin.take_violations()
    assert violation.request.method == "GET"


def test_lose_next_response_creates_then_drops_the_connection(twilio_client, twilio_standin):
    twilio_standin.lose_next_response()
    with pytest.raises(requests.ConnectionError):
        create(twilio_client, "lost")
    (message,) = twilio_standin.messages
    assert message.body == "lost"
    assert [m.sid for m in twilio_client.messages.list(to=TO)] == [message.sid]


def test_lose_next_response_late_is_a_client_timeout(twilio_standin):
    client = twilio_standin.client(timeout=0.2)
    twilio_standin.lose_next_response(delay=1.0)
    with pytest.raises(requests.Timeout):
        create(client, "lost late")
    assert len(twilio_standin.messages) == 1


def test_disconnect_next_creates_nothing(twilio_client, twilio_standin):
    twilio_standin.disconnect_next()
    with pytest.raises(requests.ConnectionError):
        create(twilio_client, "never arrived")
    assert twilio_standin.messages == []


def test_list_faults_leave_creates_alone(twilio_client, twilio_standin):
    twilio_standin.fail_next(status=503, operation="list")
    create(twilio_client, "created")
    with pytest.raises(TwilioException, match="503"):
        twilio_client.messages.list(to=TO)
    assert len(twilio_client.messages.list(to=TO)) == 1
    twilio_standin.disconnect_next(operation="list", to=OTHER)
    assert len(twilio_client.messages.list(to=TO)) == 1
    with pytest.raises(requests.ConnectionError):
        twilio_client.messages.list(to=OTHER)


def test_unknown_operation_is_refused(twilio_standin):
    with pytest.raises(ValueError, match="'create' or 'list'"):
        twilio_standin.fail_next(status=503, operation="fetch")
