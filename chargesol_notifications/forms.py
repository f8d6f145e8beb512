"""The admin form of NotificationTemplate.

Template checks live in the model (``NotificationTemplate.clean()`` calls
:func:`~chargesol_notifications.rendering.validate_template`), so that ``full_clean()``
outside the admin refuses the same templates. ModelForm runs that ``clean()`` and files
its errors under the fields they name, which is all the validation this form needs; it
adds help texts for the staff who write templates and tidies line endings.

The admin's form adds ``sample_context``, not a model field: the JSON that its live
preview and "send a test to me" render the template with (see
:mod:`~chargesol_notifications.template_samples`). It is checked like any input, and
never stored.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from .models import NotificationTemplate
from .template_library import ALLOWED_TAGS
from .template_samples import (
    MAX_SAMPLE_LENGTH,
    InvalidSampleError,
    initial_sample_text,
    parse_sample,
)

BODY_HELP_TEXT = format_lazy(
    _(
        "Plain text, sent exactly as written: nothing is HTML-escaped. Insert values with "
        "placeholders such as {{{{ recipient.first_name }}}}; a placeholder that the "
        "sending code does not provide stops the message with an error instead of leaving "
        "a gap. Tags: {tags}; every built-in filter; {{% load tz %}} (and "
        "{{% load humanize %}} when the site installs it). include, extends, debug, url "
        "and other libraries are not available."
    ),
    tags=", ".join(ALLOWED_TAGS),
)
SUBJECT_HELP_TEXT = _(
    "Email templates only: leave empty for SMS, WhatsApp and push. Same placeholders as "
    "the body; line breaks in the result become spaces."
)

SAMPLE_HELP_TEXT = format_lazy(
    _(
        "A JSON object of the values to preview and test with; never saved, never sent "
        "to customers. It starts with the sample the body declares as "
        '{{% comment "sample" %}}{{"survey": {{"scheduled_for": "2025-06-02T10:30"}}}}'
        "{{% endcomment %}} (sending ignores that comment), or else with made-up values "
        "for every placeholder. Placeholders it leaves out get made-up values; "
        "ISO 8601 dates become dates. Empty: the sample the body declares. At most "
        "{limit} characters."
    ),
    limit=f"{MAX_SAMPLE_LENGTH:,}",
)


class NotificationTemplateForm(forms.ModelForm):
    """Add and change form of NotificationTemplate in the admin."""

    class Meta:
        model = NotificationTemplate
        fields = ["name", "channel", "is_active", "subject_template", "body_template"]
        widgets = {
            "subject_template": forms.TextInput(attrs={"size": 80}),
            "body_template": forms.Textarea(attrs={"rows": 12, "cols": 80}),
        }
        help_texts = {
            "subject_template": SUBJECT_HELP_TEXT,
            "body_template": BODY_HELP_TEXT,
        }

    def clean_body_template(self) -> str:
        # Browsers submit textareas with CRLF line endings; an SMS would count (and pay
        # for) both characters, so bodies are stored with plain newlines.
        body: str = self.cleaned_data["body_template"]
        return body.replace("\r\n", "\n").replace("\r", "\n")


class NotificationTemplateAdminForm(NotificationTemplateForm):
    """The admin's form: the model's fields, and the sample data of its preview.

    ``sample_context`` lives here rather than in NotificationTemplateForm, which stays
    exactly the model's editable fields for any other page that edits templates.
    """

    sample_context = forms.CharField(
        label=_("Sample data"),
        required=False,
        strip=False,
        # No max_length: the cap is parse_sample()'s, with a message that says why.
        widget=forms.Textarea(attrs={"rows": 10, "cols": 60, "spellcheck": "false"}),
        help_text=SAMPLE_HELP_TEXT,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sample_context"].initial = initial_sample_text(
            self.instance.subject_template, self.instance.body_template
        )

    def clean_sample_context(self) -> str:
        text: str = self.cleaned_data["sample_context"]
        try:
            parse_sample(text)
        except InvalidSampleError as exc:
            raise forms.ValidationError(str(exc), code="sample") from exc
        return text
