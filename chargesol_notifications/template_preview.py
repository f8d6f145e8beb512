"""The admin's live preview of a NotificationTemplate, and its "send a test to me".

Both go through the app's own rendering (:mod:`~chargesol_notifications.rendering`):
plain-data context, the render budget and the channel's output limit, exactly as
``notify()`` renders. The preview renders what staff are typing, before it is saved; the
test goes through ``notify()`` itself, so it is a real notification in the log.

The values come from :mod:`~chargesol_notifications.template_samples`. SMS parts are
counted by :func:`~chargesol_notifications.segments.count_segments` alone: the admin's
JavaScript shows the numbers this module returns and never counts anything itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .choices import TemplateChannel
from .exceptions import InvalidSampleError, NotificationError
from .models import Notification, NotificationTemplate
from .recipients import resolve_address
from .rendering import render_message, validate_template
from .segments import LIMITS, count_segments
from .sending import notify
from .template_samples import sample_context
from .twilio_codes import MAX_BODY_LENGTH

__all__ = ["FieldPreview", "SmsCounts", "TestSendResult", "preview", "send_test", "sms_counts"]

#: Channels whose gateway (Twilio) refuses bodies over MAX_BODY_LENGTH characters.
BODY_LIMITED_CHANNELS = frozenset({TemplateChannel.SMS, TemplateChannel.WHATSAPP})


@dataclass(frozen=True)
class FieldPreview:
    """One rendered field, or why it could not be rendered."""

    text: str = ""
    error: str = ""


@dataclass(frozen=True)
class SmsCounts:
    encoding: str
    units: int
    segments: int
    #: Single-slot characters that still fit before the body needs another part.
    left_in_segment: int


def preview(
    *, name: str, channel: str, subject_source: str, body_source: str, typed_sample: str
) -> dict[str, Any]:
    """The JSON the admin's preview shows for a template as staff are typing it.

    Keys: ``subject`` (None unless ``channel`` is email) and ``body``, each with
    ``text`` and ``error``; ``sample_error`` when the sample data cannot be used;
    ``length`` and ``max_length`` of the rendered body (None where no gateway limit
    applies); ``sms`` (:class:`SmsCounts` as a dict, SMS only); ``summary``, those
    numbers in a sentence.
    """
    candidate = NotificationTemplate(
        name=name or _("(unsaved)"),
        channel=channel,
        subject_template=subject_source,
        body_template=body_source,
    )
    errors = _compile_errors(candidate)
    sample_error = ""
    try:
        context: dict[str, Any] | None = sample_context(subject_source, body_source, typed_sample)
    except InvalidSampleError as exc:
        context, sample_error = None, str(exc)
    fields = {
        field: FieldPreview(error=errors[field])
        if field in errors
        else _render(candidate, field, context)
        for field in ("subject_template", "body_template")
    }
    body = fields["body_template"]
    sms = sms_counts(body.text) if channel == TemplateChannel.SMS and not body.error else None
    max_length = MAX_BODY_LENGTH if channel in BODY_LIMITED_CHANNELS else None
    subject = fields["subject_template"]
    return {
        "subject": _as_dict(subject) if channel == TemplateChannel.EMAIL else None,
        "body": _as_dict(body),
        "sample_error": sample_error,
        "length": len(body.text),
        "max_length": max_length,
        "sms": None if sms is None else sms.__dict__,
        "summary": "" if body.error else _summary(len(body.text), max_length, sms),
    }


def _compile_errors(candidate: NotificationTemplate) -> dict[str, str]:
    """Syntax errors and forbidden tags by field, in the words the form shows."""
    try:
        validate_template(candidate)
    except ValidationError as exc:
        return {field: " ".join(messages) for field, messages in exc.message_dict.items()}
    return {}


def _render(
    candidate: NotificationTemplate, field: str, context: dict[str, Any] | None
) -> FieldPreview:
    if context is None:  # the sample is broken; sample_error says how
        return FieldPreview()
    # One field per render, so that an error in the subject leaves the body's preview
    # standing; render_message() still folds the subject and checks its length.
    other = "body_template" if field == "subject_template" else "subject_template"
    alone = NotificationTemplate(
        name=candidate.name,
        channel=candidate.channel,
        **{field: getattr(candidate, field), other: ""},
    )
    try:
        rendered = render_message(alone, context)
    except NotificationError as exc:  # TemplateRenderError, InvalidContextError
        return FieldPreview(error=str(exc))
    return FieldPreview(text=rendered.subject if field == "subject_template" else rendered.body)


def _as_dict(field: FieldPreview) -> dict[str, str]:
    return {"text": field.text, "error": field.error}


def sms_counts(body: str) -> SmsCounts:
    """Parts, encoding and room left in the last part of an SMS ``body``."""
    count = count_segments(body)
    single, _per_part = LIMITS[count.encoding]
    if count.segments == 0:
        return SmsCounts(count.encoding, 0, 0, single)
    # The room left depends on how count_segments packs parts (a two-slot character
    # never splits), so it is measured with count_segments itself: the most plain
    # letters that can be added before another part is needed (binary search).
    fits, needs_more = 0, single + 1
    while needs_more - fits > 1:
        middle = (fits + needs_more) // 2
        if count_segments(body + "a" * middle).segments > count.segments:
            needs_more = middle
        else:
            fits = middle
    return SmsCounts(count.encoding, count.units, count.segments, fits)


def _summary(length: int, max_length: int | None, sms: SmsCounts | None) -> str:
    parts = []
    if sms is not None:
        parts.append(
            ngettext(
                "%(segments)d SMS part (%(encoding)s), %(left)d characters left in it",
                "%(segments)d SMS parts (%(encoding)s), %(left)d characters left in the last",
                sms.segments,
            )
            % {"segments": sms.segments, "encoding": sms.encoding, "left": sms.left_in_segment}
        )
    if max_length is not None:
        parts.append(
            _("%(length)s of %(max)s characters")
            % {"length": f"{length:,}", "max": f"{max_length:,}"}
        )
    else:
        parts.append(_("%(length)s characters") % {"length": f"{length:,}"})
    return "; ".join(parts) + "."


# -- send a test to me --------------------------------------------------------------------


@dataclass(frozen=True)
class TestSendResult:
    """The notification queued, or None and why nothing was."""

    notification: Notification | None
    message: str


def send_test(template: NotificationTemplate, user: Any, typed_sample: str) -> TestSendResult:
    """Queue ``template`` (as saved) to ``user`` on its channel, rendered with the sample.

    Goes through ``notify()``, so the test is a notification like any other, in the log
    and sent by the configured backend. ``recipient`` is the user's own (notify() adds
    it); the rest of the context is the sample. Nothing is written when the template is
    inactive (notify() sends active templates only), when the user has no address on
    the channel, or when the sample or the render fails.
    """
    channel = template.get_channel_display()
    if not template.is_active:
        return TestSendResult(
            None,
            _(
                "Nothing was sent: “%(name)s” is inactive, and notify() sends active "
                "templates only. Activate it to send a test (code that sends it by name "
                "can then use it too)."
            )
            % {"name": template.name},
        )
    address = resolve_address(user, template.channel)
    if not address:
        return TestSendResult(
            None,
            _(
                "Nothing was sent: your account has no %(channel)s address, so a test has "
                "nowhere to go."
            )
            % {"channel": channel},
        )
    try:
        context = sample_context(template.subject_template, template.body_template, typed_sample)
        context.pop("recipient", None)  # notify() gives the template the user's own
        notification = notify(user, template.channel, template=template, context=context)
    except (InvalidSampleError, NotificationError) as exc:
        return TestSendResult(None, _("Nothing was sent: %(error)s") % {"error": exc})
    shown = ", ".join(address) if isinstance(address, list) else address
    return TestSendResult(
        notification,
        _(
            "A test of “%(name)s” is queued to you by %(channel)s at %(address)s. It is in "
            "the notification log like any other message."
        )
        % {"name": template.name, "channel": channel, "address": shown},
    )
