"""The Twilio backends through the real ``twilio`` client and the loopback stand-in.

Every request is checked by the stand-in against Twilio's OpenAPI description; the
``twilio_standin`` fixture fails the test at teardown if any request broke it.
"""

from __future__ import annotations

import json
import time
from io import StringIO

import pytest
from django.core.management import call_command

from chargesol_notifications import notify, throttle
from chargesol_notifications.backends import get_backend
from chargesol_notifications.checks import check_channels

from ..factories import NotificationTemplateFactory, UserFactory
from ..twilio_setup import SMS_FROM, WHATSAPP_FROM, use_twilio

pytestmark = pytest.mark.django_db

PHONE = "+447700900123"


@pytest.fixture
def customer():
    return UserFactory(first_name="Niamh", phone="07700 900123")


def deliver_queued():
    call_command("deliver_queued", min_age=0, stdout=StringIO())


def callback_url(view, **query):
    ((key, value),) = query.items()
    return f"https://chargesol.example.com/notifications/twilio/{view}/?{key}={value}"


# -- SMS ----------------------------------------------------------------------------------


def test_sms_is_sent_with_a_status_callback_naming_the_notification(standin, send, customer):
    n = send(customer, "sms", body="Your survey is confirmed.")
    (message,) = standin.messages
    assert message.params["To"] == [PHONE]
    assert message.params["From"] == [SMS_FROM]
    assert message.params["Body"] == ["Your survey is confirmed."]
    assert message.status_callback == callback_url("message-status", n=n.pk)
    receipt = n.receipts.get()
    assert (n.status, receipt.status, receipt.gateway_message_id) == ("sent", "sent", message.sid)
    assert receipt.gateway_message_id.startswith("SM")


def test_sms_through_a_messaging_service(settings, twilio_standin, send, customer):
    service = "MG" + "1" * 32
    use_twilio(settings, twilio_standin, sms_options={"FROM": "", "MESSAGING_SERVICE_SID": service})
    send(customer, "sms", body="Hello")
    (message,) = twilio_standin.messages
    assert message.params["MessagingServiceSid"] == [service]
    assert "From" not in message.params


def test_sms_body_over_1600_characters_fails_before_sending(standin, send, customer):
    n = send(customer, "sms", body="x" * 1601)
    receipt = n.receipts.get()
    assert (n.status, receipt.error_code) == ("failed", "body_too_long")
    assert "1601" in receipt.error_message
    assert standin.messages == []


def test_sms_of_exactly_1600_characters_is_sent(standin, send, customer):
    assert send(customer, "sms", body="x" * 1600).status == "sent"


# -- WhatsApp -----------------------------------------------------------------------------


def test_whatsapp_addresses_carry_the_prefix(standin, send, customer):
    send(customer, "whatsapp", body="Your installer is on the way")
    (message,) = standin.messages
    assert message.params["To"] == [f"whatsapp:{PHONE}"]
    assert message.params["From"] == [WHATSAPP_FROM]
    assert message.is_whatsapp


CONTENT_SID = "HX" + "a" * 32


@pytest.fixture
def content_template(settings):
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "WHATSAPP_CONTENT_TEMPLATES": {"survey_reminder_whatsapp": CONTENT_SID},
    }
    return NotificationTemplateFactory(
        name="survey_reminder_whatsapp",
        channel="whatsapp",
        body_template="Hi {{ recipient.first_name }}, your survey is on {{ day }}.",
    )


def test_whatsapp_content_template_sends_content_sid_and_variables(
    standin, content_template, send, customer
):
    n = send(customer, "whatsapp", template="survey_reminder_whatsapp", context={"day": "Friday"})
    (message,) = standin.messages
    assert message.params["ContentSid"] == [CONTENT_SID]
    assert json.loads(message.params["ContentVariables"][0]) == {"1": "Niamh", "2": "Friday"}
    assert "Body" not in message.params
    assert n.body == "Hi Niamh, your survey is on Friday."
    assert n.status == "sent"


