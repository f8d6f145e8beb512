"""The provider-free core of the webhooks, driven by a made-up provider ("Example"): the
hooks a provider fills in, the order they run in, the answers the core owns."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from django.db import connection
from django.http import HttpRequest
from django.test import RequestFactory

from chargesol_notifications.exceptions import WebhookValidationError
from chargesol_notifications.models import Notification
from chargesol_notifications.signals import notification_failed
from chargesol_notifications.webhooks.base import WebhookView
from chargesol_notifications.webhooks.events import DeliveryEvent, WebhookEvent
from chargesol_notifications.webhooks.params import TextParam
from chargesol_notifications.webhooks.recording import Recorded

from ..factories import DeliveryReceiptFactory

pytestmark = pytest.mark.django_db

SECRET = "example-secret"
#: The made-up provider's words -> receipts: a table, as every provider keeps one.
EXAMPLE_STATUSES = {"handed-over": "delivered", "bounced": "failed"}
MESSAGE_ID = TextParam("id", max_length=100)
STATUS = TextParam("status", max_length=20, choices=frozenset(EXAMPLE_STATUSES))

ran: list[str] = []


class ExampleWebhookView(WebhookView):
    """A provider that signs with a shared secret in a header."""

    def validate_request(self, request: HttpRequest) -> None:
        ran.append("secret")
        if request.headers.get("X-Example-Secret") != SECRET:
            raise WebhookValidationError("wrong secret")

    def parse(self, request: HttpRequest) -> list[WebhookEvent]:
        ran.append("parse")
        status = STATUS.require(request.POST)
        receipt_status = EXAMPLE_STATUSES[status]
        failed = receipt_status == "failed"
        return [
            DeliveryEvent(
                gateway_message_id=MESSAGE_ID.require(request.POST),
                receipt_status=receipt_status,
                error_code=status if failed else None,
                error_message="The mailbox bounced it." if failed else "",
            )
        ]


class StrictExampleView(ExampleWebhookView):
    forbidden_text = "Invalid Example secret."

    def validate_request(self, request: HttpRequest) -> None:
        ran.append("timestamp")
        if "X-Example-Timestamp" not in request.headers:
            raise WebhookValidationError("no timestamp")


class DisabledExampleView(ExampleWebhookView):
    def disabled_reason(self) -> str | None:
        return "Example is not configured"


class AnnouncingExampleView(ExampleWebhookView):
    """Names the notification (``n``), and announces each receipt in a way that fails."""

    def parse(self, request: HttpRequest) -> list[WebhookEvent]:
        (event,) = super().parse(request)
        assert isinstance(event, DeliveryEvent)
        return [dataclasses.replace(event, notification_id=uuid.UUID(request.POST["n"]))]

    def signal(self, recorded: Recorded) -> None:
        raise RuntimeError("the announcement failed")


class AllOrNothingExampleView(AnnouncingExampleView):
    record_at_lookup = False


class UncheckedView(WebhookView):
    def parse(self, request: HttpRequest) -> list[WebhookEvent]:
        return []


class UnparsedView(WebhookView):
    def validate_request(self, request: HttpRequest) -> None:
        pass


@pytest.fixture(autouse=True)
def _forget_what_ran():
    ran.clear()


def post(view: type[WebhookView], data: dict[str, str], **headers: str):
    request = RequestFactory().post("/hook/", data=data, headers=headers)
    return view.as_view()(request)


def test_every_validate_request_in_the_chain_runs_from_the_base_down():
    headers = {"X-Example-Secret": SECRET, "X-Example-Timestamp": "1"}
    response = post(StrictExampleView, {"id": "m1", "status": "handed-over"}, **headers)
    assert response.status_code == 200
    assert ran == ["secret", "timestamp", "parse"]


def test_a_failing_validator_stops_the_chain_with_the_views_403_text():
    response = post(
        StrictExampleView, {"id": "m1", "status": "bounced"}, **{"X-Example-Secret": "?"}
    )
    assert (response.status_code, response.content) == (403, b"Invalid Example secret.")
    assert response["Content-Type"].startswith("text/plain")
    assert ran == ["secret"]


def test_the_default_texts_name_no_provider():
    forbidden = post(ExampleWebhookView, {"id": "m1", "status": "bounced"})
    malformed = post(ExampleWebhookView, {"status": "lost"}, **{"X-Example-Secret": SECRET})
    assert (forbidden.status_code, forbidden.content) == (403, b"Invalid webhook signature.")
    assert (malformed.status_code, malformed.content) == (400, b"Malformed webhook request.")


def test_a_disabled_webhook_is_404_before_anything_runs(caplog):
    response = post(DisabledExampleView, {"id": "m1", "status": "bounced"})
    assert (response.status_code, response.content) == (404, b"This webhook is not enabled.")
    assert ran == []
    assert "Example is not configured" in caplog.text


def test_a_view_without_validate_request_never_accepts(caplog):
    response = post(UncheckedView, {})
    assert (response.status_code, response.content) == (500, b"The webhook could not be processed.")
    assert "UncheckedView must implement validate_request()" in caplog.text


def test_a_view_without_parse_is_500_naming_the_class(caplog):
    assert post(UnparsedView, {}).status_code == 500
    assert "UnparsedView must implement parse()" in caplog.text


def test_the_core_records_the_event_and_signals_the_failure():
    sent = DeliveryReceiptFactory(gateway_message_id="m-42")
    failures = []

    def receiver(sender, notification, receipt, error, **kwargs):
        failures.append((notification.pk, receipt.status, receipt.error_code, error))

    notification_failed.connect(receiver)
    try:
        headers = {"X-Example-Secret": SECRET}
        response = post(ExampleWebhookView, {"id": "m-42", "status": "bounced"}, **headers)
        duplicate = post(ExampleWebhookView, {"id": "m-42", "status": "bounced"}, **headers)
    finally:
        notification_failed.disconnect(receiver)
    assert (response.status_code, response.content) == (200, b"")
    assert duplicate.status_code == 200
    notification = sent.notification
    notification.refresh_from_db()
    assert notification.status == "failed"
    failed = notification.receipts.get(status="failed")
    assert (failed.error_code, failed.error_message) == ("bounced", "The mailbox bounced it.")
    assert failures == [(notification.pk, "failed", "bounced", None)]  # once, not per duplicate


def post_receipt_then_fail(view: type[WebhookView]) -> tuple[int, list[str]]:
    """POST a new receipt to ``view``, whose signal() fails; the answer, and the receipts
    then on record."""
    notification = DeliveryReceiptFactory(gateway_message_id="m-43").notification
    data = {"id": "m-43", "status": "handed-over", "n": str(notification.pk)}
    response = post(view, data, **{"X-Example-Secret": SECRET})
    statuses = Notification.objects.get(pk=notification.pk).receipts.values_list("status")
    return response.status_code, sorted(status for (status,) in statuses)


@pytest.mark.django_db(transaction=True)  # the failed callback rolls back its transaction
def test_without_record_at_lookup_a_failing_signal_rolls_the_receipt_back():
    assert post_receipt_then_fail(AllOrNothingExampleView) == (500, ["sent"])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the lookup writes on PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_with_record_at_lookup_the_receipt_is_written_before_the_signals():
    """Nobody listens to the signals: on PostgreSQL the lookup itself wrote the receipt."""
    assert post_receipt_then_fail(AnnouncingExampleView) == (500, ["delivered", "sent"])
