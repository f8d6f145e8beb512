"""The notification admin: the list, the search box, the page, the actions, the overview."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chargesol_notifications.admin.overview import overview
from chargesol_notifications.models import DeliveryReceipt, Notification

from ..factories import (
    DeliveryReceiptFactory,
    NotificationFactory,
    NotificationTemplateFactory,
    UserFactory,
)
from .conftest import VIEW_ONLY, staff_user

pytestmark = pytest.mark.django_db

URL = "/admin/chargesol_notifications/notification/"


def get(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def failed_sms(recipient=None, code="30003", message="Unreachable destination handset"):
    notification = NotificationFactory(
        recipient=recipient or UserFactory(first_name="Freya", last_name="Khan"),
        status="failed",
        address="+447700900102",
    )
    DeliveryReceiptFactory(notification=notification, status="sent")
    DeliveryReceiptFactory(
        notification=notification,
        status="failed",
        error_code=code,
        error_message=message,
    )
    return notification


def many_notifications(count):
    """``count`` failed notifications with two receipts each, inserted in bulk."""
    users = [UserFactory() for _ in range(3)]
    template = NotificationTemplateFactory()
    rows = Notification.objects.bulk_create(
        Notification(
            recipient=users[index % 3],
            channel="sms",
            template=template,
            body="Your survey is booked",
            status="failed",
            context_type="survey",
            context_id=uuid.uuid4(),
        )
        for index in range(count)
    )
    DeliveryReceipt.objects.bulk_create(
        DeliveryReceipt(
            notification=n,
            status=status,
            gateway_message_id=f"SM{uuid.uuid4().hex}",
            error_code=code,
        )
        for n in rows
        for status, code in (("sent", None), ("failed", "30005"))
    )
    return rows


# -- the list ---------------------------------------------------------------------------


def test_the_list_shows_who_a_badge_and_why_it_failed(admin_client):
    failed_sms()
    page = get(admin_client, URL)
    assert "Freya Khan" in page
    assert '<span class="csn-badge csn-badge-failed">Failed</span>' in page
    assert "<code>30003</code> The handset is unreachable" in page


def test_an_app_failure_code_reads_as_a_sentence(admin_client):
    failed_sms(code="no_address", message="The recipient has no address for the sms channel.")
    page = get(admin_client, URL, status__exact="failed", channel__exact="sms")
    assert "The customer has no address for this channel" in page


def test_the_failure_shown_is_the_newest(admin_client):
    n = failed_sms(code="30003")
    receipt = DeliveryReceiptFactory(
        notification=n, status="failed", gateway_message_id=None, error_code="30005"
    )
    DeliveryReceipt.objects.filter(pk=receipt.pk).update(
        received_at=timezone.now() + timedelta(minutes=5)
    )
    assert "<code>30005</code>" in get(admin_client, URL)


def warm(client, url):
    """One request first: per-process caches (content types, the overview) fill once."""
    get(client, url)


def test_list_queries_are_the_same_for_10_and_500_rows(admin_client):
    many_notifications(10)
    warm(admin_client, URL)
    with CaptureQueriesContext(connection) as few:
        get(admin_client, URL)
    many_notifications(490)
    with CaptureQueriesContext(connection) as more:
        page = get(admin_client, URL)
    assert page.count("<code>30005</code>") == 50  # a full page of reasons
    assert len(more.captured_queries) == len(few.captured_queries)


def test_the_list_needs_a_bounded_number_of_queries(admin_client, django_assert_max_num_queries):
    many_notifications(50)
    with django_assert_max_num_queries(12):
        get(admin_client, URL)


def test_str_reads_well():
    n = NotificationFactory(recipient=UserFactory(first_name="Freya", last_name="Khan"))
    n.status = "failed"
    assert str(n) == "SMS to Freya Khan, failed"


# -- the search box ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "term",
    ["07700 900102", "+447700900102", "+44 7700 900102", "447700900102", "07700900102"],
)
def test_a_phone_in_any_format_finds_the_address_used(admin_client, term):
    failed_sms(recipient=UserFactory(phone="+447700900999"))
    NotificationFactory(address="+447700900103")
    page = get(admin_client, URL, q=term)
    assert "1 result" in page


@pytest.mark.parametrize("term", ["07700 900555", "+447700900555", "447700900555"])
def test_a_phone_finds_the_recipients_messages_not_sent_yet(admin_client, term):
    NotificationFactory(recipient=UserFactory(phone="07700 900555"), status="queued")
    NotificationFactory(recipient=UserFactory(phone="07700 900556"), status="queued")
    assert "1 result" in get(admin_client, URL, q=term)


def test_search_by_email_name_gateway_id_and_ids(admin_client):
    freya = UserFactory(first_name="Freya", last_name="Khan", email="freya@example.com")
    by_email = NotificationFactory(recipient=freya, channel="email", address="freya@example.com")
    other = NotificationFactory(context_id=uuid.uuid4())
    receipt = DeliveryReceiptFactory(gateway_message_id="SM0123456789abcdef0123456789abcdef")
    for term, expected in [
        ("freya@example.com", {by_email.pk}),
        ("Freya Khan", {by_email.pk}),
        ("khan", {by_email.pk}),
        (receipt.gateway_message_id, {receipt.notification_id}),
        (str(other.pk), {other.pk}),
        (str(other.context_id), {other.pk}),
    ]:
        response = admin_client.get(URL, {"q": term})
        found = {n.pk for n in response.context["cl"].result_list}
        assert found == expected, term


@pytest.mark.parametrize("term", ["%", "' OR 1=1 --", "x" * 500, "+", "-", "SM"])
def test_odd_terms_find_nothing_and_do_not_fail(admin_client, term):
    failed_sms()
    response = admin_client.get(URL, {"q": term})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


def test_a_phone_search_never_scans_with_like(admin_client):
    failed_sms()
    with CaptureQueriesContext(connection) as ctx:
        get(admin_client, URL, q="07700 900102")
    searched = [q["sql"] for q in ctx.captured_queries if "notification" in q["sql"]]
    assert searched
    assert not any("LIKE" in sql.upper() for sql in searched)


# -- the page of a notification -----------------------------------------------------------


def test_the_page_shows_receipts_in_time_order_each_explained(admin_client):
    n = failed_sms()
    page = get(admin_client, f"{URL}{n.pk}/change/")
    assert page.index(">Sent<") < page.index("The handset is unreachable")
    assert "+447700900102" in page  # the address used
    assert "1 (GSM-7)" in page  # SMS parts
    assert "Unreachable destination handset" in page  # the gateway's own words too
    assert 'name="_save"' not in page


def test_the_page_links_to_the_triggering_object_when_the_project_says_how(admin_client, settings):
    n = failed_sms()
    page = get(admin_client, f"{URL}{n.pk}/change/")
    assert f"/survey/{n.context_id}" not in page
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "CONTEXT_URLS": {"installation": "testapp-context"},
    }
    page = get(admin_client, f"{URL}{n.pk}/change/")
    assert f'href="/context/installation/{n.context_id}/"' in page


def test_page_queries_are_the_same_for_10_and_500_receipts(admin_client):
    n = NotificationFactory(status="sent")

    def add_receipts(count):
        DeliveryReceipt.objects.bulk_create(
            DeliveryReceipt(notification=n, status="failed", error_code="30003")
            for _ in range(count)
        )

    add_receipts(10)
    warm(admin_client, f"{URL}{n.pk}/change/")
    with CaptureQueriesContext(connection) as few:
        get(admin_client, f"{URL}{n.pk}/change/")
    add_receipts(490)
    with CaptureQueriesContext(connection) as more:
        get(admin_client, f"{URL}{n.pk}/change/")
    assert len(more.captured_queries) == len(few.captured_queries)


# -- actions -------------------------------------------------------------------------------


def run_action(client, action, notifications, confirm=True):
    data = {"action": action, "_selected_action": [str(n.pk) for n in notifications]}
    if confirm:
        data["confirm"] = "yes"
    return client.post(URL, data, follow=True)


def test_resend_asks_first_and_touches_nothing_until_confirmed(admin_client):
    n = failed_sms()
    response = run_action(admin_client, "resend_failed", [n], confirm=False)
    assert "This touches 1 failed notification." in response.content.decode()
    assert Notification.objects.count() == 1


def test_resend_queues_a_linked_copy_to_the_current_address(
    admin_client, django_capture_on_commit_callbacks
):
    user = UserFactory(phone="07700 900777")
    n = failed_sms(recipient=user)
    sent = NotificationFactory(status="sent")
    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(admin_client, "resend_failed", [n, sent])
    page = response.content.decode()
    assert "Resent 1 failed notification" in page
    assert "1 selected notification was not failed and was left alone." in page
    copy = Notification.objects.get(resent_from=n)
    assert (copy.body, copy.context_id, copy.recipient_id) == (n.body, n.context_id, user.pk)
    assert (copy.status, copy.address) == ("sent", "+447700900777")
    n.refresh_from_db()
    assert n.status == "failed"
    assert Notification.objects.count() == 3


def test_requeue_hands_queued_notifications_to_delivery(
    admin_client, django_capture_on_commit_callbacks
):
    stuck = NotificationFactory(status="queued", channel="email", body="x", subject="s")
    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(admin_client, "requeue_stuck", [stuck, failed_sms()])
    assert "Requeued 1 notification" in response.content.decode()
    stuck.refresh_from_db()
    assert stuck.status == "sent"
    assert len(mail.outbox) == 0  # the locmem channel backend, not Django's mail


def test_view_only_staff_see_no_actions_and_cannot_run_them(client):
    client.force_login(staff_user(*VIEW_ONLY))
    n = failed_sms()
    page = get(client, URL)
    assert 'name="action"' not in page
    response = run_action(client, "resend_failed", [n])
    assert response.status_code == 200
    assert Notification.objects.count() == 1
    assert get(client, f"{URL}{n.pk}/change/")


def test_the_resend_permission_allows_resend_only(client, django_capture_on_commit_callbacks):
    client.force_login(staff_user(*VIEW_ONLY, "resend_notification"))
    n = failed_sms()
    page = get(client, URL)
    assert 'value="resend_failed"' in page
    assert 'value="requeue_stuck"' not in page
    with django_capture_on_commit_callbacks(execute=True):
        run_action(client, "resend_failed", [n])
    assert Notification.objects.filter(resent_from=n).count() == 1


def test_an_action_refuses_more_rows_than_it_may_touch(admin_client, monkeypatch):
    from chargesol_notifications.admin import notification_actions

    monkeypatch.setattr(notification_actions, "MAX_ROWS", 2)
    rows = [failed_sms() for _ in range(3)]
    response = run_action(admin_client, "resend_failed", rows)
    assert "Select at most 2 notifications" in response.content.decode()
    assert Notification.objects.count() == 3


@pytest.mark.parametrize("codename", ["resend_notification", "requeue_notification"])
def test_the_action_permissions_exist(codename):
    assert Permission.objects.filter(codename=codename).exists()


# -- the overview ---------------------------------------------------------------------------


def test_the_overview_counts_14_days_per_channel_in_one_query(django_assert_num_queries):
    for status in ("sent", "delivered", "delivered", "failed", "queued"):
        NotificationFactory(status=status)
    old = NotificationFactory(status="failed")
    Notification.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=20))
    NotificationFactory(status="delivered", channel="email", subject="s")
    with django_assert_num_queries(1):
        channels = overview()
    by_label = {entry.label: entry for entry in channels}
    assert set(by_label) == {"SMS", "Email"}
    sms = by_label["SMS"]
    assert (sms.total("sent"), sms.total("delivered"), sms.total("failed")) == (1, 2, 1)


def test_the_overview_is_cached_and_only_on_the_plain_list(admin_client):
    NotificationFactory(status="delivered")
    with CaptureQueriesContext(connection) as first:
        get(admin_client, URL)
    with CaptureQueriesContext(connection) as second:
        page = get(admin_client, URL)
    assert len(second.captured_queries) == len(first.captured_queries) - 1
    assert "csn-overview" in page
    assert "csn-overview" not in get(admin_client, URL, status__exact="failed")
    assert "csn-overview" not in get(admin_client, URL, q="x")


def test_the_overview_is_an_inline_svg_on_the_list(admin_client):
    NotificationFactory(status="delivered")
    page = get(admin_client, URL)
    assert '<svg class="csn-overview-chart" role="img"' in page
    assert "1 delivered" in page
    assert "<script" not in page.split('class="csn-overview"')[1].split("</section>")[0]


# -- click-to-call from the page ------------------------------------------------------------


def test_the_page_offers_a_call_only_with_the_place_call_permission(client):
    n = failed_sms()
    client.force_login(staff_user(*VIEW_ONLY, username="viewer"))
    assert "Call the customer" not in get(client, f"{URL}{n.pk}/change/")
    client.force_login(staff_user(*VIEW_ONLY, "place_call", username="caller"))
    page = get(client, f"{URL}{n.pk}/change/")
    assert f'call/?notification={n.pk}"' in page
    assert "Call the customer" in page
