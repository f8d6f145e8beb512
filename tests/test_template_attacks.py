"""Templates written by a hostile member of staff: every attack fails safely.

Refused when the template is saved where that can be known then (``full_clean()``, as
the admin runs it), and refused by ``notify()`` always, with nothing written and the
caller's objects unchanged.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection

from chargesol_notifications import notify
from chargesol_notifications.exceptions import NotificationError, TemplateRenderError
from chargesol_notifications.models import Notification, NotificationTemplate
from chargesol_notifications.rendering import render_text
from tests.factories import UserFactory
from tests.testapp.models import Lead, Survey

pytestmark = pytest.mark.django_db

LONG = "x" * 100_000


@pytest.fixture
def victim():
    user = UserFactory(first_name="Freya", phone="+447700900102")
    user.set_password("correct horse battery staple")
    user.save()
    group = Group.objects.create(name="customers")
    user.groups.add(group)
    UserFactory(username="other", email="other@example.com").groups.add(group)
    return user


@pytest.fixture
def survey(victim):
    lead = Lead.objects.create(customer=victim, postcode="BS1 4DJ")
    return Survey.objects.create(
        lead=lead, scheduled_for=dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC), access_token="t"
    )


def saved_template(body: str, channel: str = "sms") -> NotificationTemplate:
    """Store the template without the model's checks, as a database edit would."""
    return NotificationTemplate.objects.create(name="attack", channel=channel, body_template=body)


def refused_at_save(body: str) -> ValidationError:
    template = NotificationTemplate(name="attack", channel="sms", body_template=body)
    with pytest.raises(ValidationError) as excinfo:
        template.full_clean()
    return excinfo.value


def refused_at_send(user, body: str, context: dict | None = None, channel: str = "sms") -> str:
    saved_template(body, channel)
    with pytest.raises(NotificationError) as excinfo:
        notify(user, channel, template="attack", context=context or {})
    assert Notification.objects.count() == 0
    return str(excinfo.value)


# Routes from an object in the context to the settings, the os module or other users'
# rows. With plain data none of them has a first step; each must fail at send.
ROUTES_OUT = [
    "recipient.groups.all.query.get_meta.app_config.module.settings.SECRET_KEY",
    "recipient.groups.0.user_set.all",
    "recipient.password",
    "recipient.get_session_auth_hash",
    "recipient.check_password",
    "recipient.user_permissions.all",
    "recipient.get_all_permissions",
    "recipient.is_superuser",
    "recipient.objects.all",
    "recipient.leads.all.0.surveys.all",
    "recipient.email_user",
    "survey.lead.customer.password",
    "survey.lead.customer.groups.all",
    "survey.objects.model.objects.all",
    "survey.get_deferred_fields",
    "survey.serializable_value",
    "survey.access_token",
    "content_type.model_class.objects.all",
    "content_type.get_all_objects_for_this_type",
    "content_type.model_class",
    "data.items.mapping",
    "data.keys.mapping",
    "items.index",
]
# Starting with an underscore is refused by Django's parser: these fail at save.
PRIVATE_ROUTES = [
    "recipient._meta",
    "recipient.__class__",
    "survey._meta.apps",
    "survey._state.db",
    "content_type._meta.app_config.module",
    "data._data",
    "recipient.__init__.__globals__",
]


@pytest.mark.parametrize("route", ROUTES_OUT)
def test_no_route_out_of_the_context_renders(victim, survey, route):
    context = {
        "survey": survey,
        "content_type": ContentType.objects.get_for_model(Survey),
        "data": {"a": 1},
        "items": [1, 2],
    }
    message = refused_at_send(victim, f"x {{{{ {route} }}}} y", context)
    assert "missing from the context" in message or "has no value" in message


@pytest.mark.parametrize("route", PRIVATE_ROUTES)
def test_private_attributes_are_refused_at_save_and_send(victim, survey, route):
    body = f"{{{{ {route} }}}}"
    assert "underscore" in str(refused_at_save(body))
    assert "underscore" in refused_at_send(victim, body, {"survey": survey, "data": {}})


@pytest.mark.parametrize(
    "body",
    [
        "{{ recipient.set_unusable_password }}",
        "{{ recipient.set_password }}",
        "{{ recipient.delete }}",
        "{{ recipient.save }}",
        "{{ survey.delete }}",
        "{{ survey.lead.delete }}",
        "{{ data.clear }}{{ data.popitem }}",
        "{{ items.clear }}{{ items.pop }}{{ items.reverse }}",
    ],
)
def test_the_callers_objects_cannot_be_changed(victim, survey, body):
    data, items = {"a": 1}, [1, 2]
    refused_at_send(victim, body, {"survey": survey, "data": data, "items": items})
    victim.refresh_from_db()
    assert victim.check_password("correct horse battery staple")
    assert Survey.objects.filter(pk=survey.pk).exists()
    assert Lead.objects.filter(pk=survey.lead_id).exists()
    assert (data, items) == ({"a": 1}, [1, 2])


# Filters whose argument allocates: a literal one is refused at save.
ALLOCATING = [
    '{{ x|ljust:"9999999999" }}',
    '{{ x|rjust:"9999999999" }}',
    '{{ x|center:"9999999999" }}',
    '{{ x|stringformat:"0999999999d" }}',
    '{{ x|stringformat:"-9999999s" }}',
    '{{ 1.5|floatformat:"999999999" }}',
    '{{ 1.5|floatformat:"-99999u" }}',
    '{{ x|truncatechars:"99999999999999" }}',
    '{{ x|truncatewords:"99999999999999" }}',
    '{{ x|wordwrap:"99999999999999" }}',
    '{% with y=x|ljust:"1000001" %}{% endwith %}',
    '{% if x|center:"5000000" %}{% endif %}',
    '{% for c in x|rjust:"5000000" %}{% endfor %}',
]


