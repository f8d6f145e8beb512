"""The backend contract: what a backend receives, its capability flags, and the one
policy for errors nobody classified (sending and placing calls alike)."""

from __future__ import annotations

import ast
import logging
import uuid
from pathlib import Path

import pytest

import chargesol_notifications
from chargesol_notifications import place_call
from chargesol_notifications.backends.base import (
    BaseChannelBackend,
    OutgoingCall,
    OutgoingMessage,
)
from chargesol_notifications.backends.console import ConsoleBackend
from chargesol_notifications.backends.dummy import DummyBackend
from chargesol_notifications.backends.email import EmailBackend
from chargesol_notifications.backends.locmem import LocmemBackend
from chargesol_notifications.backends.twilio import CallBackend, SmsBackend, WhatsAppBackend
from chargesol_notifications.exceptions import ConfigurationError
from chargesol_notifications.models import CallLog

from ..factories import NotificationTemplateFactory, StaffUserFactory, UserFactory

pytestmark = pytest.mark.django_db

HERE = "tests.backends.test_base"
BACKENDS_DIR = Path(chargesol_notifications.__file__).parent / "backends"


# -- backends that misbehave on cue --------------------------------------------------------


class RecordingBackend(BaseChannelBackend):
    """Keeps every message; keeps what the template said at notify() time."""

    received: list[OutgoingMessage] = []
    status_callback_url_name = "chargesol_notifications:twilio-message-status"

    def send_message(self, message: OutgoingMessage) -> str:
        self.received.append(message)
        return f"recorded-{uuid.uuid4().hex}"

    def extra_for(self, *, template_name, template_source, context):
        return {"name": template_name, "source": template_source, "day": context["day"]}


class CallsWithoutTheFlag(BaseChannelBackend):
    """Implements start_call() but does not declare supports_calls."""

    def start_call(self, call: OutgoingCall) -> str:
        raise AssertionError("never called: the flag decides")


class CrashingCalls(BaseChannelBackend):
    supports_calls = True

    def start_call(self, call: OutgoingCall) -> str:
        raise KeyError("a bug in a call backend")


@pytest.fixture(autouse=True)
def _clear_received():
    RecordingBackend.received.clear()


@pytest.fixture
def channel(settings):
    def channel(name, backend):
        settings.CHARGESOL_NOTIFICATIONS = {
            **settings.CHARGESOL_NOTIFICATIONS,
            "CHANNELS": {
                **settings.CHARGESOL_NOTIFICATIONS["CHANNELS"],
                name: {"BACKEND": f"{HERE}.{backend}"},
            },
        }

    return channel


def place(caller):
    return place_call(
        caller=caller,
        callee_phone="+447700900123",
        call_type="introductory",
        context_type="lead",
        context_id=uuid.uuid4(),
    )


# -- what a backend receives ---------------------------------------------------------------


def test_no_backend_module_imports_the_models():
    for path in sorted(BACKENDS_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            assert not any(name.split(".")[-1] == "models" for name in names), (
                f"{path.relative_to(BACKENDS_DIR.parent)} imports models"
            )


def test_a_backend_receives_the_resolved_message_with_its_callback_url(channel, send, settings):
    channel("sms", "RecordingBackend")
    NotificationTemplateFactory(
        name="survey_day_sms", channel="sms", body_template="Survey on {{ day }}"
    )
    n = send(
        UserFactory(phone="07700 900123"),
        "sms",
        template="survey_day_sms",
        context={"day": "Friday"},
    )
    (message,) = RecordingBackend.received
    assert (message.to, message.body, message.template_name) == (
        "+447700900123",
        "Survey on Friday",
        "survey_day_sms",
    )
    assert message.status_callback == (
        f"https://chargesol.example.com/notifications/twilio/message-status/?n={n.pk}"
    )
    assert dict(message.extra) == {
        "name": "survey_day_sms",
        "source": "Survey on {{ day }}",
        "day": "Friday",
    }
    assert (message.content_sid, message.content_variables) == (None, None)


def test_no_callback_url_without_webhook_base_url(channel, send, settings):
    channel("sms", "RecordingBackend")
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "WEBHOOK_BASE_URL": None,
    }
    send(UserFactory(), "sms", body="x")
    assert RecordingBackend.received[0].status_callback is None


