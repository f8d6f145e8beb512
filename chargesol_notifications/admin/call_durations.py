"""Call durations as staff read and type them: ``4:05`` (minutes:seconds) or ``245``.

The model stores whole seconds (``duration_seconds``, what Twilio reports); the admin
shows and takes minutes:seconds, since that is how a call's length is written on a
phone's call history. An hour-long call is ``60:00``: one format, no hours part.
"""

from __future__ import annotations

import re

from django import forms
from django.utils.translation import gettext_lazy as _

#: ``245`` or ``4:05``; seconds after a colon are two digits, as a clock writes them.
DURATION_PATTERN = re.compile(r"(?:(?P<minutes>\d{1,4}):(?P<seconds>[0-5]\d)|(?P<total>\d{1,6}))")


def format_duration(seconds: int | None) -> str:
    """``245`` → ``"4:05"``; ``None`` (not known yet) → ``""``."""
    if seconds is None:
        return ""
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}:{rest:02d}"


def parse_duration(text: str) -> int:
    """``"4:05"`` or ``"245"`` → ``245``; anything else raises ``ValueError``."""
    match = DURATION_PATTERN.fullmatch(text.strip())
    if match is None:
        raise ValueError(text)
    if match["total"] is not None:
        return int(match["total"])
    return int(match["minutes"]) * 60 + int(match["seconds"])


class MinutesSecondsField(forms.Field):
    """A duration typed as minutes:seconds or as seconds; cleans to seconds or None."""

    widget = forms.TextInput(attrs={"size": 8, "maxlength": 10, "placeholder": "4:05"})
    default_error_messages = {
        "invalid": _("Enter the length as minutes:seconds (4:05) or as seconds (245)."),
    }

    def to_python(self, value: object) -> int | None:
        text = "" if value is None else str(value).strip()
        if not text:
            return None
        try:
            return parse_duration(text)
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