def test_content_variables_survive_a_retry_by_deliver_queued(
    standin, content_template, send, customer
):
    standin.fail_next(status=503)
    n = send(
        customer, "whatsapp", template="survey_reminder_whatsapp", context={"day": "Sunday, 10am"}
    )
    assert n.status == "queued"
    deliver_queued()  # no task, no context: the variables are read back from the body
    n.refresh_from_db()
    assert n.status == "sent"
    (message,) = standin.messages
    assert json.loads(message.params["ContentVariables"][0]) == {"1": "Niamh", "2": "Sunday, 10am"}


def test_content_template_edited_before_a_retry_fails_clearly(
    standin, content_template, send, customer
):
    standin.fail_next(status=503)
    n = send(customer, "whatsapp", template="survey_reminder_whatsapp", context={"day": "Monday"})
    content_template.body_template = "Hello {{ recipient.first_name }}! Survey: {{ day }}"
    content_template.save()
    deliver_queued()
    n.refresh_from_db()
    receipt = n.receipts.get(
        status="failed", gateway_message_id=None, error_code="content_variables_missing"
    )
    assert n.status == "failed"
    assert "changed since" in receipt.error_message


def test_content_template_with_tags_is_a_caller_error(standin, content_template, customer):
    from chargesol_notifications.exceptions import TemplateRenderError
    from chargesol_notifications.models import Notification

    content_template.body_template = "{% if day %}Hi {{ day }}{% endif %}"
    content_template.save()
    with pytest.raises(TemplateRenderError, match="no tags"):
        notify(customer, "whatsapp", template="survey_reminder_whatsapp", context={"day": "x"})
    assert Notification.objects.count() == 0


def test_whatsapp_outside_the_window_is_a_clear_permanent_failure(standin, send, customer):
    standin.fail_next(code=63016)
    n = send(customer, "whatsapp", body="Free-form text")
    receipt = n.receipts.get()
    assert (n.status, receipt.error_code) == ("failed", "63016")
    assert "24-hour" in receipt.error_message
    assert "WHATSAPP_CONTENT_TEMPLATES" in receipt.error_message
    deliver_queued()
    assert len(standin.messages) == 0  # refused, never retried


# -- Twilio errors: the table decides ------------------------------------------------------

PERMANENT = [21211, 21610, 21614]


@pytest.mark.parametrize("code", PERMANENT)
def test_permanent_twilio_errors_fail_with_the_code(standin, send, customer, code):
    standin.fail_next(code=code)
    n = send(customer, "sms", body="x")
    receipt = n.receipts.get()
    assert (n.status, receipt.status, receipt.error_code) == ("failed", "failed", str(code))
    assert receipt.error_message
    deliver_queued()
    assert len(standin.requests) == 1


TRANSIENT = {
    "500 internal error": dict(status=500),
    "503 unavailable": dict(status=503),
}


@pytest.mark.parametrize("failure", list(TRANSIENT.values()), ids=list(TRANSIENT))
def test_transient_twilio_errors_are_retried_then_sent(standin, send, customer, failure):
    standin.fail_next(**failure)
    n = send(customer, "sms", body="x")
    assert n.status == "queued"
    first = n.receipts.get()
    assert first.status == "failed"
    assert first.gateway_message_id is None
    deliver_queued()
    n.refresh_from_db()
    assert n.status == "sent"
    assert len(standin.requests) == 2
    assert len(standin.messages) == 1


def test_a_429_pauses_the_channel_and_sends_again_without_using_an_attempt(standin, send, customer):
    standin.fail_next(code=20429, status=429)
    started = time.monotonic()
    n = send(customer, "sms", body="x")
    waited = time.monotonic() - started
    assert n.status == "sent"
    # No failed receipt: Twilio created nothing, and the refusal is not an attempt.
    assert list(n.receipts.values_list("status", "error_code")) == [("sent", None)]
    assert len(standin.requests) == 2
    assert len(standin.messages) == 1
    assert waited >= throttle.FIRST_PAUSE


@pytest.mark.parametrize("failure", list(TRANSIENT.values()), ids=list(TRANSIENT))
def test_transient_twilio_errors_until_attempts_run_out(settings, standin, send, customer, failure):
    settings.CHARGESOL_NOTIFICATIONS = {**settings.CHARGESOL_NOTIFICATIONS, "MAX_ATTEMPTS": 3}
    standin.fail_next(**failure, times=10)
    n = send(customer, "sms", body="x")
    deliver_queued()
    deliver_queued()
    deliver_queued()
    n.refresh_from_db()
    assert n.status == "failed"
    assert len(standin.requests) == 3
    final = n.receipts.order_by("-received_at").first()
    assert final.error_message.startswith("Gave up after 3 attempts.")


