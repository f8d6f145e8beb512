"""The call log admin's forms: a call staff made by hand, and a call to place.

Both read the number as staff type it (``07700 900102``) and store it in E.164, and both
leave the rules of what makes a call to :func:`~chargesol_notifications.calls.check_call`,
the service layer's one check, so the admin can never write a call the code would refuse.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from ..calls import check_call
from ..choices import CallType, ContextType
from ..exceptions import InvalidCallError, InvalidPhoneNumberError
from ..models import CallLog
from ..recipients import normalise_phone
from .call_durations import MinutesSecondsField

BLANK_CHOICE = [("", "---------")]


class PhoneNumberField(forms.CharField):
    """A number as staff write it, cleaned to E.164 with the ``DEFAULT_REGION`` setting."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("Callee phone"))
        # Longer than the E.164 column: what staff type has spaces and brackets.
        kwargs.setdefault("max_length", 40)
        kwargs.setdefault("help_text", _("As you would dial it: 07700 900102 or +44 7700 900102."))
        super().__init__(**kwargs)

    def clean(self, value: Any) -> str:
        text = super().clean(value)
        try:
            return normalise_phone(text)
        except InvalidPhoneNumberError as exc:
            raise forms.ValidationError(str(exc), code="invalid_phone") from exc


def context_type_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label=_("Context type"),
        choices=BLANK_CHOICE + list(ContextType.choices),
        help_text=_("What the call was about."),
    )


def context_id_field() -> forms.UUIDField:
    return forms.UUIDField(
        label=_("Context id"),
        help_text=_("The id of that lead, survey, installation, ..."),
    )


class CallLogAddForm(forms.ModelForm):
    """A call made by hand. The caller is whoever is signed in: the admin sets ``caller``."""

    callee_phone = PhoneNumberField()
    context_type = context_type_field()
    context_id = context_id_field()
    duration = MinutesSecondsField(label=_("Duration"), required=False)

    #: The signed-in user; set by ``CallLogAdmin.get_form()`` on a subclass per request.
    caller: Any = None

    class Meta:
        model = CallLog
        fields = ("callee_phone", "call_type", "context_type", "context_id", "outcome", "notes")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Blank in the model for a click-to-call still ringing; a call logged by hand is
        # over, so its outcome is known.
        self.fields["outcome"].required = True
        self.fields["outcome"].help_text = _("How the call ended.")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            check_call(
                caller=self.caller,
                callee_phone=cleaned["callee_phone"],
                call_type=cleaned["call_type"],
                context_type=cleaned["context_type"],
                context_id=cleaned["context_id"],
                notes=cleaned.get("notes", ""),
                outcome=cleaned["outcome"],
                duration_seconds=cleaned.get("duration"),
            )
        except InvalidCallError as exc:
            raise forms.ValidationError(str(exc), code="invalid_call") from exc
        return cleaned

    def save(self, commit: bool = True) -> CallLog:
        self.instance.caller = self.caller
        self.instance.duration_seconds = self.cleaned_data.get("duration")
        call_log: CallLog = super().save(commit)
        return call_log


class CallLogViewForm(forms.ModelForm):
    """The page of a saved call log, where every field is read-only.

    The model's help texts speak to developers ("Sixteen characters: ...") and to rows
    still being written ("Empty until the outcome is known"); staff read a finished
    record, so the page shows none.
    """

    class Meta:
        model = CallLog
        fields = ()
        help_texts = {"callee_phone": "", "context_type": "", "outcome": ""}


class PlaceCallForm(forms.Form):
    """What the confirmation page of a click-to-call shows, and what place_call() takes."""

    callee_phone = PhoneNumberField()
    call_type = forms.ChoiceField(
        label=_("Call type"), choices=BLANK_CHOICE + list(CallType.choices)
    )
    context_type = context_type_field()
    context_id = context_id_field()
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def call_arguments(self) -> dict[str, Any]:
        """The cleaned form as place_call()'s keyword arguments (the caller aside)."""
        data = self.cleaned_data
        context_id: uuid.UUID = data["context_id"]
        return {
            "callee_phone": data["callee_phone"],
            "call_type": data["call_type"],
            "context_type": data["context_type"],
            "context_id": context_id,
            "notes": data["notes"],
        }
