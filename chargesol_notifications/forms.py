"""The admin form of NotificationTemplate.

Template checks live in the model (``NotificationTemplate.clean()`` calls
:func:`~chargesol_notifications.rendering.validate_template`), so that ``full_clean()``
outside the admin refuses the same templates. ModelForm runs that ``clean()`` and files
its errors under the fields they name, which is all the validation this form needs; it
adds help texts for the staff who write templates and tidies line endings.
"""

from __future__ import annotations

from django import forms
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from .models import NotificationTemplate
from .template_library import ALLOWED_TAGS

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
