"""What a template's context becomes: plain data only, by the documented rules."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from chargesol_notifications import notify
from chargesol_notifications.exceptions import InvalidContextError, NotificationError
from chargesol_notifications.models import Notification
from chargesol_notifications.plain_data import (
    PlainList,
    PlainMapping,
    is_sensitive_name,
    model_to_plain,
    plain_context,
    to_plain,
)
from chargesol_notifications.recipient_data import recipient_context
from tests.factories import NotificationTemplateFactory, UserFactory
from tests.testapp.models import Lead, Survey

SCHEDULED = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def customer(db):
    return UserFactory(
        first_name="Freya", last_name="Khan", email="freya@example.com", phone="+447700900102"
    )


@pytest.fixture
def survey(customer):
    lead = Lead.objects.create(customer=customer, postcode="BS1 4DJ", internal_rating=3)
    return Survey.objects.create(
        lead=lead,
        surveyor=customer,
        scheduled_for=SCHEDULED,
        scheduled_day=dt.date(2026, 12, 1),
        status=Survey.Status.DONE,
        notes="Side gate code in the email",
        price=Decimal("149.00"),
        confirmed=True,
        slots=[{"day": "Tue", "hours": [10, 14]}],
        duration=dt.timedelta(hours=1),
        report="reports/1.pdf",
        access_token="tok_live_abc",
        customer_password_hint="dog's name",
        api_key="key_123",
    )


class TestModelInstances:
    def test_fields_are_converted_one_by_one(self, survey):
        plain = model_to_plain(survey)
        assert plain.as_dict() == {
            "id": str(survey.pk),
            "pk": str(survey.pk),
            "scheduled_for": SCHEDULED,
            "scheduled_day": dt.date(2026, 12, 1),
            "status": "done",
            "get_status_display": "Completed",
            "notes": "Side gate code in the email",
            "price": Decimal("149.00"),
            "confirmed": True,
            "slots": [{"day": "Tue", "hours": [10, 14]}],
        }

    @pytest.mark.parametrize(
        ("field", "why"),
        [
            ("lead", "a relation"),
            ("lead_id", "a relation's key"),
            ("surveyor_id", "a relation's key"),
            ("access_token", "sensitive"),
            ("customer_password_hint", "sensitive"),
            ("api_key", "sensitive"),
            ("duration", "a timedelta is not plain data"),
            ("report", "a file"),
        ],
    )
    def test_what_is_left_out(self, survey, field, why):
        assert field not in model_to_plain(survey), why

    def test_notification_context_decides_when_defined(self, survey):
        assert model_to_plain(survey.lead).as_dict() == {
            "postcode": "BS1 4DJ",
            "customer_first_name": "Freya",
        }

    def test_deferred_fields_are_left_out_not_loaded(self, survey, django_assert_num_queries):
        deferred = Survey.objects.only("id", "status").get(pk=survey.pk)
        with django_assert_num_queries(0):
            plain = model_to_plain(deferred)
        assert set(plain) == {"id", "pk", "status", "get_status_display"}

    def test_a_model_in_the_context_renders_its_plain_fields(self, customer, survey, send):
        NotificationTemplateFactory(
            name="survey_sms",
            channel="sms",
            body_template=(
                "Hi {{ recipient.first_name }}, survey {{ survey.get_status_display|lower }} "
                "on {{ survey.scheduled_for|date:'D j M, H:i' }}, £{{ survey.price }} "
                "{{ survey.slots.0.day }} {{ survey.slots.0.hours.1 }}"
            ),
        )
        n = send(customer, "sms", template="survey_sms", context={"survey": survey})
        assert n.body == "Hi Freya, survey completed on Tue 1 Dec, 10:00, £149.00 Tue 14"

    @pytest.mark.parametrize(
        "placeholder",
        [
            "survey.lead",
            "survey.lead.customer.password",
            "survey.lead_id",
            "survey.surveyor",
            "survey.access_token",
            "survey.api_key",
            "survey.duration",
            "survey.objects",
            "survey.save",
            "survey.delete",
            "survey.refresh_from_db",
            "survey.get_next_by_scheduled_for",
            "survey.full_clean",
        ],
    )
    def test_relations_sensitive_fields_and_methods_do_not_render(
        self, customer, survey, placeholder
    ):
        NotificationTemplateFactory(
            name="probe", channel="sms", body_template=f"x{{{{ {placeholder} }}}}"
        )
        with pytest.raises(NotificationError, match="missing from the context"):
            notify(customer, "sms", template="probe", context={"survey": survey})
        assert Notification.objects.count() == 0


class TestValues:
    def test_plain_values_pass_as_they_are(self):
        values = {
            "s": "text",
            "i": 3,
            "f": 2.5,
            "d": Decimal("1.10"),
            "b": False,
            "n": None,
            "date": dt.date(2026, 1, 2),
            "time": dt.time(10, 30),
            "naive": dt.datetime(2026, 1, 2, 3, 4),
            "list": [1, "a"],
            "tuple": (1, 2),
            "dict": {"k": [1, {"x": "y"}]},
        }
        plain = plain_context(values)
        assert plain.as_dict() == {**values, "tuple": [1, 2]}
        assert isinstance(plain["list"], PlainList)
        assert isinstance(plain["dict"], PlainMapping)

    def test_string_subclasses_and_lazy_strings_become_str(self):
        plain = plain_context(
            {
                "safe": mark_safe("<b>"),
                "lazy": gettext_lazy("Completed"),
                "choice": Survey.Status.DONE,
            }
        )
        assert plain.as_dict() == {"safe": "<b>", "lazy": "Completed", "choice": "done"}
        assert all(type(value) is str for value in plain.values())

    def test_aware_datetimes_keep_the_instant_with_a_fixed_offset(self):
        london = dt.datetime(2026, 7, 1, 10, 0, tzinfo=ZoneInfo("Europe/London"))
        converted = to_plain(london)
        assert converted == london
        assert converted.tzinfo is dt.UTC

    @pytest.mark.parametrize(
        ("context", "where"),
        [
            ({"obj": object()}, "'obj'"),
            ({"uuid": uuid.uuid4()}, "'uuid'"),
            ({"raw": b"bytes"}, "'raw'"),
            ({"tags": {"a", "b"}}, "'tags'"),
            ({"callback": print}, "'callback'"),
            ({"delta": dt.timedelta(1)}, "'delta'"),
            ({"nested": {"deeper": [1, object()]}}, "'nested.deeper.1'"),
            ({"users": Notification.objects.all()}, "'users'"),
            ({"manager": Notification.objects}, "'manager'"),
            ({"settings": __import__("django.conf").conf.settings}, "'settings'"),
        ],
    )
    def test_anything_else_is_refused_naming_where(self, context, where):
        with pytest.raises(InvalidContextError, match=where):
            plain_context(context)

    @pytest.mark.parametrize(
        ("context", "match"),
        [
            ({"long": "x" * 100_001}, "characters long"),
            ({"nul": "a\x00b"}, "NUL"),
            ({"surrogate": "a\ud800b"}, "lone surrogate"),
            ({"big": 10**60}, "digits"),
            ({"big": Decimal("1e999999")}, "Decimal"),
            ({"many": list(range(1001))}, "holds 1,001 items"),
            ({"deep": [[[[[[[[[[1]]]]]]]]]]}, "nested more than 8"),
            ({1: "x"}, "keys must be strings"),
            ({"d": {1: "x"}}, "keys must be strings"),
            ({f"k{n}": list(range(1000)) for n in range(11)}, "more than 10,000 items"),
        ],
    )
    def test_sizes_and_unusable_text_are_bounded(self, context, match):
        with pytest.raises(InvalidContextError, match=match):
            plain_context(context)

    def test_the_callers_data_is_not_touched_and_cannot_be_changed(self):
        data = {"items": [1, 2], "person": {"name": "Ann"}}
        plain = plain_context(data)
        with pytest.raises(TypeError):
            plain["person"]["name"] = "Bob"  # type: ignore[index]
        assert not hasattr(plain["person"], "clear")
        assert not hasattr(plain["items"], "pop")
        assert data == {"items": [1, 2], "person": {"name": "Ann"}}

    def test_notify_refuses_a_bad_context_and_writes_nothing(self, customer, send):
        NotificationTemplateFactory(name="t", channel="sms", body_template="Hi")
        with pytest.raises(InvalidContextError, match="'survey'"):
            notify(customer, "sms", template="t", context={"survey": object()})
        assert Notification.objects.count() == 0


class TestRecipient:
    def test_default_attributes(self, customer):
        assert recipient_context(customer).as_dict() == {
            "first_name": "Freya",
            "last_name": "Khan",
            "full_name": "Freya Khan",
            "get_full_name": "Freya Khan",
            "short_name": "Freya",
            "get_short_name": "Freya",
            "email": "freya@example.com",
            "phone": "+447700900102",
        }

    @pytest.mark.parametrize(
        "attribute",
        [
            "password",
            "is_superuser",
            "is_staff",
            "groups",
            "user_permissions",
            "last_login",
            "_state",
            "session_hash",
            "get_session_auth_hash",
        ],
    )
    def test_the_password_permissions_and_relations_never_render(self, customer, send, attribute):
        NotificationTemplateFactory(
            name="probe", channel="sms", body_template=f"x{{{{ recipient.{attribute} }}}}"
        )
        with pytest.raises(NotificationError):
            notify(customer, "sms", template="probe")
        assert Notification.objects.count() == 0

    def test_configured_attributes(self, customer, settings):
        settings.CHARGESOL_NOTIFICATIONS = {
            "QUIET_HOURS": None,
            "RECIPIENT_CONTEXT": {"name": "get_short_name", "login": "username"},
        }
        assert recipient_context(customer).as_dict() == {
            "name": "Freya",
            "login": customer.username,
        }

    @pytest.mark.parametrize("attribute", ["password", "is_superuser", "groups", "api_key"])
    def test_configuring_a_sensitive_attribute_is_a_configuration_error(
        self, customer, settings, attribute
    ):
        settings.CHARGESOL_NOTIFICATIONS = {"QUIET_HOURS": None, "RECIPIENT_CONTEXT": [attribute]}
        with pytest.raises(ImproperlyConfigured, match="RECIPIENT_CONTEXT"):
            recipient_context(customer)

    def test_configuring_a_relation_is_a_configuration_error(self, customer, settings):
        settings.CHARGESOL_NOTIFICATIONS = {"QUIET_HOURS": None, "RECIPIENT_CONTEXT": ["leads"]}
        with pytest.raises(ImproperlyConfigured, match="not plain data"):
            recipient_context(customer)


@pytest.mark.parametrize(
    ("name", "sensitive"),
    [
        ("password", True),
        ("access_token", True),
        ("api_key", True),
        ("apikey", True),
        ("client_secret", True),
        ("password_hash", True),
        ("session_key", True),
        ("pin", True),
        ("first_name", False),
        ("postcode", False),
        ("shipping_address", False),
        ("monkey_count", False),
    ],
)
def test_sensitive_names(name, sensitive):
    assert is_sensitive_name(name) is sensitive
