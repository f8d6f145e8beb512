"""Rendering of NotificationTemplates: plain text, strict placeholders, the allow-list."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import modify_settings

from chargesol_notifications.choices import TemplateChannel
from chargesol_notifications.exceptions import NotificationError, TemplateRenderError
from chargesol_notifications.models import NotificationTemplate
from chargesol_notifications.placeholders import placeholder_values_from_text
from chargesol_notifications.rendering import (
    RenderedMessage,
    compile_source,
    compile_template,
    get_engine,
    render_message,
    validate_template,
)
from tests.factories import NotificationTemplateFactory, UserFactory

# Sources that must never compile: they read files, leak internals or load libraries
# outside the allow-list.
FORBIDDEN_SOURCES = [
    pytest.param('{% include "x" %}', id="include"),
    pytest.param('{% extends "x" %}', id="extends"),
    pytest.param("{% debug %}", id="debug"),
    pytest.param('{% ssi "/etc/passwd" %}', id="ssi"),
    pytest.param("{% load static %}", id="load-static"),
    pytest.param("{% load log %}", id="load-log"),
    pytest.param("{% load i18n %}", id="load-i18n"),
    pytest.param("{% load static from static %}", id="load-from"),
    pytest.param('{% url "admin:index" %}', id="url"),
    pytest.param("{% autoescape on %}x{% endautoescape %}", id="autoescape"),
    pytest.param("{% csrf_token %}", id="csrf_token"),
    pytest.param("{% lorem %}", id="not-listed"),
]


def make_template(body: str = "", *, channel: str = TemplateChannel.SMS, subject: str = ""):
    """An unsaved template: rendering and validation must not need the database."""
    return NotificationTemplate(
        name="test_template", channel=channel, subject_template=subject, body_template=body
    )


def render_body(body: str, context: dict | None = None) -> str:
    return render_message(make_template(body), context or {}).body


#: What notify() gives a template as ``recipient``: plain data, never the user object.
PERSON = {"first_name": "Siobhán"}


@pytest.fixture(autouse=True)
def _fresh_compile_cache():
    compile_source.cache_clear()
    yield
    compile_source.cache_clear()


class TestPlainText:
    def test_obrien_and_sons_renders_as_written(self):
        body = "Hi {{ recipient.first_name }}, O'Brien & Sons will call."
        assert render_body(body, {"recipient": PERSON}) == ("Hi Siobhán, O'Brien & Sons will call.")

    def test_context_values_are_not_escaped(self):
        value = "<b>Tom & \"Jerry\"</b> 'quoted'"
        assert render_body("{{ value }}", {"value": value}) == value

    @pytest.mark.parametrize(
        "body",
        ["{{ value|safe }}", "{% filter lower %}{{ value }}{% endfilter %}", "{{ value|upper }}"],
    )
    def test_filters_do_not_turn_escaping_on(self, body):
        assert render_body(body, {"value": "a & <b>"}).lower() == "a & <b>"

    def test_ordinary_tags_and_filters(self):
        body = (
            "{% for item in items %}{% cycle 'odd' 'even' %}:{{ item|title }}"
            "{% if not forloop.last %}, {% endif %}{% endfor %}"
            "{% with total=items|length %} ({{ total }}){% endwith %}"
            " {% firstof nothing 'fallback' %} {% widthratio 5 10 100 %}%"
            "{# a comment #}{% comment %}{% include 'x' %}{% endcomment %}"
            " {% templatetag openvariable %} {% verbatim %}{{ raw }}{% endverbatim %}"
        )
        rendered = render_body(body, {"items": ["heat pump", "battery"], "nothing": ""})
        assert rendered == "odd:Heat Pump, even:Battery (2) fallback 50% {{ {{ raw }}"

    def test_now_and_tz_library(self):
        body = '{% load tz %}{% timezone "UTC" %}{% now "Y" %}{% endtimezone %}'
        assert render_body(body).isdigit()

    def test_caller_context_is_not_modified(self):
        context = {"items": [1, 2]}
        render_body('{% cycle "a" "b" as letter %}{% now "Y" as year %}{{ year }}', context)
        assert context == {"items": [1, 2]}


class TestMissingPlaceholders:
    @pytest.mark.parametrize(
        ("body", "variable"),
        [
            ("Hi {{ missing }}", "'missing'"),
            ("Hi {{ recipient.missing_attr }}", "'recipient.missing_attr'"),
            ('{{ missing|default:"x" }}', "'missing'"),
            ("{{ recipient.first_name|default:missing }}", "'missing'"),
            ("{% with name=missing %}{{ name }}{% endwith %}", "'missing'"),
            ("{% for item in items %}{{ item.missing }}{% endfor %}", "'item.missing'"),
        ],
    )
    def test_missing_placeholder_is_an_error(self, body, variable):
        context = {"recipient": PERSON, "items": [{"x": 1}]}
        with pytest.raises(TemplateRenderError) as excinfo:
            render_message(make_template(body), context)
        message = str(excinfo.value)
        assert "'test_template'" in message
        assert "body_template" in message
        assert variable in message

    def test_error_names_the_line(self):
        with pytest.raises(TemplateRenderError, match=r"line 3: 'survey\.date' is missing"):
            render_body("Hello\n\n{{ survey.date }}", {"survey": {}})

    def test_render_error_is_a_notification_error_and_a_value_error(self):
        with pytest.raises(NotificationError):
            render_body("{{ missing }}")
        with pytest.raises(ValueError, match="missing"):
            render_body("{{ missing }}")

    def test_tags_that_test_a_value_see_missing_as_false(self):
        body = "{% if missing %}yes{% else %}no{% endif %}|{% firstof missing 'fb' %}"
        assert render_body(body) == "no|fb"

    def test_for_over_a_missing_name_is_empty(self):
        # Django's {% for %} resolves its sequence leniently; documented behaviour.
        assert render_body("{% for x in missing %}{{ x }}{% empty %}none{% endfor %}") == "none"

    def test_present_but_empty_values_render(self):
        context = {"empty": "", "none": None}
        assert render_body('[{{ empty }}][{{ none|default:"n/a" }}]', context) == "[][n/a]"

    def test_methods_that_need_arguments_are_an_error(self):
        # The read-only mapping's get() needs a key.
        with pytest.raises(TemplateRenderError, match=r"\{\{ person\.get \}\} has no value"):
            render_body("{{ person.get }}", {"person": PERSON})

    @pytest.mark.parametrize("method", ["clear", "popitem", "pop", "update", "setdefault"])
    def test_methods_that_alter_data_do_not_exist(self, method):
        context = {"person": {"first_name": "Siobhán"}, "items": ["a", "b"]}
        with pytest.raises(TemplateRenderError, match="missing from the context"):
            render_body(f"{{{{ person.{method} }}}}", context)
        with pytest.raises(TemplateRenderError):
            render_body(f"{{{{ items.{method} }}}}", context)
        assert context == {"person": {"first_name": "Siobhán"}, "items": ["a", "b"]}


class TestRenderErrors:
    def test_exception_raised_while_rendering(self):
        with pytest.raises(TemplateRenderError, match="ZeroDivisionError") as excinfo:
            render_body("{{ 3|divisibleby:0 }}")
        assert isinstance(excinfo.value.__cause__, ZeroDivisionError)

    def test_syntax_error(self):
        with pytest.raises(TemplateRenderError, match="line 2: Unexpected end of expression"):
            render_body("Hi\n{% if %}")

    @pytest.mark.parametrize("source", FORBIDDEN_SOURCES)
    def test_forbidden_syntax_in_body(self, source):
        with pytest.raises(TemplateRenderError, match="'test_template', body_template"):
            render_body(source)

    @pytest.mark.parametrize("source", FORBIDDEN_SOURCES)
    def test_forbidden_syntax_in_subject(self, source):
        template = make_template("body", channel=TemplateChannel.EMAIL, subject=source)
        with pytest.raises(TemplateRenderError, match="'test_template', subject_template"):
            render_message(template, {})

    def test_forbidden_tag_message_says_why(self):
        with pytest.raises(TemplateRenderError, match="reads other template files"):
            render_body('{% include "chargesol_notifications/anything.txt" %}')

    def test_compile_template_names_the_template(self):
        with pytest.raises(TemplateRenderError, match=r"^preview, line 1: The \{% debug %\} tag"):
            compile_template("{% debug %}", name="preview")


class TestSubject:
    def test_email_subject_is_rendered(self):
        template = make_template(
            "Body", channel=TemplateChannel.EMAIL, subject="Quote for {{ name }} & co"
        )
        assert render_message(template, {"name": "O'Brien"}) == RenderedMessage(
            subject="Quote for O'Brien & co", body="Body"
        )

    def test_line_breaks_in_the_subject_become_spaces(self):
        template = make_template("Body", channel=TemplateChannel.EMAIL, subject="Re: {{ x }}")
        assert render_message(template, {"x": "one\r\ntwo\nthree "}).subject == (
            "Re: one two three"
        )

    def test_other_channels_have_no_subject(self):
        template = make_template("Body", channel=TemplateChannel.SMS, subject="{{ missing }}")
        assert render_message(template, {}) == RenderedMessage(subject="", body="Body")

    def test_subject_longer_than_the_column_is_an_error(self):
        template = make_template("Body", channel=TemplateChannel.EMAIL, subject="{{ x }}")
        with pytest.raises(TemplateRenderError, match="300 characters long; at most 255"):
            render_message(template, {"x": "y" * 300})


class TestHumanize:
    def test_humanize_is_refused_when_not_installed(self):
        with pytest.raises(TemplateRenderError, match=r"load humanize %\} is not available"):
            render_body("{% load humanize %}{{ 1234567|intcomma }}")

    def test_humanize_is_allowed_when_installed(self):
        body = "{% load humanize %}{{ 1234567|intcomma }} {{ 3|apnumber }}"
        with modify_settings(INSTALLED_APPS={"append": "django.contrib.humanize"}):
            assert render_body(body) == "1,234,567 three"
        # The engine follows INSTALLED_APPS back.
        with pytest.raises(TemplateRenderError):
            render_body(body)


class TestEngine:
    def test_engine_cannot_read_files(self):
        engine = get_engine()
        assert engine.autoescape is False
        assert engine.dirs == []
        assert engine.template_loaders == []
        assert set(engine.template_libraries) == {"tz"}

    def test_project_templates_setting_is_not_used(self, settings):
        settings.TEMPLATES = [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "OPTIONS": {"string_if_invalid": "", "builtins": ["django.templatetags.static"]},
            }
        ]
        with pytest.raises(TemplateRenderError):
            render_body("{{ missing }}")
        with pytest.raises(TemplateRenderError):
            render_body('{% static "x.css" %}')


class TestCompileCache:
    def test_same_source_compiles_once(self):
        template = make_template("Hi {{ name }}")
        render_message(template, {"name": "a"})
        render_message(template, {"name": "b"})
        info = compile_source.cache_info()
        assert (info.misses, info.hits) == (1, 1)

    def test_same_source_in_two_templates_compiles_once(self):
        render_message(make_template("Same text"), {})
        render_message(NotificationTemplate(name="other", body_template="Same text"), {})
        assert compile_source.cache_info().misses == 1

    def test_edited_body_renders_the_new_text(self):
        template = make_template("Old text")
        assert render_message(template, {}).body == "Old text"
        template.body_template = "New text"
        assert render_message(template, {}).body == "New text"
        assert compile_source.cache_info().misses == 2

    def test_cache_is_bounded(self):
        assert compile_source.cache_info().maxsize is not None


@pytest.mark.django_db
def test_rendering_makes_no_database_queries(django_assert_num_queries):
    template = NotificationTemplateFactory(
        channel=TemplateChannel.EMAIL,
        subject_template="Survey for {{ recipient.first_name }}",
        body_template="Hi {{ recipient.first_name }}, see you {{ date }}.",
    )
    user = UserFactory(first_name="Pat")
    with django_assert_num_queries(0):
        rendered = render_message(template, {"recipient": user, "date": "Monday"})
    assert rendered == RenderedMessage(subject="Survey for Pat", body="Hi Pat, see you Monday.")


class TestValidateTemplate:
    def test_valid_template(self):
        validate_template(
            make_template("{% if x %}{{ x }}{% endif %}", channel="email", subject="{{ y }}")
        )

    @pytest.mark.parametrize("source", FORBIDDEN_SOURCES)
    def test_forbidden_syntax_in_body(self, source):
        with pytest.raises(ValidationError) as excinfo:
            validate_template(make_template(source))
        assert set(excinfo.value.error_dict) == {"body_template"}
        assert excinfo.value.error_dict["body_template"][0].code in {"forbidden", "syntax"}

    @pytest.mark.parametrize("source", FORBIDDEN_SOURCES)
    def test_forbidden_syntax_in_subject(self, source):
        template = make_template("ok", channel=TemplateChannel.EMAIL, subject=source)
        with pytest.raises(ValidationError) as excinfo:
            validate_template(template)
        assert set(excinfo.value.error_dict) == {"subject_template"}

    def test_forbidden_tag_has_its_own_code(self):
        with pytest.raises(ValidationError) as excinfo:
            validate_template(make_template("{% load static %}"))
        error = excinfo.value.error_dict["body_template"][0]
        assert error.code == "forbidden"
        assert "libraries that can be loaded: tz" in error.message

    def test_syntax_error_is_reported_on_its_field_with_its_line(self):
        with pytest.raises(ValidationError) as excinfo:
            validate_template(make_template("Hi\n{{ name|nosuchfilter }}"))
        assert excinfo.value.message_dict == {
            "body_template": ["Line 2: Invalid filter: 'nosuchfilter'"]
        }

    def test_errors_in_both_fields(self):
        template = make_template("{% if %}", channel=TemplateChannel.EMAIL, subject="{% debug %}")
        with pytest.raises(ValidationError) as excinfo:
            validate_template(template)
        assert set(excinfo.value.error_dict) == {"subject_template", "body_template"}

    @pytest.mark.parametrize(
        "channel", [TemplateChannel.SMS, TemplateChannel.WHATSAPP, TemplateChannel.PUSH]
    )
    def test_subject_on_a_non_email_template(self, channel):
        with pytest.raises(ValidationError) as excinfo:
            validate_template(make_template("ok", channel=channel, subject="Hello"))
        [error] = excinfo.value.error_dict["subject_template"]
        assert error.code == "subject_not_allowed"

    def test_missing_placeholders_are_not_a_validation_error(self):
        validate_template(make_template("{{ anything.at.all }}"))


@pytest.mark.django_db
class TestFullClean:
    @pytest.mark.parametrize("source", FORBIDDEN_SOURCES)
    def test_forbidden_body(self, source):
        template = NotificationTemplateFactory.build(body_template=source)
        with pytest.raises(ValidationError) as excinfo:
            template.full_clean()
        assert set(excinfo.value.message_dict) == {"body_template"}

    def test_forbidden_subject(self):
        template = NotificationTemplateFactory.build(
            channel=TemplateChannel.EMAIL, subject_template="{% load log %}"
        )
        with pytest.raises(ValidationError) as excinfo:
            template.full_clean()
        assert set(excinfo.value.message_dict) == {"subject_template"}

    def test_subject_on_sms(self):
        template = NotificationTemplateFactory.build(subject_template="Hello")
        with pytest.raises(ValidationError) as excinfo:
            template.full_clean()
        assert set(excinfo.value.message_dict) == {"subject_template"}

    def test_valid(self):
        NotificationTemplateFactory.build().full_clean()


class TestPlaceholderValuesFromText:
    """Content variables read back from a stored body, in linear time (bench:
    bench/bench_whatsapp_variables.py); these tests assert results, not times."""

    @staticmethod
    def values(source: str, text: str) -> list[str] | None:
        return placeholder_values_from_text(source, text, label="t")

    def test_values_are_read_back(self):
        source = "Hi {{ recipient.first_name }}, see you {{ day }} at {{ time }}."
        text = "Hi Siobhán, see you Friday, 5 Dec at 10:00."
        assert self.values(source, text) == ["Siobhán", "Friday, 5 Dec", "10:00"]

    def test_fifty_placeholders(self):
        source = " ".join(f"{{{{ v{i} }}}}" for i in range(50)) + "."
        fitting = " ".join(f"value{i}" for i in range(50)) + "."
        assert self.values(source, fitting) == [f"value{i}" for i in range(50)]

    @pytest.mark.parametrize(
        "tail", ["!", ". ", "", ".x", "v49."], ids=["other", "space", "cut", "extra", "more"]
    )
    def test_fifty_placeholders_with_a_mismatching_tail(self, tail):
        source = " ".join(f"{{{{ v{i} }}}}" for i in range(50)) + "."
        # The values contain the separator, so the body splits in many ways.
        assert self.values(source, " ".join(f"v {i}" for i in range(50)) + tail) is None

    def test_a_text_that_fits_in_two_ways_is_not_guessed(self):
        source = "Hi {{ a }}, see you {{ b }}."
        assert self.values(source, "Hi Ann, see you Fri, see you soon.") is None

    @pytest.mark.parametrize(
        ("source", "text", "expected"),
        [
            ("{{ a }}", "anything at all", ["anything at all"]),
            ("Hello", "Hello", []),
            ("Hello", "Hello!", None),
            ("x{{ a }}", "y1", None),
            ("{{ a }}.", "1", None),
            ("{{ a }} {{ b }}", "1 2", ["1", "2"]),
            ("{{ a }}{{ b }}", "", ["", ""]),
            ("{{ a }}{{ b }}", "12", None),
            ("[{{ a }}]", "[]", [""]),
            ("{{ a }}-{{ b }}", "--", None),
        ],
    )
    def test_edges(self, source, text, expected):
        assert self.values(source, text) == expected

    def test_tags_are_refused(self):
        with pytest.raises(TemplateRenderError, match="no tags"):
            self.values("{% if a %}x{% endif %}", "x")


def test_rendered_text_is_plain_not_marked_safe():
    """Django marks template output as safe HTML; a message is plain text that a page
    (the admin, a project's own view) must escape like any other."""
    from django.template import engines
    from django.utils.safestring import SafeData

    message = render_message(
        make_template(
            "<b>{{ recipient.first_name }}</b>",
            channel=TemplateChannel.EMAIL,
            subject="<i>{{ recipient.first_name }}</i>",
        ),
        {"recipient": PERSON},
    )
    assert type(message.body) is str
    assert type(message.subject) is str
    assert not isinstance(message.body, SafeData)
    page = engines["django"].from_string("{{ body }}").render({"body": message.body})
    assert page == "&lt;b&gt;Siobhán&lt;/b&gt;"


@pytest.mark.parametrize(
    "source",
    [
        "Hi {{ recipient.first_name }}{% if eta %}, by {{ eta }}{% endif %}.",
        '{% for n in items %}{% cycle "a" "b" as ab %}{{ ab }}{% endfor %}',
        "{% for n in items %}{% ifchanged n %}{{ n }}{% endifchanged %}{% endfor %}",
        "{% regroup people by area as groups %}{% for g in groups %}{{ g.grouper }}"
        "{% for p in g.list %}{{ p.name }}{% endfor %}{% endfor %}",
        '{% now "Y" as year %}{{ year|length }}{% with x=items|length %}{{ x }}{% endwith %}',
        '{% firstof missing_but_empty eta "fallback" %}{{ items|join:", " }}',
        "{% for n in items %}{{ forloop.counter }}{% empty %}none{% endfor %}",
    ],
)
def test_a_render_in_its_own_context_matches_djangos_template_render(source):
    """render_in_fresh_context() skips Template.render's context managers: the output of
    every stateful tag is the same, render after render."""
    from django.template import Context

    from chargesol_notifications.rendering import render_in_fresh_context

    data = {
        "recipient": PERSON,
        "eta": "18:30",
        "missing_but_empty": "",
        "items": [1, 1, 2, 3],
        "people": [{"name": "a", "area": "x"}, {"name": "b", "area": "x"}],
    }
    compiled = compile_source(source)
    expected = compiled.render(Context(dict(data), autoescape=False))
    for _ in range(2):
        assert render_in_fresh_context(compiled, Context(dict(data), autoescape=False)) == expected