def test_a_timeout_is_transient(settings, twilio_standin, send, customer):
    use_twilio(
        settings,
        twilio_standin,
        sms_options={
            "HTTP_CLIENT": "chargesol_notifications.testing.twilio.StandinHttpClient",
            "TIMEOUT": 0.5,
        },
    )
    twilio_standin.slow_next(2.0)
    n = send(customer, "sms", body="x")
    receipt = n.receipts.get()
    assert (n.status, receipt.error_code) == ("queued", "timeout")


def test_a_dropped_connection_is_transient(standin, send, customer):
    standin.disconnect_next()
    n = send(customer, "sms", body="x")
    assert (n.status, n.receipts.get().error_code) == ("queued", "connection_error")


# -- spoken notifications ------------------------------------------------------------------


def test_call_notification_speaks_its_body(standin, send, customer):
    n = send(customer, "call", body="Power at your address is back on. O'Brien & Sons.")
    (call,) = standin.calls
    assert "<Say" in call.twiml
    assert "O'Brien &amp; Sons" in call.twiml
    assert call.machine_detection == "Enable"
    assert call.status_callback == callback_url("call-status", n=n.pk)
    assert n.receipts.get().gateway_message_id == call.sid


# -- checks ----------------------------------------------------------------------------------


def test_check_reports_missing_credentials_and_webhook_url(settings):
    settings.CHARGESOL_NOTIFICATIONS = {
        "QUIET_HOURS": None,
        "CHANNELS": {"sms": {"BACKEND": "chargesol_notifications.backends.twilio.SmsBackend"}},
    }
    messages = {m.id: m.msg for m in check_channels()}
    assert "['sms']['OPTIONS']['ACCOUNT_SID']" in messages["chargesol_notifications.E020"]
    assert "['sms']['OPTIONS']['AUTH_TOKEN']" in messages["chargesol_notifications.E021"]
    assert "FROM" in messages["chargesol_notifications.E023"]
    assert "WEBHOOK_BASE_URL" in messages["chargesol_notifications.E025"]


def test_configured_twilio_backends_pass_the_checks(standin, settings):
    settings.DEBUG = True
    assert [m for m in check_channels() if m.is_serious()] == []


def test_http_client_by_dotted_path(settings, twilio_standin, send, customer):
    use_twilio(
        settings,
        twilio_standin,
        sms_options={"HTTP_CLIENT": "chargesol_notifications.testing.twilio.StandinHttpClient"},
    )
    assert send(customer, "sms", body="x").status == "sent"
    assert type(get_backend("sms").client.http_client).__name__ == "StandinHttpClient"


def test_content_sid_setting_is_checked(standin, settings):
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "WHATSAPP_CONTENT_TEMPLATES": {"survey_reminder_whatsapp": "HX123"},
    }
    (message,) = [m for m in check_channels() if m.id == "chargesol_notifications.E008"]
    assert "['survey_reminder_whatsapp']" in message.msg


def test_project_wide_problems_are_reported_once(settings, twilio_standin):
    use_twilio(settings, twilio_standin, WEBHOOK_BASE_URL=None)
    ids = [m.id for m in check_channels()]
    assert ids.count("chargesol_notifications.E025") == 1


def test_check_reports_webhook_urls_missing_from_the_urlconf(standin, settings):
    settings.ROOT_URLCONF = "tests.urls_without_app"
    (message,) = [m for m in check_channels() if m.id == "chargesol_notifications.E026"]
    assert "chargesol_notifications.urls" in message.msg


def test_backends_without_webhooks_need_no_webhook_url(settings):
    settings.CHARGESOL_NOTIFICATIONS = {
        "QUIET_HOURS": None,
        "CHANNELS": {},
        "WEBHOOK_BASE_URL": None,
    }
    assert "chargesol_notifications.E025" not in [m.id for m in check_channels()]
