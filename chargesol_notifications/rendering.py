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
from typing import TYPE_CHECKING, Any

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
from .plain_data import plain_context
from .render_budget import RenderBudget, render_limits, rendering_under
from .render_metering import check_source, meter_template
from .template_library import LOADABLE_LIBRARIES

if TYPE_CHECKING:
    from .models import NotificationTemplate

__all__ = [
    "RenderedMessage",
    "compile_source",
    "compile_template",
    "get_engine",
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
    subject = ""
    if template.channel == TemplateChannel.EMAIL and template.subject_template:
        subject = _render_field(template, "subject_template", context, channel=None)
        subject = _LINE_BREAKS.sub(" ", subject).strip()
        _check_subject_length(template, subject)
    body = _render_field(template, "body_template", context, channel=template.channel)
    return RenderedMessage(subject=subject, body=body)


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


def _render_field(
    template: NotificationTemplate, field: str, context: Mapping[str, Any], *, channel: str | None
) -> str:
    label = f"Notification template {template.name!r}, {field}"
    return render_text(getattr(template, field), context, label=label, channel=channel)


def render_text(
    source: str, context: Mapping[str, Any], *, label: str, channel: str | None = None
) -> str:
    """Render a template string with the notification engine; errors name ``label``.

    The context becomes plain data, and the render runs under the budget of
    ``channel`` (its output limit; the default limit when None).
    """
    compiled = compile_template(source, name=label)
    limits = render_limits()
    budget = RenderBudget(limits, limits.output_limit(channel))
    # A new Context over a copy: {% cycle ... as x %}, {% regroup %} and {% now ... as
    # x %} write into the context, and the caller's mapping must come back unchanged.
    django_context = Context(dict(plain_context(context)), autoescape=False)
    with render_errors(label, budget), rendering_under(budget):
        output = compiled.render(django_context)
        budget.finish(output)
    return output


@contextmanager
def render_errors(label: str, budget: RenderBudget | None = None) -> Iterator[None]:
    """Turn whatever rendering raises into a TemplateRenderError naming ``label``."""
    try:
        yield
    except (TemplateRenderError, ConfigurationError):
        raise  # a deployment's recipient setting names something that is not plain data
    except UnreadableRecipientError as exc:
        raise exc.error from exc.error.__cause__
    except Exception as exc:
        # Over budget first: Django's {% if %} may have hidden the budget's exception,
        # and something else failed afterwards.
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
    from .models import Notification

    limit = Notification._meta.get_field("subject").max_length
    if limit is not None and len(subject) > limit:
        raise TemplateRenderError(
            f"Notification template {template.name!r}, subject_template: the rendered "
            f"subject is {len(subject)} characters long; at most {limit} fit."
        )