def test_a_urlconf_without_the_webhooks_is_a_configuration_error_at_delivery(
    channel, send, settings
):
    channel("sms", "RecordingBackend")
    settings.ROOT_URLCONF = "tests.urls_without_app"
    n = send(UserFactory(), "sms", body="x")
    receipt = n.receipts.get()
    assert (n.status, receipt.error_code) == ("queued", "improperly_configured")
    assert "twilio-message-status" in receipt.error_message
    assert RecordingBackend.received == []


def test_content_templates_only_for_backends_that_support_them(channel, send, settings):
    channel("whatsapp", "RecordingBackend")
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "WHATSAPP_CONTENT_TEMPLATES": {"survey_day_whatsapp": "HX" + "a" * 32},
    }
    NotificationTemplateFactory(
        name="survey_day_whatsapp", channel="whatsapp", body_template="Survey on {{ day }}"
    )
    send(UserFactory(), "whatsapp", template="survey_day_whatsapp", context={"day": "Monday"})
    (message,) = RecordingBackend.received
    assert message.content_sid is None
    assert "content_variables" not in message.extra


# -- capability flags ------------------------------------------------------------------------

FLAGS = ("supports_calls", "supports_content_templates", "reports_delivery", "development_only")
CAPABILITIES = {
    ConsoleBackend: (True, False, False, True),
    LocmemBackend: (True, False, False, True),
    DummyBackend: (True, False, False, True),
    EmailBackend: (False, False, False, False),
    SmsBackend: (False, False, True, False),
    WhatsAppBackend: (False, True, True, False),
    CallBackend: (True, False, True, False),
}


@pytest.mark.parametrize(
    ("backend", "flags"), list(CAPABILITIES.items()), ids=[b.__name__ for b in CAPABILITIES]
)
def test_capabilities_are_declared_flags(backend, flags):
    assert tuple(getattr(backend, flag) for flag in FLAGS) == flags


def test_every_class_attribute_of_the_base_has_a_doc_comment():
    """Each flag carries a ``#:`` comment, which Sphinx's autodoc shows as its docstring."""
    lines = (BACKENDS_DIR / "base.py").read_text().splitlines()
    (base,) = [
        node
        for node in ast.parse("\n".join(lines)).body
        if isinstance(node, ast.ClassDef) and node.name == "BaseChannelBackend"
    ]
    declared = {
        node.target.id: lines[node.lineno - 2].strip()
        for node in base.body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }
    assert set(FLAGS) | {"max_body_length", "status_callback_url_name"} <= set(declared)
    undocumented = [name for name, above in declared.items() if not above.startswith("#:")]
    assert undocumented == []


def test_place_call_reads_the_flag_not_the_methods(channel):
    channel("call", "CallsWithoutTheFlag")
    with pytest.raises(ConfigurationError, match="cannot place calls"):
        place(StaffUserFactory(phone="+447700900999"))
    assert CallLog.objects.count() == 0


# -- one policy for unexpected errors ----------------------------------------------------------


def test_a_crash_while_placing_a_call_is_noted_and_logged(
    channel, django_capture_on_commit_callbacks, caplog
):
    channel("call", "CrashingCalls")
    with (
        caplog.at_level(logging.ERROR, "chargesol_notifications.delivery"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        call_log = place(StaffUserFactory(phone="+447700900999"))
    call_log.refresh_from_db()
    assert "could not be placed: [backend_error] KeyError" in call_log.notes
    (record,) = [r for r in caplog.records if r.exc_info]
    assert "placing call" in record.getMessage()
    assert "CrashingCalls" in record.getMessage()


def test_send_and_place_never_raise_for_a_backend_bug():
    backend = CrashingCalls(channel="call")
    call = OutgoingCall(call_log_id=uuid.uuid4(), to="+447700900123", connect_to="+447700900999")
    attempt = backend.place(call)
    assert (attempt.succeeded, attempt.error.code, attempt.error.transient) == (
        False,
        "backend_error",
        True,
    )
    message = OutgoingMessage(uuid.uuid4(), "call", "+447700900123", body="Hello")
    attempt = backend.send(message)  # no send_message(): NotImplementedError, same policy
    assert (attempt.error.code, attempt.message) == ("backend_error", message)
