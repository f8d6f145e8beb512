"""Customers' replies in the admin: read-only, found by number in any format or by words,
linked to their user and the notification they answer; the notification lists them."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chargesol_notifications.admin.inbound import search_inbound
from chargesol_notifications.models import InboundMessage

from ..factories import NotificationFactory, UserFactory
from .conftest import staff_user

pytestmark = pytest.mark.django_db

BASE = "/admin/chargesol_notifications/inboundmessage"
NUMBER = "+447700900102"


def reply(**fields) -> InboundMessage:
    """An inbound message as the webhook writes one."""
    values = {
        "channel": "sms",
        "from_address": NUMBER,
        "to_address": "+15005550006",
        "body": "Tuesday is fine, thanks",
        "gateway_message_id": "SM" + uuid.uuid4().hex,
    }
    return InboundMessage.objects.create(**(values | fields))


def found(client, term: str) -> list[InboundMessage]:
    response = client.get(f"{BASE}/", {"q": term})
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


@pytest.mark.parametrize("term", ["07700 900102", "+44 7700 900102", "447700900102", NUMBER])
def test_a_number_in_any_format_finds_sms_and_whatsapp_replies(admin_client, term):
    sms = reply()
    whatsapp = reply(channel="whatsapp", from_address=f"whatsapp:{NUMBER}")
    reply(from_address="+447700900999")
    assert set(found(admin_client, term)) == {sms, whatsapp}


def test_words_of_the_body_and_a_message_sid(admin_client):
    tuesday = reply(body="Tuesday is FINE, thanks")
    other = reply(body="Can we move it to Friday?")
    assert found(admin_client, "tuesday fine") == [tuesday]
    assert found(admin_client, "friday tuesday") == []
    assert found(admin_client, other.gateway_message_id) == [other]
    # The changelist's form refuses a NUL first; an autocomplete request would not.
    assert not search_inbound(InboundMessage.objects.all(), "nul\x00").exists()


def test_filters_by_channel(admin_client):
    reply()
    whatsapp = reply(channel="whatsapp", from_address=f"whatsapp:{NUMBER}")
    response = admin_client.get(f"{BASE}/", {"channel__exact": "whatsapp"})
    assert list(response.context["cl"].result_list) == [whatsapp]


def test_the_page_is_read_only_and_links_the_user_and_the_notification(admin_client):
    customer = UserFactory(first_name="Sam", last_name="Okafor")
    notification = NotificationFactory(recipient=customer, status="sent")
    message = reply(user=customer, in_reply_to=notification, body="STOP", opt_out_type="STOP")

    page = admin_client.get(f"{BASE}/{message.pk}/change/")

    html = page.content.decode()
    assert page.status_code == 200
    assert f"/admin/testapp/user/{customer.pk}/change/" in html
    assert f"/admin/chargesol_notifications/notification/{notification.pk}/change/" in html
    assert 'name="body"' not in html
    assert 'name="_save"' not in html


def test_nobody_adds_changes_or_deletes_a_reply(admin_client):
    message = reply()
    assert admin_client.get(f"{BASE}/add/").status_code == 403
    assert admin_client.post(f"{BASE}/{message.pk}/change/", {"body": "x"}).status_code == 403
    assert admin_client.get(f"{BASE}/{message.pk}/delete/").status_code == 403
    assert InboundMessage.objects.get().body == "Tuesday is fine, thanks"


def test_the_list_shows_who_wrote_and_what_it_answers(client):
    client.force_login(staff_user("view_inboundmessage"))
    customer = UserFactory(first_name="Sam", last_name="Okafor")
    notification = NotificationFactory(recipient=customer, status="sent", context_type="survey")
    reply(user=customer, in_reply_to=notification)
    reply(from_address="+447700900999")

    html = client.get(f"{BASE}/").content.decode()

    assert f"Sam Okafor ({NUMBER})" in html
    assert "+447700900999" in html
    assert f"/admin/chargesol_notifications/notification/{notification.pk}/change/" in html
    assert "(Survey)" in html


def test_changelist_queries_do_not_grow_with_rows(admin_client):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(f"{BASE}/").status_code == 200
        return len(queries.captured_queries)

    reply(user=UserFactory(), in_reply_to=NotificationFactory())
    count()
    few = count()
    for _ in range(15):
        reply(user=UserFactory(), in_reply_to=NotificationFactory())
    assert count() == few


def test_a_notifications_page_lists_its_replies_to_those_who_may_see_them(client):
    notification = NotificationFactory(status="sent")
    reply(in_reply_to=notification, body="Is 10am still ok?")
    reply(body="Not about that notification")
    url = f"/admin/chargesol_notifications/notification/{notification.pk}/change/"

    client.force_login(staff_user("view_notification", "view_inboundmessage"))
    html = client.get(url).content.decode()
    assert "Is 10am still ok?" in html
    assert "Not about that notification" not in html

    client.force_login(staff_user("view_notification", username="notes-only"))
    assert "Is 10am still ok?" not in client.get(url).content.decode()
