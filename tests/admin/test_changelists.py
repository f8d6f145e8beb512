"""The admin registrations: browse, filter, search; logs read-only; no per-row queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ..factories import (
    CallLogFactory,
    DeliveryReceiptFactory,
    NotificationFactory,
    NotificationTemplateFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

BASE = "/admin/chargesol_notifications"


def queries_for(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    ("model", "factory"),
    [
        ("notification", lambda: DeliveryReceiptFactory().notification),
        ("deliveryreceipt", DeliveryReceiptFactory),
        ("calllog", CallLogFactory),
        ("notificationtemplate", NotificationTemplateFactory),
    ],
)
def test_changelist_queries_do_not_grow_with_rows(admin_client, model, factory):
    factory()
    queries_for(admin_client, f"{BASE}/{model}/")  # fills per-process caches once
    few = queries_for(admin_client, f"{BASE}/{model}/")
    for _ in range(20):
        factory()
    assert queries_for(admin_client, f"{BASE}/{model}/") == few


def test_filters_and_search(admin_client):
    receipt = DeliveryReceiptFactory(
        gateway_message_id="SM" + "7" * 32, notification__recipient=UserFactory(username="niamh")
    )
    NotificationFactory(channel="email", subject="s", status="failed", context_type="payment")
    url = f"{BASE}/notification/"
    by_sid = admin_client.get(url, {"q": "SM" + "7" * 32})
    assert by_sid.context["cl"].result_count == 1
    assert admin_client.get(url, {"q": "niamh"}).context["cl"].result_count == 1
    assert admin_client.get(url, {"channel__exact": "email"}).context["cl"].result_count == 1
    assert admin_client.get(url, {"status__exact": "sent"}).context["cl"].result_count == 1
    by_context = admin_client.get(url, {"context_type__exact": "payment"})
    assert by_context.context["cl"].result_count == 1
    receipts = admin_client.get(f"{BASE}/deliveryreceipt/", {"q": "SM" + "7" * 32})
    assert list(receipts.context["cl"].result_list) == [receipt]


def test_notification_page_shows_its_receipts_read_only(admin_client):
    receipt = DeliveryReceiptFactory(gateway_message_id="SM" + "1" * 32)
    page = admin_client.get(f"{BASE}/notification/{receipt.notification.pk}/change/")
    html = page.content.decode()
    assert "SM" + "1" * 32 in html
    assert 'name="status"' not in html  # read-only: no form fields to change
    assert '<select name="recipient"' not in html


@pytest.mark.parametrize("model", ["notification", "deliveryreceipt"])
def test_logs_cannot_be_added_or_edited_by_hand(admin_client, model):
    assert admin_client.get(f"{BASE}/{model}/add/").status_code == 403


def test_templates_are_validated_in_the_admin(admin_client):
    response = admin_client.post(
        f"{BASE}/notificationtemplate/add/",
        {
            "name": "x_sms",
            "channel": "sms",
            "body_template": "{% include 'secrets.txt' %}",
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert "body_template" in response.context["adminform"].form.errors
