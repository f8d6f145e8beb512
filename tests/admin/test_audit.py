"""Audit rows in the admin: nobody deletes notifications, receipts or call logs there,
superusers included, yet deleting a user still takes their notifications and receipts."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import RequestFactory

from chargesol_notifications.models import CallLog, DeliveryReceipt, Notification

from ..factories import (
    CallLogFactory,
    DeliveryReceiptFactory,
    NotificationFactory,
    StaffUserFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

BASE = "/admin/chargesol_notifications"

AUDIT_ROWS = {
    "notification": (Notification, lambda: DeliveryReceiptFactory().notification),
    "deliveryreceipt": (DeliveryReceipt, DeliveryReceiptFactory),
    "calllog": (CallLog, CallLogFactory),
}


@pytest.mark.parametrize(
    ("url_name", "model", "factory"),
    [(name, *row) for name, row in AUDIT_ROWS.items()],
    ids=list(AUDIT_ROWS),
)
def test_the_delete_view_refuses_superusers(admin_client, url_name, model, factory):
    row = factory()
    url = f"{BASE}/{url_name}/{row.pk}/delete/"
    assert admin_client.get(url).status_code == 403
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert model.objects.filter(pk=row.pk).exists()


@pytest.mark.parametrize(
    ("url_name", "model", "factory"),
    [(name, *row) for name, row in AUDIT_ROWS.items()],
    ids=list(AUDIT_ROWS),
)
def test_no_delete_action_or_link(admin_client, url_name, model, factory):
    row = factory()
    changelist = admin_client.get(f"{BASE}/{url_name}/")
    assert changelist.status_code == 200
    assert "delete_selected" not in changelist.content.decode()
    change_page = admin_client.get(f"{BASE}/{url_name}/{row.pk}/change/").content.decode()
    assert f"{row.pk}/delete/" not in change_page
    # Posting the action by hand does not run it either.
    admin_client.post(
        f"{BASE}/{url_name}/",
        {"action": "delete_selected", "_selected_action": [str(row.pk)], "post": "yes"},
    )
    assert model.objects.filter(pk=row.pk).exists()


@pytest.mark.parametrize("model", [Notification, DeliveryReceipt, CallLog])
def test_a_request_for_no_known_view_may_not_delete(admin_user, model):
    request = RequestFactory().get("/")
    request.user = admin_user
    assert admin.site.get_model_admin(model).has_delete_permission(request) is False


def notifications_with_receipts(user):
    notifications = NotificationFactory.create_batch(2, recipient=user, status="sent")
    for notification in notifications:
        DeliveryReceiptFactory(notification=notification)
        DeliveryReceiptFactory(notification=notification, status="delivered")
    return notifications


def test_deleting_a_user_takes_their_notifications_and_receipts(admin_client):
    customer, other = UserFactory(), UserFactory()
    notifications_with_receipts(customer)
    kept = notifications_with_receipts(other)
    url = f"/admin/testapp/user/{customer.pk}/delete/"
    confirmation = admin_client.get(url)
    assert confirmation.status_code == 200
    assert not confirmation.context["perms_lacking"]
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not get_user_model().objects.filter(pk=customer.pk).exists()
    assert list(Notification.objects.all()) == sorted(kept, key=lambda n: n.created_at)[::-1]
    assert DeliveryReceipt.objects.count() == 4
    assert set(DeliveryReceipt.objects.values_list("notification__recipient", flat=True)) == {
        other.pk
    }


def test_deleting_users_with_the_delete_selected_action(admin_client):
    customers = UserFactory.create_batch(2)
    for customer in customers:
        notifications_with_receipts(customer)
    response = admin_client.post(
        "/admin/testapp/user/",
        {
            "action": "delete_selected",
            "_selected_action": [str(c.pk) for c in customers],
            "post": "yes",
        },
    )
    assert response.status_code == 302
    assert not get_user_model().objects.filter(pk__in=[c.pk for c in customers]).exists()
    assert (Notification.objects.count(), DeliveryReceipt.objects.count()) == (0, 0)


def test_a_cascade_still_needs_the_delete_permissions(client):
    """Staff who may delete users but not notifications cannot take a user's
    notifications with them: the normal check, as for any model."""
    staff = StaffUserFactory(is_superuser=False)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_user", "change_user", "delete_user"])
    )
    client.force_login(staff)
    customer = UserFactory()
    notifications_with_receipts(customer)
    url = f"/admin/testapp/user/{customer.pk}/delete/"
    confirmation = client.get(url)
    assert confirmation.status_code == 200
    assert set(confirmation.context["perms_lacking"]) == {"notification", "delivery receipt"}
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert Notification.objects.filter(recipient=customer).count() == 2


def test_a_user_who_made_calls_is_protected_by_their_call_logs(admin_client):
    caller = StaffUserFactory()
    call_log = CallLogFactory(caller=caller)
    url = f"/admin/testapp/user/{caller.pk}/delete/"
    confirmation = admin_client.get(url)
    assert confirmation.context["protected"]
    admin_client.post(url, {"post": "yes"})
    assert get_user_model().objects.filter(pk=caller.pk).exists()
    assert CallLog.objects.filter(pk=call_log.pk).exists()
