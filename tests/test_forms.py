"""The admin form of NotificationTemplate files template errors under their fields."""

from __future__ import annotations

import pytest

from chargesol_notifications.choices import TemplateChannel
from chargesol_notifications.forms import NotificationTemplateForm
from chargesol_notifications.models import NotificationTemplate
from tests.factories import NotificationTemplateFactory

pytestmark = pytest.mark.django_db

FORBIDDEN_SOURCES = [
    '{% include "x" %}',
    '{% extends "x" %}',
    "{% debug %}",
    '{% ssi "/etc/passwd" %}',
    "{% load static %}",
    "{% load log %}",
]


def form_data(**overrides: str) -> dict[str, str]:
    data = {
        "name": "survey_confirmation_sms",
        "channel": TemplateChannel.SMS,
        "is_active": "on",
        "subject_template": "",
        "body_template": "Hi {{ recipient.first_name }}, your survey is confirmed.",
    }
    data.update(overrides)
    return data


def test_valid_template_saves():
    form = NotificationTemplateForm(data=form_data())
    assert form.is_valid(), form.errors
    template = form.save()
    assert template.body_template == "Hi {{ recipient.first_name }}, your survey is confirmed."


@pytest.mark.parametrize("source", FORBIDDEN_SOURCES)
def test_forbidden_body(source):
    form = NotificationTemplateForm(data=form_data(body_template=f"Hi\n{source}"))
    assert not form.is_valid()
    assert list(form.errors) == ["body_template"]
    assert form.errors["body_template"][0].startswith("Line 2: ")


@pytest.mark.parametrize("source", FORBIDDEN_SOURCES)
def test_forbidden_subject(source):
    data = form_data(channel=TemplateChannel.EMAIL, subject_template=source)
    form = NotificationTemplateForm(data=data)
    assert not form.is_valid()
    assert list(form.errors) == ["subject_template"]


def test_syntax_error_on_its_field():
    form = NotificationTemplateForm(data=form_data(body_template="{% if %}oops{% endif %}"))
    assert not form.is_valid()
    assert form.errors == {"body_template": ["Line 1: Unexpected end of expression in if tag."]}


def test_subject_on_an_sms_template():
    form = NotificationTemplateForm(data=form_data(subject_template="Hello"))
    assert not form.is_valid()
    assert form.errors == {
        "subject_template": ["Only email templates have a subject; leave this empty."]
    }


def test_email_template_with_subject():
    data = form_data(channel=TemplateChannel.EMAIL, subject_template="Your survey, {{ x }}")
    form = NotificationTemplateForm(data=data)
    assert form.is_valid(), form.errors


def test_line_endings_are_normalised():
    form = NotificationTemplateForm(data=form_data(body_template="Line one\r\nLine two\rthree"))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["body_template"] == "Line one\nLine two\nthree"


def test_editing_an_existing_template():
    template = NotificationTemplateFactory(name="reminder_sms")
    data = form_data(name="reminder_sms", body_template="{% include 'secrets.txt' %}")
    form = NotificationTemplateForm(data=data, instance=template)
    assert not form.is_valid()
    assert list(form.errors) == ["body_template"]
    template.refresh_from_db()
    assert "include" not in template.body_template


def test_help_texts_describe_the_rules():
    form = NotificationTemplateForm()
    body_help = str(form.fields["body_template"].help_text)
    assert "nothing is HTML-escaped" in body_help
    assert "{{ recipient.first_name }}" in body_help
    assert "firstof" in body_help
    assert "{% load tz %}" in body_help
    assert "Email templates only" in str(form.fields["subject_template"].help_text)


def test_form_covers_every_editable_field():
    editable = {
        f.name for f in NotificationTemplate._meta.fields if f.editable and not f.primary_key
    }
    assert set(NotificationTemplateForm.base_fields) == editable
