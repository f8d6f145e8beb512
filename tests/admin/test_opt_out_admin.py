"""The opt-out list in the admin: added by hand (normalised, reason staff, by whoever is
signed in), read-only once saved, lifted by an action under the change permission,
found by number in any format; never deleted."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chargesol_notifications.models import InboundMessage, OptOut
from chargesol_notifications.opt_outs import is_opted_out, lift_opt_out, record_opt_out

from ..factories import UserFactory
from .conftest import staff_user

pytestmark = pytest.mark.django_db

BASE = "/admin/chargesol_notifications/optout"
NUMBER = "+447700900102"
CLERK = ("view_optout", "add_optout")
LIFTER = ("view_optout", "change_optout")


def logged_in(client, *codenames, **fields):
    user = staff_user(*codenames, **fields)
    client.force_login(user)
    return user


def add(client, **data):
    return client.post(f"{BASE}/add/", {"channel": "sms", "address": "07700 900102"} | data)


def lift(client, *opt_outs):
    return client.post(
        f"{BASE}/",
        {"action": "lift_selected", "_selected_action": [str(o.pk) for o in opt_outs]},
    )


# -- adding by hand ------------------------------------------------------------------------


def test_staff_add_an_opt_out_as_the_customer_said_the_number(client):
    clerk = logged_in(client, *CLERK, first_name="Freya", last_name="Khan")
    form_page = client.get(f"{BASE}/add/")
    assert "by you, Freya Khan" in form_page.content.decode()
    assert 'name="reason"' not in form_page.content.decode()

    response = add(client, detail="Rang to ask for no more texts", reason="stop_keyword")

    assert response.status_code == 302, response.context["adminform"].form.errors
    opt_out = OptOut.objects.get()
    assert (opt_out.channel, opt_out.address) == ("sms", NUMBER)
    assert (opt_out.reason, opt_out.created_by) == ("staff", clerk)
    assert opt_out.detail == "Rang to ask for no more texts"
    assert is_opted_out("sms", NUMBER)
    assert LogEntry.objects.get().object_id == str(opt_out.pk)


@pytest.mark.parametrize(
    ("channel", "typed", "stored"),
    [
        ("whatsapp", "07700 900102", f"whatsapp:{NUMBER}"),
        ("whatsapp", f"whatsapp:{NUMBER}", f"whatsapp:{NUMBER}"),
        ("call", "+44 7700 900102", NUMBER),
        ("email", " Freya.Khan@Example.com ", "freya.khan@example.com"),
    ],
)
def test_addresses_are_stored_as_delivery_compares_them(client, channel, typed, stored):
    logged_in(client, *CLERK)
    response = add(client, channel=channel, address=typed)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert OptOut.objects.get().address == stored


@pytest.mark.parametrize(
    ("channel", "typed"), [("sms", "12"), ("email", "not-an-address"), ("push", "token")]
)
def test_an_address_that_cannot_be_read_is_refused(client, channel, typed):
    logged_in(client, *CLERK)
    response = add(client, channel=channel, address=typed)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not OptOut.objects.exists()


def test_an_address_already_opted_out_is_refused_with_its_reason(client):
    record_opt_out("sms", NUMBER, "stop_keyword")
    logged_in(client, *CLERK)
    response = add(client)
    assert response.status_code == 200
    assert "already opted out" in str(response.context["adminform"].form.non_field_errors())
    assert "Customer replied STOP" in str(response.context["adminform"].form.non_field_errors())
    assert OptOut.objects.get().reason == "stop_keyword"


def test_a_lifted_opt_out_goes_back_on_the_list_as_the_same_row(client):
    earlier = record_opt_out("sms", NUMBER, "stop_keyword")
    lift_opt_out("sms", NUMBER)
    clerk = logged_in(client, *CLERK)

    response = add(client, detail="Asked again by phone")

    assert response.status_code == 302, response.context["adminform"].form.errors
    again = OptOut.objects.get()
    assert again.pk == earlier.pk
    assert (again.reason, again.created_by, again.lifted_at) == ("staff", clerk, None)


# -- permissions ---------------------------------------------------------------------------


def test_view_only_staff_cannot_add_or_lift(client):
    opt_out = record_opt_out("sms", NUMBER, "stop_keyword")
    logged_in(client, "view_optout")

    assert client.get(f"{BASE}/add/").status_code == 403
    assert add(client).status_code == 403
    listing = client.get(f"{BASE}/")
    assert "lift_selected" not in listing.content.decode()
    lift(client, opt_out)

    assert is_opted_out("sms", NUMBER)
    assert OptOut.objects.count() == 1


def test_the_change_permission_lifts_selected_opt_outs_and_records_who(client):
    sms = record_opt_out("sms", NUMBER, "staff")
    email = record_opt_out("email", "a@example.com", "email_bounce")
    kept = record_opt_out("sms", "+447700900103", "staff")
    lifter = logged_in(client, *LIFTER)

    response = lift(client, sms, email)

    assert response.status_code == 302
    assert not is_opted_out("sms", NUMBER)
    assert not is_opted_out("email", "a@example.com")
    assert is_opted_out("sms", kept.address)
    assert set(LogEntry.objects.values_list("object_id", "user")) == {
        (str(sms.pk), lifter.pk),
        (str(email.pk), lifter.pk),
    }
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert texts == ["Lifted 2 opt-outs: messages to those addresses are sent again."]


def test_lifting_a_stop_warns_that_twilio_still_refuses(client):
    stop = record_opt_out("sms", NUMBER, "stop_keyword")
    logged_in(client, *LIFTER)
    response = lift(client, stop)
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("until the customer replies START" in text for text in texts)


def test_a_saved_opt_out_is_read_only_even_with_the_change_permission(client):
    asked = InboundMessage.objects.create(
        channel="sms",
        from_address=NUMBER,
        to_address="+15005550006",
        body="STOP",
        gateway_message_id="SM" + "5" * 32,
    )
    opt_out = record_opt_out("sms", NUMBER, "stop_keyword", inbound_message=asked)
    logged_in(client, *LIFTER)

    page = client.get(f"{BASE}/{opt_out.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="address"' not in html
    assert f"/admin/chargesol_notifications/inboundmessage/{asked.pk}/change/" in html
    assert client.post(f"{BASE}/{opt_out.pk}/change/", {"address": "+1"}).status_code == 403
    assert OptOut.objects.get().address == NUMBER


def test_nobody_deletes_an_opt_out(admin_client):
    opt_out = record_opt_out("sms", NUMBER, "staff")
    assert admin_client.get(f"{BASE}/{opt_out.pk}/delete/").status_code == 403
    assert "delete_selected" not in admin_client.get(f"{BASE}/").content.decode()


# -- the list ------------------------------------------------------------------------------


@pytest.mark.parametrize("term", ["07700 900102", "+44 7700 900102", f"whatsapp:{NUMBER}"])
def test_search_by_number_in_any_format_finds_sms_and_whatsapp(admin_client, term):
    sms = record_opt_out("sms", NUMBER, "staff")
    whatsapp = record_opt_out("whatsapp", f"whatsapp:{NUMBER}", "stop_keyword")
    record_opt_out("sms", "+447700900103", "staff")
    response = admin_client.get(f"{BASE}/", {"q": term})
    assert set(response.context["cl"].result_list) == {sms, whatsapp}


def test_search_by_email_and_filter_by_state(admin_client):
    email = record_opt_out("email", "freya@example.com", "email_bounce")
    record_opt_out("sms", NUMBER, "staff")
    lift_opt_out("sms", NUMBER)
    by_email = admin_client.get(f"{BASE}/", {"q": "Freya@Example.com"})
    assert list(by_email.context["cl"].result_list) == [email]
    active = admin_client.get(f"{BASE}/", {"state": "active"})
    assert list(active.context["cl"].result_list) == [email]
    lifted = admin_client.get(f"{BASE}/", {"state": "lifted"})
    assert [o.address for o in lifted.context["cl"].result_list] == [NUMBER]


def test_changelist_queries_do_not_grow_with_rows(admin_client):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert admin_client.get(f"{BASE}/").status_code == 200
        return len(queries.captured_queries)

    record_opt_out("sms", "+447700900000", "staff", created_by=UserFactory())
    count()
    few = count()
    for n in range(1, 16):
        record_opt_out("sms", f"+4477009000{n:02d}", "staff", created_by=UserFactory())
    assert count() == few
