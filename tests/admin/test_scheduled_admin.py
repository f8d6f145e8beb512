"""Scheduled notifications in the admin: when they go, the filter, the cancel action."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from django.utils.formats import localize

from chargesol_notifications.models import Notification

from ..factories import NotificationFactory
from .conftest import VIEW_ONLY, staff_user

pytestmark = pytest.mark.django_db

URL = "/admin/chargesol_notifications/notification/"


def get(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def run_action(client, action, notifications, confirm=True):
    data = {"action": action, "_selected_action": [str(n.pk) for n in notifications]}
    if confirm:
        data["confirm"] = "yes"
    return client.post(URL, data, follow=True)


def scheduled(hours=2, **fields):
    return NotificationFactory(
        scheduled_for=timezone.now() + timedelta(hours=hours), body=f"in {hours} h", **fields
    )


def test_the_list_and_the_page_show_when_a_notification_goes(admin_client):
    n = scheduled(hours=2)
    page = get(admin_client, URL)
    assert "scheduled for" in page.lower()
    assert "column-scheduled_for" in page
    page = get(admin_client, f"{URL}{n.pk}/change/")
    assert "field-scheduled_for" in page
    assert localize(timezone.localtime(n.scheduled_for)) in page


def test_the_filter_tells_scheduled_from_due(admin_client):
    later = scheduled(hours=3)
    due = scheduled(hours=-1)
    sent = scheduled(hours=-2, status="sent")
    plain = NotificationFactory()
    page = get(admin_client, URL, schedule="scheduled")
    assert str(later.pk) in page
    assert str(due.pk) not in page
    page = get(admin_client, URL, schedule="due")
    assert str(due.pk) in page
    assert str(later.pk) not in page
    assert str(sent.pk) not in page
    assert str(plain.pk) not in page


def test_cancel_asks_first_and_touches_nothing_until_confirmed(admin_client):
    n = scheduled()
    response = run_action(admin_client, "cancel_scheduled", [n, NotificationFactory()], False)
    page = response.content.decode()
    assert "This touches 1 scheduled notification." in page
    assert "1 selected notification is not scheduled and will be left alone." in page
    assert Notification.objects.filter(pk=n.pk).exists()


def test_cancel_deletes_the_scheduled_and_leaves_the_rest(admin_client):
    n = scheduled()
    sent = scheduled(hours=-1, status="sent")
    unscheduled = NotificationFactory()
    response = run_action(admin_client, "cancel_scheduled", [n, sent, unscheduled])
    page = response.content.decode()
    assert "Cancelled 1 scheduled notification; it will not be sent." in page
    assert "2 selected notifications were not scheduled and were left alone." in page
    assert set(Notification.objects.values_list("pk", flat=True)) == {sent.pk, unscheduled.pk}


def test_the_cancel_permission_allows_cancel(client):
    client.force_login(staff_user(*VIEW_ONLY, "cancel_notification"))
    n = scheduled()
    page = get(client, URL)
    assert 'value="cancel_scheduled"' in page
    assert 'value="resend_failed"' not in page
    run_action(client, "cancel_scheduled", [n])
    assert not Notification.objects.filter(pk=n.pk).exists()


@pytest.mark.parametrize(
    "permissions", [VIEW_ONLY, (*VIEW_ONLY, "resend_notification", "requeue_notification")]
)
def test_without_the_cancel_permission_nothing_is_cancelled(client, permissions):
    client.force_login(staff_user(*permissions))
    n = scheduled()
    assert 'value="cancel_scheduled"' not in get(client, URL)
    response = run_action(client, "cancel_scheduled", [n])
    assert response.status_code == 200
    assert Notification.objects.filter(pk=n.pk).exists()


def test_the_cancel_permission_exists():
    assert Permission.objects.filter(codename="cancel_notification").exists()
