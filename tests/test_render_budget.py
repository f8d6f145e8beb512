"""The render budget: generated templates are rendered within it or refused."""

from __future__ import annotations

from inspect import Parameter, signature, unwrap

import pytest
from django.core.exceptions import ValidationError
from django.template import defaultfilters
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chargesol_notifications.exceptions import TemplateRenderError
from chargesol_notifications.models import NotificationTemplate
from chargesol_notifications.render_budget import RenderLimits, render_limits
from chargesol_notifications.rendering import render_text, validate_template
from chargesol_notifications.template_library import ALLOWED_FILTERS

CONTEXT = {
    "name": "Siobhán O'Brien",
    "long": "word " * 4_000,
    "n": 42,
    "price": 149.5,
    "items": list(range(300)),
    "people": [{"name": f"p{n}", "area": f"a{n % 7}"} for n in range(200)],
    "nested": {"a": {"b": ["x", "y", {"c": "z"}]}},
    "empty": "",
    "none": None,
    "item": "outside any loop",
}
VARIABLES = st.sampled_from(
    ["name", "long", "n", "price", "items", "people", "nested.a.b", "empty", "none", "item"]
)
ARGUMENTS = st.one_of(
    st.sampled_from(['"3"', '"-2"', '"999999999"', '"0999999999d"', '" "', '"a,b"', "n", "long"]),
    st.integers(min_value=-10, max_value=10**12).map(lambda value: f'"{value}"'),
)
FILTERS = st.sampled_from(ALLOWED_FILTERS)


def takes_argument(name: str) -> bool | None:
    """True when the filter needs an argument, None when it may take one, else False."""
    parameters = list(signature(unwrap(defaultfilters.register.filters[name])).parameters.values())
    parameters = [p for p in parameters if p.name != "autoescape"]
    if len(parameters) < 2:
        return False
    return True if parameters[1].default is Parameter.empty else None


CHANNELS = st.sampled_from(["sms", "whatsapp", "push", "email"])


@st.composite
def expressions(draw: st.DrawFn) -> str:
    expression = draw(VARIABLES)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        name = draw(FILTERS)
        needs = takes_argument(name)
        if needs is None:
            argument = draw(st.none() | ARGUMENTS)
        else:
            argument = draw(ARGUMENTS) if needs else None
        expression += f"|{name}" + (f":{argument}" if argument else "")
    return expression


def blocks(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """One tag of the allow-list around generated content."""
    return st.one_of(
        st.tuples(expressions(), children).map(
            lambda p: f"{{% for item in {p[0]} %}}{p[1]}{{% empty %}}-{{% endfor %}}"
        ),
        st.tuples(expressions(), children, children).map(
            lambda p: f"{{% if {p[0]} %}}{p[1]}{{% else %}}{p[2]}{{% endif %}}"
        ),
        st.tuples(expressions(), children).map(
            lambda p: f"{{% with item={p[0]} %}}{p[1]}{{% endwith %}}"
        ),
        st.tuples(FILTERS, children).map(lambda p: f"{{% filter {p[0]} %}}{p[1]}{{% endfilter %}}"),
        children.map(lambda c: f"{{% ifchanged %}}{c}{{% endifchanged %}}"),
        children.map(lambda c: f"{{% spaceless %}}{c}{{% endspaceless %}}"),
    )


LEAVES = st.one_of(
    st.text(alphabet="ab ,.\n{}%", max_size=10).map(
        lambda text: text.replace("{", "(").replace("%", "pct")
    ),
    expressions().map(lambda e: f"{{{{ {e} }}}}"),
    expressions().map(lambda e: f'{{% firstof {e} "fallback" %}}'),
    st.just('{% cycle "a" "b" %}'),
    st.just('{% now "Y" %}'),
    expressions().map(lambda e: f"{{% widthratio n 7 {e} %}}"),
    st.just("{% regroup people by area as groups %}{{ groups|length }}"),
)
TEMPLATES = st.recursive(
    st.lists(LEAVES, max_size=4).map("".join),
    lambda children: st.lists(st.one_of(LEAVES, blocks(children)), min_size=1, max_size=4).map(
        "".join
    ),
    max_leaves=12,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(source=TEMPLATES, channel=CHANNELS)
def test_generated_templates_render_within_the_budget_or_are_refused(source, channel):
    limit = RenderLimits().output_limit(channel)
    template = NotificationTemplate(name="generated", channel=channel, body_template=source)
    try:
        validate_template(template)
        refused_at_save = False
    except ValidationError:
        refused_at_save = True
    try:
        output = render_text(source, CONTEXT, label="generated", channel=channel)
    except TemplateRenderError as exc:
        event("refused: " + ("budget" if "budget" in str(exc) else "other"))
        return
    event("rendered")
    assert not refused_at_save, "a template refused at save rendered"
    assert len(output) <= limit


def test_limits_come_from_the_setting_with_defaults_for_the_rest(settings):
    settings.CHARGESOL_NOTIFICATIONS = {
        "QUIET_HOURS": None,
        "RENDER_LIMITS": {"MAX_STEPS": 50, "MAX_LENGTH": {"sms": 320}},
    }
    limits = render_limits()
    assert limits.max_steps == 50
    assert limits.output_limit("sms") == 320
    assert limits.output_limit("email") == RenderLimits().output_limit("email")


def test_an_unknown_limit_is_a_configuration_error(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.CHARGESOL_NOTIFICATIONS = {"QUIET_HOURS": None, "RENDER_LIMITS": {"MAX_LOOPS": 5}}
    with pytest.raises(ImproperlyConfigured, match="MAX_LOOPS"):
        render_limits()


def test_a_budget_exceeded_inside_an_if_is_not_hidden():
    # Django's {% if %} turns exceptions into False; the budget stays exceeded.
    source = '{% if name|ljust:n2 == "x" %}yes{% else %}no{% endif %}'
    with pytest.raises(TemplateRenderError, match="render budget"):
        render_text(source, {"name": "a", "n2": "5000"}, label="t")


def test_each_render_has_its_own_budget(settings):
    settings.CHARGESOL_NOTIFICATIONS = {"QUIET_HOURS": None, "RENDER_LIMITS": {"MAX_STEPS": 12}}
    source = "{% for i in items %}{% endfor %}"
    for _ in range(5):
        assert render_text(source, {"items": list(range(10))}, label="t") == ""
