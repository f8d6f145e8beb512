"""The email backend over django-anymail: anymail's exceptions are recognised by their
classes, imported when django-anymail is installed (``pip install django-anymail``).

The ESP is anymail's own test backend, answering as each test scripts it; nothing is
patched.
"""

from __future__ import annotations

import pytest

pytest.importorskip(
    "anymail", reason="django-anymail is not installed (pip install django-anymail)"
)

import requests
from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.exceptions import AnymailAPIError, AnymailRequestsAPIError
from anymail.message import AnymailRecipientStatus

from chargesol_notifications.backends import email

from ..factories import UserFactory

pytestmark = pytest.mark.django_db

ADDRESS = "ana@example.com"


class ScriptedEsp(AnymailTestBackend):
    """anymail's test ESP, giving the next scripted answer (an exception or a status)."""

    answers: list[object] = []

    def post_to_esp(self, payload, message):
        if self.answers:
            message.anymail_test_response = self.answers.pop(0)
        return super().post_to_esp(payload, message)


@pytest.fixture
def esp(settings):
    ScriptedEsp.answers = []
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "CHANNELS": {
            "email": {
                "BACKEND": "chargesol_notifications.backends.email.EmailBackend",
                "OPTIONS": {"EMAIL_BACKEND": f"{__name__}.ScriptedEsp"},
            }
        },
    }
    return ScriptedEsp.answers


def esp_response(status_code: int, reason: str) -> requests.Response:
    """What the ESP's HTTP API answered, as django-anymail keeps it on its errors."""
    response = requests.Response()
    response.status_code, response.reason = status_code, reason
    response._content = b'{"message": "The ESP said no"}'
    return response


def send_email(send):
    return send(UserFactory(email=ADDRESS), "email", subject="Your quote", body="Attached.")


def test_the_anymail_exceptions_are_imported_not_named():
    from anymail.exceptions import AnymailConfigurationError, AnymailError

    assert (AnymailError, AnymailConfigurationError) == email.ANYMAIL_ERRORS


def test_the_esps_message_id_is_the_gateway_id(esp, send):
    n = send_email(send)
    assert (n.status, n.receipts.get().gateway_message_id) == ("sent", "0")


def test_a_refused_recipient_is_final(esp, send):
    esp.append({"recipient_status": {ADDRESS: AnymailRecipientStatus(None, "rejected")}})
    n = send_email(send)
    assert (n.status, n.receipts.get().error_code) == ("failed", "recipients_refused")


@pytest.mark.parametrize(
    ("status_code", "status", "code"),
    [(503, "queued", "esp_503"), (422, "failed", "esp_422")],
)
def test_api_errors_are_retried_by_http_status(esp, send, status_code, status, code):
    response = esp_response(status_code, "No")
    esp.append(AnymailAPIError("Sending failed", status_code=status_code, response=response))
    n = send_email(send)
    receipt = n.receipts.get()
    assert (n.status, receipt.error_code) == (status, code)
    assert "The ESP said no" in receipt.error_message


def test_a_429_is_sent_again_after_a_pause_without_using_an_attempt(esp, send):
    response = esp_response(429, "Slow down")
    esp.append(AnymailAPIError("Sending failed", status_code=429, response=response))
    n = send_email(send)
    assert (n.status, list(n.receipts.values_list("status", flat=True))) == ("sent", ["sent"])


def test_an_api_error_without_an_http_status_is_retried(esp, send):
    esp.append(AnymailAPIError("Unparsable ESP response"))
    n = send_email(send)
    assert (n.status, n.receipts.get().error_code) == ("queued", "esp_error")


def test_an_http_error_is_an_esp_error_not_a_connection_error(esp, send):
    # AnymailRequestsAPIError is also requests' HTTPError, and so an OSError.
    response = esp_response(422, "Unprocessable Entity")
    esp.append(AnymailRequestsAPIError("Sending failed", status_code=422, response=response))
    n = send_email(send)
    assert (n.status, n.receipts.get().error_code) == ("failed", "esp_422")