@pytest.mark.parametrize("body", ALLOCATING)
def test_allocating_filter_arguments_are_refused_at_save_and_send(victim, body):
    assert "over the limit" in str(refused_at_save(body))
    assert "over the limit" in refused_at_send(victim, body, {"x": "a"})


@pytest.mark.parametrize(
    "body",
    [
        "{{ x|ljust:width }}",
        "{{ x|stringformat:width }}",
        "{% if x|center:width == 'a' %}{% endif %}",  # {% if %} swallows exceptions
        "{% firstof x|rjust:width 'b' %}",
        "{% with y=x|ljust:width %}{{ y|length }}{% endwith %}",
    ],
)
def test_allocating_arguments_from_the_context_are_refused_at_send(victim, body):
    message = refused_at_send(victim, body, {"x": "a", "width": "9999999999"})
    assert "render budget" in message


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # CPU: nested loops over strings and lists.
        (
            "{% for a in s %}{% for b in s %}{% for c in s %}{% endfor %}{% endfor %}{% endfor %}",
            "loop iterations",
        ),
        ("{% for a in items %}{% for b in items %}{% endfor %}{% endfor %}", "loop iterations"),
        (
            "{% for a in items %}{% for b in s %}{% if b %}{% endif %}{% endfor %}{% endfor %}",
            "loop iterations",
        ),
        ("{% for a in items %}{% for b in items %}x{% endfor %}{% endfor %}", "characters"),
        # Memory: values doubled through nested {% with %}.
        (
            "{% with a=long|add:long %}{% with b=a|add:a %}{% with c=b|add:b %}{{ c|length }}"
            "{% endwith %}{% endwith %}{% endwith %}",
            "returned",
        ),
        ("{{ long|add:long|add:long }}", "returned"),
        # Output: a loop that prints a long value again and again.
        ("{% for c in s %}{{ long }}{% endfor %}", "characters"),
        ("{% for c in items %}{{ s }}{% endfor %}", "characters"),
        # Filter work that never reaches the output.
        ("{% for c in items %}{% if long|upper == 'x' %}{% endif %}{% endfor %}", "filters"),
        ("{% for c in items %}{% with u=long|lower %}{% endwith %}{% endfor %}", "filters"),
        ("{% for c in s %}{% ifchanged long|title %}{% endifchanged %}{% endfor %}", "filters"),
    ],
)
def test_memory_and_cpu_blow_ups_stop_at_the_budget(victim, body, reason):
    context = {"s": "y" * 1_000, "items": list(range(1_000)), "long": LONG}
    message = refused_at_send(victim, body, context)
    assert "render budget" in message
    assert reason in message


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{% if a %}" * 40 + "x" + "{% endif %}" * 40, "nested more than 16"),
        ("{% if " + "not " * 5_000 + "a %}x{% endif %}", "too deeply"),
        ("{% for a in b %}" * 30 + "{% endfor %}" * 30, "nested more than 16"),
        ("x" * 50_001, "at most 50,000"),
        ("Hi\x00there", "NUL"),
        ("{{ x|urlize }}", "Invalid filter"),
        ("{{ x|unordered_list }}", "Invalid filter"),
        ("{{ x|pprint }}", "Invalid filter"),
        ("{{ x|striptags }}", "Invalid filter"),
    ],
)
def test_deep_recursion_and_unsafe_filters_are_refused_at_save_and_send(victim, body, reason):
    assert reason in str(refused_at_save(body))
    context = {"x": "a", "a": 1, "b": [1]}
    if "\x00" in body and connection.vendor == "postgresql":
        # PostgreSQL cannot store the NUL at all; the render refuses it all the same.
        with pytest.raises(TemplateRenderError, match=reason):
            render_text(body, context, label="attack")
        return
    assert reason in refused_at_send(victim, body, context)


@pytest.mark.parametrize(
    ("channel", "limit"), [("sms", 1_600), ("whatsapp", 1_600), ("push", 4_000)]
)
def test_the_output_may_not_pass_the_channels_limit(victim, channel, limit):
    body = "{{ text }}"
    fits = notify(
        victim, channel, template=saved_template(body, channel), context={"text": "a" * limit}
    )
    assert len(fits.body) == limit
    Notification.objects.all().delete()
    with pytest.raises(TemplateRenderError, match=f"at most {limit:,}"):
        notify(victim, channel, template="attack", context={"text": "a" * (limit + 1)})
    assert Notification.objects.count() == 0


def test_a_legitimate_loop_renders(victim):
    saved_template(
        "Areas: {% for area in areas %}{{ area.name|upper }}{% if not forloop.last %}, "
        "{% endif %}{% endfor %}"
    )
    areas = [{"name": f"area {n}"} for n in range(200)]
    n = notify(victim, "sms", template="attack", context={"areas": areas[:100]})
    assert n.body.startswith("Areas: AREA 0, AREA 1,")


def test_limits_are_configurable(victim, settings):
    settings.CHARGESOL_NOTIFICATIONS = {"QUIET_HOURS": None, "RENDER_LIMITS": {"MAX_STEPS": 5}}
    saved_template("{% for a in items %}{% endfor %}")
    with pytest.raises(TemplateRenderError, match="more than 5 loop iterations"):
        notify(victim, "sms", template="attack", context={"items": list(range(10))})
