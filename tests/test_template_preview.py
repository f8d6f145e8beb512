"""Sample data and previews of templates (template_samples.py, template_preview.py)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from chargesol_notifications.exceptions import InvalidSampleError
from chargesol_notifications.rendering import compile_source, render_text
from chargesol_notifications.segments import count_segments
from chargesol_notifications.template_preview import preview, sms_counts
from chargesol_notifications.template_samples import (
    MAX_SAMPLE_LENGTH,
    declared_sample,
    generated_sample,
    initial_sample_text,
    parse_sample,
    placeholder_paths,
    sample_context,
)


def previewed(body: str, *, channel: str = "sms", subject: str = "", sample: str = "") -> dict:
    return preview(
        name="t", channel=channel, subject_source=subject, body_source=body, typed_sample=sample
    )


# -- parse_sample ---------------------------------------------------------------------------


def test_a_sample_is_a_json_object_with_dates_read_from_iso_text():
    sample = parse_sample('{"survey": {"day": "2025-06-02", "at": "2025-06-02T10:30"}, "n": 2}')
    assert sample == {
        "survey": {"day": dt.date(2025, 6, 2), "at": dt.datetime(2025, 6, 2, 10, 30)},
        "n": 2,
    }
    assert parse_sample("  ") == {}
    assert parse_sample('{"not_a_date": "2025-02-30"}') == {"not_a_date": "2025-02-30"}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"a": ', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('"text"', "must be a JSON object"),
        ('{"a": NaN}', "^NaN is not a JSON value"),
        ('{"a": "x\\u0000"}', "NUL"),
        ('{"a": ' + "[" * 20 + "]" * 20 + "}", "nested more than"),
        ("[" * 100_000, "characters long"),
        ('{"a": ' + "9" * 5_000 + "}", "not usable JSON"),
    ],
)
def test_bad_samples_are_refused_with_a_sentence(text, says):
    with pytest.raises(InvalidSampleError, match=says):
        parse_sample(text)


def test_the_size_cap_comes_before_parsing():
    text = json.dumps({"a": "x" * MAX_SAMPLE_LENGTH})
    with pytest.raises(InvalidSampleError, match="at most 20,000"):
        parse_sample(text)


# -- declared and generated samples -----------------------------------------------------


def test_a_template_declares_its_sample_in_a_comment_that_renders_nothing():
    body = 'Hi {{ name }}{% comment "sample" %}{"name": "Ada"}{% endcomment %}'
    assert declared_sample(body) == '{"name": "Ada"}'
    assert render_text(body, {"name": "Ada"}, label="t") == "Hi Ada"
    assert declared_sample("{% comment %}{}{% endcomment %}") is None
    assert declared_sample('{% comment "other" %}{}{% endcomment %}') is None
    assert declared_sample('{% verbatim %}{% comment "sample" %}{}{% endcomment %}') is None
    assert initial_sample_text("", body) == '{"name": "Ada"}'


def test_placeholders_are_found_in_loops_and_filter_arguments():
    compiled = compile_source(
        "{{ a.b }}{% for s in survey.slots %}{{ s.time }}{{ forloop.counter }}{% endfor %}"
        "{% if x %}{{ y|default:z }}{% endif %}"
    )
    assert placeholder_paths(compiled) == [
        ("a", "b"),
        ("survey", "slots", "[]", "time"),
        ("y",),
        ("z",),
    ]


def test_the_generated_sample_has_the_recipient_and_every_placeholder():
    sample = generated_sample(
        "{{ survey.scheduled_for }}",
        "{% for s in slots %}{{ s.day }}{% endfor %}{{ lead.postcode }}{{ recipient.nope }}",
    )
    assert sample["recipient"]["first_name"] == "Freya"
    assert sample["recipient"]["phone"] == "+447700900123"
    assert "nope" not in sample["recipient"]  # what a recipient has is the allow-list's
    assert sample["survey"] == {"scheduled_for": dt.datetime(2025, 6, 2, 10, 30)}
    assert sample["slots"] == [{"day": dt.date(2025, 6, 2)}]
    assert sample["lead"] == {"postcode": "SW1A 1AA"}


def test_the_generated_recipient_follows_recipient_context(settings):
    settings.CHARGESOL_NOTIFICATIONS = {
        **settings.CHARGESOL_NOTIFICATIONS,
        "RECIPIENT_CONTEXT": {"given": "first_name", "mobile": "phone", "city": "city"},
    }
    assert generated_sample("")["recipient"] == {
        "given": "Freya",
        "mobile": "+447700900123",
        "city": "Sample city",
    }


def test_typed_values_win_over_generated_ones_and_fill_in_the_rest():
    context = sample_context("", "{{ survey.day }} {{ survey.place }}", '{"survey": {"day": 3}}')
    assert context["survey"] == {"day": 3, "place": "Sample place"}
    declared = '{{ a }}{% comment "sample" %}{"a": "declared"}{% endcomment %}'
    assert sample_context("", declared, "")["a"] == "declared"
    assert sample_context("", declared, '{"a": "typed"}')["a"] == "typed"


# -- preview ---------------------------------------------------------------------------------


def test_preview_renders_subject_and_body_separately():
    result = previewed(
        "Hi {{ recipient.first_name }}", channel="email", subject="{% if %}", sample=""
    )
    assert result["body"] == {"text": "Hi Freya", "error": ""}
    assert "if" in result["subject"]["error"]
    assert result["subject"]["text"] == ""
    assert result["sms"] is None
    assert result["max_length"] is None


def test_preview_reports_a_forbidden_tag_as_the_form_does():
    result = previewed('{% include "secrets.txt" %}')
    assert "include" in result["body"]["error"]
    assert result["body"]["text"] == ""


def test_preview_reports_a_missing_recipient_attribute():
    result = previewed("{{ recipient.shoe_size }}")
    assert "is missing from the context" in result["body"]["error"]


def test_preview_with_a_broken_sample_says_so_and_renders_nothing():
    result = previewed("Hi {{ name }}", sample="{nope")
    assert "not valid JSON" in result["sample_error"]
    assert result["body"] == {"text": "", "error": ""}


@pytest.mark.parametrize(
    ("body", "encoding", "segments"),
    [
        ("", "GSM-7", 0),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("€" * 80, "GSM-7", 1),
        ("a" * 152 + "€" + "a" * 7, "GSM-7", 2),  # the two-slot € does not split
        ("ā" * 70, "UCS-2", 1),
        ("ā" * 71, "UCS-2", 2),
    ],
)
def test_sms_counts_are_count_segments_and_the_room_left(body, encoding, segments):
    counts = sms_counts(body)
    assert counts.encoding == count_segments(body).encoding == encoding
    assert counts.segments == count_segments(body).segments == segments
    # The room left is exactly what can be added without another part.
    grown = count_segments(body + "a" * counts.left_in_segment).segments
    assert grown == max(segments, 1)
    assert count_segments(body + "a" * (counts.left_in_segment + 1)).segments == grown + 1


def test_sms_preview_gives_parts_encoding_room_and_the_body_budget():
    result = previewed("a" * 160 + "{{ recipient.first_name }}")  # 165: parts of 153 + 12
    assert result["sms"] == {
        "encoding": "GSM-7",
        "units": 165,
        "segments": 2,
        "left_in_segment": 141,
    }
    assert result["length"] == 165
    assert result["max_length"] == 1600
    assert result["summary"] == (
        "2 SMS parts (GSM-7), 141 characters left in the last; 165 of 1,600 characters."
    )
