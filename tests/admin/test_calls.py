"""The call log admin: calls logged by hand, read-only logs, the changelist, click-to-call."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chargesol_notifications.admin.call_filters import MAX_CALLERS
from chargesol_notifications.choices import ContextType
from chargesol_notifications.models import CallLog

from ..factories import CallLogFactory, NotificationFactory, UserFactory
from .conftest import staff_user

pytestmark = pytest.mark.django_db

BASE = "/admin/chargesol_notifications/calllog"
CALL_URL = f"{BASE}/call/"
CLERK = ("view_calllog", "add_calllog")
CALLER = ("view_calllog", "place_call", "view_notification")


def logged_in(client, *codenames, **fields):
    user = staff_user(*codenames, **fields)
    client.force_login(user)
    return user


def manual_call(**changes):
    return {
        "callee_phone": "07700 900102",
        "call_type": "survey_confirmation",
        "context_type": "survey",
        "context_id": str(uuid.uuid4()),
        "outcome": "connected",
        "duration": "4:05",
        "notes": "Confirmed Tuesday 10am",
    } | changes


def result_count(client, **params):
    response = client.get(f"{BASE}/", params)
    assert response.status_code == 200
    return response.context["cl"].result_count


# -- a call logged by hand -----------------------------------------------------------------


def test_the_add_form_offers_context_types_and_no_caller_select(client):
    logged_in(client, *CLERK, first_name="Freya", last_name="Khan")
    page = client.get(f"{BASE}/add/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    assert list(form.fields["context_type"].choices)[1:] == list(ContextType.choices)
    html = page.content.decode()
    assert 'name="caller"' not in html
    assert "You, Freya Khan, are recorded as the caller." in html


def test_a_call_added_by_hand_is_stored_normalised_with_the_signed_in_caller(client):
    clerk = logged_in(client, *CLERK)
    data = manual_call()
    response = client.post(f"{BASE}/add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    call_log = CallLog.objects.get()
    assert call_log.callee_phone == "+447700900102"
    assert call_log.caller == clerk
    assert (call_log.context_type, str(call_log.context_id)) == ("survey", data["context_id"])
    assert (call_log.outcome, call_log.duration_seconds) == ("connected", 245)
    assert call_log.notes == "Confirmed Tuesday 10am"


def test_a_posted_caller_is_ignored(client):
    clerk = logged_in(client, *CLERK)
    someone_else = UserFactory()
    client.post(f"{BASE}/add/", manual_call(caller=someone_else.pk))
    assert CallLog.objects.get().caller == clerk


@pytest.mark.parametrize(
    ("typed", "seconds"), [("4:05", 245), ("245", 245), ("0:07", 7), ("", None)]
)
def test_duration_as_minutes_and_seconds_or_seconds(client, typed, seconds):
    logged_in(client, *CLERK)
    client.post(f"{BASE}/add/", manual_call(duration=typed))
    assert CallLog.objects.get().duration_seconds == seconds


BAD_INPUT = {
    "too short": ("callee_phone", "077"),
    "letters": ("callee_phone", "+44 call me"),
    "an extension": ("callee_phone", "07700 900102 ext. 5"),
    "no number": ("callee_phone", ""),
    "context type not a choice": ("context_type", "quote"),
    "no context id": ("context_id", ""),
    "context id not a uuid": ("context_id", "lead-7"),
    "seconds past 59": ("duration", "4:75"),
    "duration in words": ("duration", "four minutes"),
    "no outcome": ("outcome", ""),
}


@pytest.mark.parametrize(("field", "value"), list(BAD_INPUT.values()), ids=list(BAD_INPUT))
def test_bad_input_is_a_field_error_and_writes_nothing(client, field, value):
    logged_in(client, *CLERK)
    response = client.post(f"{BASE}/add/", manual_call(**{field: value}))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert CallLog.objects.count() == 0


def test_a_view_only_user_cannot_add(client, view_only_staff):
    client.force_login(view_only_staff)
    CallLogFactory()
    changelist = client.get(f"{BASE}/").content.decode()
    assert f"{BASE}/add/" not in changelist
    assert client.get(f"{BASE}/add/").status_code == 403
    assert client.post(f"{BASE}/add/", manual_call()).status_code == 403
    assert CallLog.objects.count() == 1


# -- a saved call log is read-only and never deleted ---------------------------------------


def test_a_saved_call_log_is_read_only_even_for_superusers(admin_client):
    call_log = CallLogFactory(notes="as logged")
    url = f"{BASE}/{call_log.pk}/change/"
    page = admin_client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html
    assert "<textarea" not in html
    assert 'name="callee_phone"' not in html
    assert "1:35" in html  # its duration, read-only too
    response = admin_client.post(url, manual_call(notes="rewritten"))
    assert response.status_code == 403
    call_log.refresh_from_db()
    assert call_log.notes == "as logged"


def test_nobody_deletes_a_call_log(client):
    logged_in(client, "view_calllog", "delete_calllog")
    call_log = CallLogFactory()
    url = f"{BASE}/{call_log.pk}/delete/"
    assert client.get(url).status_code == 403
    assert client.post(url, {"post": "yes"}).status_code == 403
    client.post(
        f"{BASE}/",
        {"action": "delete_selected", "_selected_action": [str(call_log.pk)], "post": "yes"},
    )
    assert CallLog.objects.filter(pk=call_log.pk).exists()


# -- the changelist ------------------------------------------------------------------------


def test_duration_is_shown_as_minutes_and_seconds(admin_client):
    CallLogFactory(duration_seconds=245)
    CallLogFactory(duration_seconds=None, outcome="")
    response = admin_client.get(f"{BASE}/")
    html = response.content.decode()
    assert '<td class="field-duration">4:05</td>' in html
    assert '<td class="field-duration">-</td>' in html


def test_filters_by_call_type_outcome_and_date(admin_client):
    CallLogFactory(call_type="emergency", outcome="busy")
    CallLogFactory(call_type="introductory", outcome="connected")
    old = CallLogFactory(call_type="introductory", outcome="no_answer")
    CallLog.objects.filter(pk=old.pk).update(called_at=timezone.now() - datetime.timedelta(days=40))
    assert result_count(admin_client, call_type__exact="introductory") == 2
    assert result_count(admin_client, outcome__exact="busy") == 1
    # As the filter's "Past 7 days" link writes it: an aware datetime.
    since = {"called_at__gte": str(timezone.now() - datetime.timedelta(days=7))}
    assert result_count(admin_client, **since) == 2
    assert result_count(admin_client, context_type="survey") == 3
    assert result_count(admin_client, context_type="payment") == 0


def test_the_caller_filter_me_and_recent_callers(client):
    me = logged_in(client, "view_calllog", username="me")
    freya = UserFactory(username="freya", first_name="Freya", last_name="Khan")
    CallLogFactory(caller=me)
    CallLogFactory.create_batch(2, caller=freya)
    assert result_count(client, caller="me") == 1
    assert result_count(client, caller=str(freya.pk)) == 2
    # A caller id that is not one sends the changelist back with ?e=1, as Django does.
    assert client.get(f"{BASE}/", {"caller": "nobody"}).status_code == 302


def caller_choices(client, **params):
    response = client.get(f"{BASE}/", params)
    specs = response.context["cl"].filter_specs
    (spec,) = [s for s in specs if getattr(s, "parameter_name", "") == "caller"]
    return [label for value, label in spec.lookup_choices]


def test_the_caller_filter_lists_only_recent_callers_and_a_bounded_number(client):
    logged_in(client, "view_calllog")
    UserFactory.create_batch(30)  # users who made no calls are never listed
    callers = UserFactory.create_batch(MAX_CALLERS + 5)
    for caller in callers:
        CallLogFactory(caller=caller)
    choices = caller_choices(client)
    assert choices[0] == "Me"
    assert len(choices) == 1 + MAX_CALLERS
    listed = set(choices[1:])
    assert listed <= {caller.get_full_name() for caller in callers}
    # A caller chosen by link is listed, so the filter shows what is applied.
    oldest = callers[0]
    assert oldest.get_full_name() not in listed
    assert oldest.get_full_name() in caller_choices(client, caller=str(oldest.pk))


def test_the_caller_filter_costs_the_same_however_many_users(client):
    logged_in(client, "view_calllog")
    CallLogFactory()

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"{BASE}/").status_code == 200
        return len(ctx.captured_queries)

    few = queries()
    UserFactory.create_batch(40)
    for caller in UserFactory.create_batch(10):
        CallLogFactory(caller=caller)
    assert queries() == few


def bulk_call_logs(count):
    callers = UserFactory.create_batch(5)
    CallLog.objects.bulk_create(
        CallLogFactory.build(caller=callers[i % len(callers)], duration_seconds=i)
        for i in range(count)
    )


def test_changelist_queries_are_the_same_for_10_and_500_call_logs(admin_client):
    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(f"{BASE}/").status_code == 200
        return len(ctx.captured_queries)

    bulk_call_logs(10)
    few = queries()
    bulk_call_logs(490)
    assert CallLog.objects.count() == 500
    assert queries() == few


# -- search --------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["07700 900102", "+44 7700 900102", "447700900102"])
def test_search_by_number_in_any_format(admin_client, typed):
    wanted = CallLogFactory(callee_phone="+447700900102")
    CallLogFactory(callee_phone="+447700900103")
    assert 'id="searchbar"' in admin_client.get(f"{BASE}/").content.decode()
    response = admin_client.get(f"{BASE}/", {"q": typed})
    assert list(response.context["cl"].result_list) == [wanted]


def test_search_by_number_is_an_exact_match_on_the_column(admin_client):
    CallLogFactory(callee_phone="+447700900102")
    with CaptureQueriesContext(connection) as ctx:
        admin_client.get(f"{BASE}/", {"q": "07700 900102"})
    where = [q["sql"].split("WHERE", 1)[-1] for q in ctx.captured_queries]
    searches = [sql for sql in where if "callee_phone" in sql]
    assert searches
    assert not any("LIKE" in sql.upper() for sql in searches)


def test_search_by_context_id(admin_client):
    wanted = CallLogFactory()
    CallLogFactory()
    response = admin_client.get(f"{BASE}/", {"q": str(wanted.context_id)})
    assert list(response.context["cl"].result_list) == [wanted]


def test_search_by_caller_username_or_email(admin_client):
    wanted = CallLogFactory(caller=UserFactory(username="niamh", email="niamh@chargesol.test"))
    CallLogFactory()
    for term in ("niamh", "NIAMH@chargesol.test"):
        response = admin_client.get(f"{BASE}/", {"q": term})
        assert list(response.context["cl"].result_list) == [wanted], term


@pytest.mark.parametrize(
    "term",
    ["lead-7", "not-a-uuid-3fa85f64", "'; DROP TABLE x; --", "%", "=", "+", "é" * 300],
)
def test_search_for_garbage_finds_nothing_and_does_not_crash(admin_client, term):
    CallLogFactory()
    response = admin_client.get(f"{BASE}/", {"q": term})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 0


def test_a_search_term_with_a_nul_is_refused_by_the_search_form(admin_client):
    response = admin_client.get(f"{BASE}/", {"q": "0770\x00"})
    assert response.status_code == 200
    assert "Null characters are not allowed" in response.content.decode()


# -- click-to-call -------------------------------------------------------------------------


def test_the_call_button_needs_place_call(client):
    call_log = CallLogFactory()
    logged_in(client, *CALLER)
    assert (
        f"{CALL_URL}?call_log={call_log.pk}"
        in client.get(f"{BASE}/{call_log.pk}/change/").content.decode()
    )
    logged_in(client, "view_calllog", "add_calllog")
    page = client.get(f"{BASE}/{call_log.pk}/change/").content.decode()
    assert CALL_URL not in page


def test_the_call_view_answers_403_without_place_call(client, standin):
    call_log = CallLogFactory()
    logged_in(client, "view_calllog", "add_calllog", "view_notification")
    assert client.get(CALL_URL, {"call_log": call_log.pk}).status_code == 403
    data = {
        "callee_phone": "+447700900102",
        "call_type": "introductory",
        "context_type": "lead",
        "context_id": str(uuid.uuid4()),
    }
    assert client.post(CALL_URL, data).status_code == 403
    assert CallLog.objects.count() == 1
    assert standin.calls == []


def test_calling_a_logged_number_again_through_twilio(
    client, standin, django_capture_on_commit_callbacks
):
    earlier = CallLogFactory(callee_phone="+447700900102", call_type="reschedule")
    me = logged_in(client, *CALLER, phone="07700 900999")
    page = client.get(CALL_URL, {"call_log": earlier.pk})
    assert page.status_code == 200
    form = page.context["form"]
    assert form.initial["callee_phone"] == "+447700900102"
    assert form.initial["context_id"] == earlier.context_id
    assert "your phone, +447700900999" in page.content.decode()
    data = {
        "callee_phone": "07700 900102",
        "call_type": "reschedule",
        "context_type": earlier.context_type,
        "context_id": str(earlier.context_id),
        "notes": "Customer asked to move the survey",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{CALL_URL}?call_log={earlier.pk}", data)
    new = CallLog.objects.exclude(pk=earlier.pk).get()
    assert response.status_code == 302
    assert response["Location"] == f"{BASE}/{new.pk}/change/"
    assert (new.caller, new.callee_phone, new.call_type) == (me, "+447700900102", "reschedule")
    assert new.context_id == earlier.context_id
    (call,) = standin.calls
    assert call.to == "+447700900102"
    assert str(new.pk) in call.url
    (message,) = get_messages(response.wsgi_request)
    assert "+447700900102" in str(message)


def test_calling_the_recipient_of_a_notification(
    client, standin, django_capture_on_commit_callbacks
):
    notification = NotificationFactory(
        recipient=UserFactory(phone="07700 900555"), context_type="installation"
    )
    logged_in(client, *CALLER)
    page = client.get(CALL_URL, {"notification": notification.pk})
    assert page.status_code == 200
    initial = page.context["form"].initial
    assert initial == {
        "callee_phone": "+447700900555",
        "context_type": "installation",
        "context_id": notification.context_id,
    }
    data = {**initial, "call_type": "installation_confirmation"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{CALL_URL}?notification={notification.pk}", data)
    assert response.status_code == 302
    call_log = CallLog.objects.get()
    assert (call_log.context_type, call_log.context_id) == ("installation", notification.context_id)
    assert [call.to for call in standin.calls] == ["+447700900555"]


def test_a_caller_without_a_phone_gets_a_form_error_and_nothing_is_written(
    client, standin, django_capture_on_commit_callbacks
):
    logged_in(client, *CALLER, phone="")
    data = {
        "callee_phone": "+447700900102",
        "call_type": "introductory",
        "context_type": "lead",
        "context_id": str(uuid.uuid4()),
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(CALL_URL, data)
    assert response.status_code == 200
    assert "no phone number" in " ".join(response.context["form"].non_field_errors())
    assert CallLog.objects.count() == 0
    assert standin.calls == []


def test_an_invalid_number_to_call_is_a_field_error(client, standin):
    logged_in(client, *CALLER)
    data = {
        "callee_phone": "+4412",
        "call_type": "introductory",
        "context_type": "lead",
        "context_id": str(uuid.uuid4()),
    }
    response = client.post(CALL_URL, data)
    assert response.status_code == 200
    assert "callee_phone" in response.context["form"].errors
    assert CallLog.objects.count() == 0
    assert standin.calls == []


@pytest.mark.parametrize("source", ["call_log", "notification"])
@pytest.mark.parametrize("value", ["not-a-uuid", "3fa85f64-5717-4562-b3fc-2c963f66afa6"])
def test_an_unknown_source_is_404(client, source, value):
    logged_in(client, *CALLER)
    assert client.get(CALL_URL, {source: value}).status_code == 404


def test_a_source_the_user_may_not_see_is_refused(client):
    notification = NotificationFactory()
    logged_in(client, "view_calllog", "place_call")
    assert client.get(CALL_URL, {"notification": notification.pk}).status_code == 403
