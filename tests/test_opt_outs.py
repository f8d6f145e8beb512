"""The opt-out list's service functions (opt_outs.py)."""

from __future__ import annotations

import pytest

from chargesol_notifications.models import OptOut
from chargesol_notifications.opt_outs import (
    is_opted_out,
    lift_opt_out,
    opted_out,
    record_opt_out,
)

pytestmark = pytest.mark.django_db


def test_record_lift_and_record_again():
    first = record_opt_out("sms", "+447700900102", "stop_keyword", detail="Replied STOP")
    assert is_opted_out("sms", "+447700900102")
    assert not is_opted_out("whatsapp", "whatsapp:+447700900102")
    again = record_opt_out("sms", "+447700900102", "gateway_refused")
    assert (again.pk, again.reason) == (first.pk, "stop_keyword")  # the first reason stays
    assert lift_opt_out("sms", "+447700900102")
    assert not is_opted_out("sms", "+447700900102")
    assert not lift_opt_out("sms", "+447700900102")
    back = record_opt_out("sms", "+447700900102", "staff")
    assert (back.pk, back.reason, back.lifted_at) == (first.pk, "staff", None)
    assert OptOut.objects.count() == 1


def test_emails_are_compared_in_lower_case():
    record_opt_out("email", "Freya.Khan@Example.com ", "email_bounce")
    assert is_opted_out("email", "freya.khan@example.com")


def test_one_query_for_many_pairs(django_assert_num_queries):
    record_opt_out("sms", "+447700900102", "staff")
    record_opt_out("email", "a@example.com", "staff")
    pairs = [("sms", "+447700900102"), ("sms", "+447700900103"), ("email", "A@example.com")]
    with django_assert_num_queries(1):
        found = opted_out(pairs)
    assert found == {("sms", "+447700900102"), ("email", "a@example.com")}
    with django_assert_num_queries(0):
        assert opted_out([]) == set()
