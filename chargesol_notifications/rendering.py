"""Rendering of NotificationTemplates: plain text, strict placeholders, no file access.

Templates are rendered by an engine of their own, never the project's ``TEMPLATES``:

* Autoescape is off: a message is plain text, so ``O'Brien & Sons`` stays as written.
* No loaders and no directories, and the only builtins are the allow-list of
  :mod:`~chargesol_notifications.template_library`, so a template cannot read files
  (``include``, ``extends``, ``ssi``), print internals (``debug``) or load libraries
  that are not listed.
* A placeholder the context does not provide is an error, not an empty string: the
  engine's ``string_if_invalid`` is a string whose ``%`` (which Django applies to it for
  a failed ``{{ variable }}``) and ``str()`` raise. Tags that test a value (``{% if %}``,
  ``{% for %}``, ``{% firstof %}``) still see a missing name as false or empty, as in
  Django.

* The context is plain data (:mod:`~chargesol_notifications.plain_data`): every render
  converts it first, so no live object ever reaches the engine.
* Every render runs under a budget (:mod:`~chargesol_notifications.render_budget`):
  loop iterations, text produced, filter work and allocating filter arguments are
  bounded, and the finished text may not pass the channel's limit.

Compiled templates are cached by their source text, so an edited template compiles
anew in every process without any invalidation signal, and an unchanged one compiles
once per process.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from django.apps import apps
from django.core.exceptions import ValidationError
from django.template import Context, Engine, Template, TemplateSyntaxError
from django.template.base import VariableDoesNotExist
from django.utils.translation import gettext_lazy as _

from .choices import TemplateChannel
from .exceptions import (
    ConfigurationError,
    ForbiddenTemplateSyntaxError,
    MissingPlaceholderError,
    RenderBudgetExceededError,
    TemplateBudgetError,
    TemplateRenderError,
    UnreadableRecipientError,
)
from .plain_data import context_dict
from .render_budget import RenderBudget, render_limits, rendering_under
from .render_metering import check_source, meter_template
from .template_library import LOADABLE_LIBRARIES

if TYPE_CHECKING:
    from .models import NotificationTemplate

__all__ = [
    "MessageRenderer",
    "RenderedMessage",
    "compile_source",
    "compile_template",
    "get_engine",
    "raise_render_error",
    "render_compiled",
    "render_errors",
    "render_message",
    "render_text",
    "validate_template",
]

#: Distinct template sources kept compiled per process. Each NotificationTemplate has
#: one or two; the headroom absorbs the old versions that edits leave behind.
COMPILE_CACHE_SIZE = 256

_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """The text of one message; ``subject`` is empty except for email templates."""

    subject: str
    body: str


class _RaiseOnInvalid(str):
    """``string_if_invalid`` that turns Django's silent fallbacks into errors.

    Django renders a ``{{ variable }}`` that fails to resolve as
    ``string_if_invalid % variable_name`` when the string contains ``%s``; raising there
    names the variable. Method calls that need arguments or alter data and lookups that
    fail "silently" (``ObjectDoesNotExist``) resolve to the string itself, which raises
    once it is turned into output.
    """

    def __mod__(self, variable: object) -> str:
        raise MissingPlaceholderError(str(variable))

    def __str__(self) -> str:
        raise MissingPlaceholderError(None)


class _PlainTextEngine(Engine):
    # Django's defaults bring include/extends (loader_tags) and debug/load of any
    # library (defaulttags); the allow-list module replaces all three.
    default_builtins: list[str] = []


def _loadable_libraries() -> dict[str, str]:
    return {
        name: module
        for name, (app, module) in LOADABLE_LIBRARIES.items()
        if app is None or apps.is_installed(app)
    }


@functools.cache
def get_engine() -> Engine:
    """The engine of notification templates, built once the app registry is ready.

    Dropped with the compile cache when settings change (:mod:`.handlers`).
    """
    return _PlainTextEngine(
        dirs=[],
        app_dirs=False,
        loaders=[],
        context_processors=[],
        # Debug only makes Django record where in the source an error happened, which
        # the messages below turn into line numbers for staff.
        debug=True,
        string_if_invalid=_RaiseOnInvalid("<missing %s>"),
        libraries=_loadable_libraries(),
        builtins=["chargesol_notifications.template_library"],
        autoescape=False,
    )


@functools.lru_cache(maxsize=COMPILE_CACHE_SIZE)
def compile_source(source: str) -> Template:
    """Compile ``source`` with the notification engine, cached by the source text.

    The source is checked against the render budget's compile-time limits first, and
    the compiled template is metered (see :func:`render_budget.meter_template`).
    Raises Django's ``TemplateSyntaxError`` (:class:`TemplateBudgetError` for a budget
    limit). Failures are not cached (``lru_cache`` only keeps results), so a broken
    template costs a compile per attempt.
    """
    limits = render_limits()
    check_source(source, limits)
    try:
        compiled = Template(source, engine=get_engine())
    except RecursionError as exc:
        # {% if not not not ... %}: Django's expression parser recurses per operator.
        raise TemplateBudgetError("The template nests expressions too deeply.") from exc
    return meter_template(compiled, limits)


def compile_template(source: str, *, name: str) -> Template:
    """Compile ``source``, raising :class:`TemplateRenderError` that names ``name``."""
    try:
        return compile_source(source)
    except TemplateSyntaxError as exc:
        line, message = _syntax_error(exc)
        where = f"{name}, line {line}" if line else name
        raise TemplateRenderError(f"{where}: {message}") from exc


def render_message(template: NotificationTemplate, context: Mapping[str, Any]) -> RenderedMessage:
    """Render ``template`` with ``context``; no database query of its own.

    The subject is rendered for email templates that have a ``subject_template``, with
    line breaks folded into spaces (an email header is one line); it is empty otherwise.
    ``context`` is converted to plain data first (a value that is not plain data is an
    :class:`~chargesol_notifications.exceptions.InvalidContextError`). Raises
    :class:`TemplateRenderError` for a syntax error, a tag or library that is not
    allowed, a placeholder missing from ``context``, a render over its budget (the body
    may not pass the channel's limit) and any exception raised while rendering.
    """
    return MessageRenderer(template).render(context)


class MessageRenderer:
    """:func:`render_message` of one template, for many contexts.

    ``notify_many()`` renders one template once per recipient: the limits, the labels
    and the compiled fields are the same for all of them, so they are worked out once
    here. Each render still gets a budget of its own and a Django ``Context`` over a
    copy of its plain-data context.
    """

    def __init__(self, template: NotificationTemplate) -> None:
        self.template = template
        # Read once per renderer: a notify_many() call sees one settings state.
        self.limits = render_limits()
        self.has_subject = bool(
            template.channel == TemplateChannel.EMAIL and template.subject_template
        )
        self.body_max_length = self.limits.output_limit(template.channel)
        self.labels = {
            field: f"Notification template {template.name!r}, {field}"
            for field in ("subject_template", "body_template")
        }
        # Compiled on first use, field by field, so that a template fails as
        # render_message() always made it fail: the subject's errors first.
        self._compiled: dict[str, Template] = {}

    def render(self, context: Mapping[str, Any]) -> RenderedMessage:
        subject, body = self.render_fields(context)
        return RenderedMessage(subject=subject, body=body)

    def render_fields(self, context: Mapping[str, Any]) -> tuple[str, str]:
        """(subject, body): :meth:`render` without building its result."""
        data = context_dict(context)
        subject = ""
        if self.has_subject:
            # A copy of its own: a tag that writes into the context ({% cycle ... as
            # x %}) must not carry its value from the subject into the body.
            subject = self._render_field(
                "subject_template", data.copy(), self.limits.default_max_length
            )
            if "\n" in subject or "\r" in subject:
                subject = _LINE_BREAKS.sub(" ", subject)
            subject = subject.strip()
            _check_subject_length(self.template, subject)
        body = self._render_field("body_template", data, self.body_max_length)
        return subject, body

    def _render_field(self, field: str, data: dict[str, Any], max_length: int) -> str:
        label = self.labels[field]
        compiled = self._compiled.get(field)
        if compiled is None:
            compiled = self._compiled[field] = compile_template(
                getattr(self.template, field), name=label
            )
        return render_compiled(compiled, data, label, RenderBudget(self.limits, max_length))


def validate_template(template: NotificationTemplate) -> None:
    """Compile the template's fields; raise ``ValidationError`` keyed by field.

    Reports syntax errors and tags or libraries that are not allowed, and a
    ``subject_template`` on a template that is not for email. It needs no context, so
    missing placeholders can only be found by rendering.
    """
    errors: dict[str, list[ValidationError]] = {}
    if template.subject_template and template.channel != TemplateChannel.EMAIL:
        errors["subject_template"] = [
            ValidationError(
                _("Only email templates have a subject; leave this empty."),
                code="subject_not_allowed",
            )
        ]
    for field in ("subject_template", "body_template"):
        source = getattr(template, field)
        if not source or field in errors:
            continue
        try:
            compile_source(source)
        except TemplateSyntaxError as exc:
            code = "syntax"
            if isinstance(exc, ForbiddenTemplateSyntaxError):
                code = "forbidden"
            elif isinstance(exc, TemplateBudgetError):
                code = "budget"
            line, message = _syntax_error(exc)
            message = f"Line {line}: {message}" if line else message
            errors[field] = [ValidationError(message, code=code)]
    if errors:
        raise ValidationError(errors)


def render_text(
    source: str, context: Mapping[str, Any], *, label: str, channel: str | None = None
) -> str:
    """Render a template string with the notification engine; errors name ``label``.

    The context becomes plain data, and the render runs under the budget of
    ``channel`` (its output limit; the default limit when None).
    """
    compiled = compile_template(source, name=label)
    limits = render_limits()
    return render_compiled(
        compiled, context_dict(context), label, RenderBudget(limits, limits.output_limit(channel))
    )


def render_compiled(
    compiled: Template, data: dict[str, Any], label: str, budget: RenderBudget
) -> str:
    """Render ``compiled`` over ``data`` (plain data, a dict of the caller's own that the
    render may write into) under ``budget``; errors name ``label``."""
    # {% cycle ... as x %}, {% regroup %} and {% now ... as x %} write into the context:
    # hence a dict that is nobody else's.
    django_context = Context(data, autoescape=False)
    try:
        with rendering_under(budget):
            output = render_in_fresh_context(compiled, django_context)
            budget.finish(output)
    except Exception as exc:
        raise_render_error(label, budget, exc)
    # Django marks what a template renders as safe HTML (SafeString); a message is plain
    # text, and whatever shows it in a page must escape it. str.__str__ of a subclass
    # is a plain copy (SafeString's own __str__ returns itself).
    return str.__str__(output)


def render_in_fresh_context(compiled: Template, context: Context) -> str:
    """``compiled.render(context)`` for a ``context`` made for this one render.

    ``Template.render`` binds the template to the context and isolates the render's own
    state (``{% cycle %}``, ``{% ifchanged %}``) with two context managers, so that a
    context shared with other templates (``{% include %}``) is left as it was found; a
    context of its own has nothing to restore, and those two cost about as much as
    rendering a short message. What they set is set here once; ``_render`` is what
    ``Template.render`` runs inside them (and what Django's test runner instruments).
    """
    context.template = compiled
    context.template_name = compiled.name
    context.render_context.template = compiled
    return compiled._render(context)


@contextmanager
def render_errors(label: str, budget: RenderBudget | None = None) -> Iterator[None]:
    """Turn whatever rendering raises into a TemplateRenderError naming ``label``."""
    try:
        yield
    except Exception as exc:
        raise_render_error(label, budget, exc)


def raise_render_error(label: str, budget: RenderBudget | None, exc: Exception) -> NoReturn:
    """Raise what a render that failed with ``exc`` raises: a TemplateRenderError naming
    ``label``, or ``exc`` itself when it already says what is wrong."""
    if isinstance(exc, TemplateRenderError | ConfigurationError):
        # A deployment's recipient setting names something that is not plain data.
        raise exc
    if isinstance(exc, UnreadableRecipientError):
        raise exc.error from exc.error.__cause__
    # Over budget first: Django's {% if %} may have hidden the budget's exception, and
    # something else failed afterwards.
    if budget is not None and budget.exceeded:
        raise TemplateRenderError(
            f"{label}: the template is over its render budget: {budget.exceeded}."
        ) from exc
    raise TemplateRenderError(f"{label}{_at_line(exc)}: {_explain(exc)}") from exc


def _explain(exc: Exception) -> str:
    if isinstance(exc, RenderBudgetExceededError):
        return f"the template is over its render budget: {exc}."
    if isinstance(exc, MissingPlaceholderError):
        return _missing(exc)
    if isinstance(exc, VariableDoesNotExist):
        # A filter argument that does not resolve. str(exc) would print the repr of the
        # whole context, so only the failed name is reported.
        bit = exc.params[0] if exc.params else "?"
        return f"{bit!r} is missing from the context."
    if isinstance(exc, RecursionError):
        return "the template recurses too deeply."
    return f"{type(exc).__name__}: {exc}"


def _missing(exc: MissingPlaceholderError) -> str:
    if exc.variable is not None:
        return f"{exc.variable!r} is missing from the context."
    during = getattr(exc, "template_debug", {}).get("during", "a placeholder")
    return (
        f"{during} has no value (a method that needs arguments or changes data, "
        "or a related object that does not exist)."
    )


def _at_line(exc: Exception) -> str:
    line = getattr(exc, "template_debug", {}).get("line")
    return f", line {line}" if line else ""


def _syntax_error(exc: TemplateSyntaxError) -> tuple[int | None, str]:
    """The line (unless Django's message already names it) and message of ``exc``."""
    # Django >= 6.0 prefixes messages with the origin's name when there is one; ours
    # have none, but the raw message is the one to show if it is there.
    message = getattr(exc, "raw_error_message", None) or str(exc)
    line = getattr(exc, "template_debug", {}).get("line")
    if line and f"line {line}" in message:  # "Invalid block tag on line 2: ..."
        line = None
    return line, message


def _check_subject_length(template: NotificationTemplate, subject: str) -> None:
    limit = _subject_max_length()
    if limit is not None and len(subject) > limit:
        raise TemplateRenderError(
            f"Notification template {template.name!r}, subject_template: the rendered "
            f"subject is {len(subject)} characters long; at most {limit} fit."
        )


@functools.cache
def _subject_max_length() -> int | None:
    # Imported here: the models module imports this one (NotificationTemplate.clean).
    from .models import Notification

    return Notification._meta.get_field("subject").max_length
