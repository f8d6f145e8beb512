"""Sample data for previewing a NotificationTemplate: declared, generated, or typed in.

A preview needs values for the template's placeholders, and the admin has no sending
code to ask. Three sources, each overriding the one before:

1. **Generated** (:func:`generated_sample`): the recipient's allow-listed attributes
   (``RECIPIENT_CONTEXT``) and every other placeholder the template uses, with plausible
   made-up values, so that a preview renders as soon as staff type a placeholder.
2. **Declared** in the template itself, as JSON in a Django comment with the note
   ``"sample"`` (:func:`declared_sample`)::

       {% comment "sample" %}{"survey": {"scheduled_for": "2025-06-02T10:30"}}{% endcomment %}

   The comment tag renders nothing, so sending ignores it.
3. **Typed** into the admin form's sample box. When the box is empty, the declared
   sample stands in.

Whatever staff type is input, not trusted: it is capped in length, parsed with
``json.loads`` only, must be an object, and must pass the limits of
:mod:`~chargesol_notifications.plain_data` (:func:`parse_sample`). JSON has no dates, so
strings written as ISO 8601 dates or date-times become ``date``/``datetime`` values, and
``{{ survey.scheduled_for|date:"l j F" }}`` previews as it will send.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

from django.template import Template, TemplateSyntaxError
from django.template.base import DebugLexer, FilterExpression, Node, TokenType, Variable
from django.template.defaulttags import ForNode

from .conf import get_setting
from .exceptions import InvalidContextError, InvalidSampleError
from .plain_data import plain_context
from .recipient_data import recipient_context_attributes, refused_attribute
from .rendering import compile_source

__all__ = [
    "MAX_SAMPLE_LENGTH",
    "declared_sample",
    "generated_sample",
    "initial_sample_text",
    "parse_sample",
    "sample_context",
]

#: Characters of sample JSON accepted from a form: far more than a message needs, and
#: small enough that parsing it costs nothing.
MAX_SAMPLE_LENGTH = 20_000

#: The note of the comment tag that holds a template's own sample.
SAMPLE_NOTE = "sample"


# -- parsing what staff typed -------------------------------------------------------------


def parse_sample(text: str, *, source: str = "The sample data") -> dict[str, Any]:
    """``text`` as a sample context: a JSON object of plain data; ``{}`` when blank.

    ``source`` names the text in error messages ("The sample the template declares").
    Raises :class:`InvalidSampleError` with a sentence staff can act on.
    """
    if len(text) > MAX_SAMPLE_LENGTH:
        raise InvalidSampleError(
            f"{source} is {len(text):,} characters long; at most {MAX_SAMPLE_LENGTH:,} "
            "are accepted."
        )
    if not text.strip():
        return {}
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidSampleError(
            f"{source} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from exc
    except RecursionError as exc:
        raise InvalidSampleError(f"{source} is nested too deeply.") from exc
    except InvalidSampleError:  # NaN or Infinity, from _refuse_constant
        raise
    except ValueError as exc:  # an integer of more digits than Python converts
        raise InvalidSampleError(f"{source} is not usable JSON: {exc}.") from exc
    if not isinstance(data, dict):
        raise InvalidSampleError(
            f'{source} must be a JSON object of names and values ({{"name": ...}}), '
            f"not {_json_kind(data)}."
        )
    try:
        plain_context(data)  # sizes, depth, digits, NUL characters
    except InvalidContextError as exc:
        raise InvalidSampleError(f"{source}: {exc}") from exc
    converted: dict[str, Any] = _with_dates(data)
    return converted


def _refuse_constant(name: str) -> Any:
    raise InvalidSampleError(f"{name} is not a JSON value; write a number.")


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a number" if not isinstance(value, bool) else "true or false"


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?"
)


def _with_dates(value: Any) -> Any:
    """``value`` with ISO 8601 date and date-time strings turned into dates."""
    if isinstance(value, dict):
        return {key: _with_dates(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_dates(item) for item in value]
    if isinstance(value, str):
        try:
            if _ISO_DATE.fullmatch(value):
                return dt.date.fromisoformat(value)
            if _ISO_DATETIME.fullmatch(value):
                return dt.datetime.fromisoformat(value)
        except ValueError:  # 2025-02-30: shaped like a date, yet not one; left as text
            return value
    return value


# -- the sample a template declares -------------------------------------------------------


def declared_sample(source: str) -> str | None:
    """The text of the template's ``{% comment "sample" %}...{% endcomment %}``, if any.

    Read with Django's own lexer, so a comment inside ``{% verbatim %}`` or text that
    merely looks like one is not taken for it.
    """
    tokens = DebugLexer(source).tokenize()
    for index, token in enumerate(tokens):
        if token.token_type != TokenType.BLOCK or not _is_sample_comment(token.split_contents()):
            continue
        for end in tokens[index + 1 :]:
            if end.token_type == TokenType.BLOCK and end.contents == "endcomment":
                return source[token.position[1] : end.position[0]]
        return None
    return None


def _is_sample_comment(bits: list[str]) -> bool:
    return (
        len(bits) == 2
        and bits[0] == "comment"
        and bits[1][:1] in "\"'"
        and bits[1][1:-1] == SAMPLE_NOTE
    )


# -- the sample generated from the placeholders ---------------------------------------------

#: Path step that stands for "the one item of this list" (a ``{% for %}`` sequence).
_ITEM = "[]"

#: Values of the default ``recipient`` attributes: one made-up customer.
RECIPIENT_SAMPLE: dict[str, Any] = {
    "first_name": "Freya",
    "last_name": "Khan",
    "get_full_name": "Freya Khan",
    "get_short_name": "Freya",
    "username": "freya.khan",
}

#: A placeholder's value by the words of its last name part, first match wins.
VALUES_BY_WORD: tuple[tuple[frozenset[str], Any], ...] = (
    (frozenset({"email"}), "freya.khan@example.com"),
    (frozenset({"phone", "mobile", "telephone"}), "+447700900123"),
    (frozenset({"postcode", "zip"}), "SW1A 1AA"),
    (frozenset({"url", "link", "href"}), "https://example.com/"),
    (frozenset({"price", "amount", "total", "cost", "balance", "deposit", "fee"}), "1250.00"),
    (frozenset({"date", "day"}), "2025-06-02"),
    (frozenset({"at", "for", "time", "when", "start", "end"}), "2025-06-02T10:30:00"),
    (frozenset({"count", "number", "quantity", "panels"}), 2),
    (frozenset({"first"}), "Freya"),
    (frozenset({"last", "surname"}), "Khan"),
    (frozenset({"name", "surveyor", "installer", "engineer"}), "Freya Khan"),
    (frozenset({"address", "street"}), "1 High Street, London"),
)


def generated_sample(*sources: str) -> dict[str, Any]:
    """Made-up values for ``recipient`` and every placeholder of ``sources``.

    A source that does not compile contributes nothing (its error is reported where it
    is compiled). Placeholders inside ``{% for item in items %}`` give ``items`` a list
    of one item.
    """
    return _with_dates(_generated_text(*sources))


def _generated_text(*sources: str) -> dict[str, Any]:
    """:func:`generated_sample` as JSON would write it (dates as ISO 8601 text)."""
    sample: dict[str, Any] = {"recipient": _recipient_sample()}
    for source in sources:
        if not source:
            continue
        try:
            compiled = compile_source(source)
        except TemplateSyntaxError:  # the form and the preview report it
            continue
        for path in placeholder_paths(compiled):
            if path[0] != "recipient":  # what a recipient has is the allow-list's to say
                _insert(sample, path)
    return sample


def _recipient_sample() -> dict[str, Any]:
    email, phone = get_setting("EMAIL_ATTRIBUTE"), get_setting("PHONE_ATTRIBUTE")
    values: dict[str, Any] = {}
    for key, attribute in recipient_context_attributes().items():
        if refused_attribute(attribute) or refused_attribute(key):
            continue
        if attribute == email:
            values[key] = "freya.khan@example.com"
        elif attribute == phone:
            values[key] = "+447700900123"
        elif attribute in RECIPIENT_SAMPLE:
            values[key] = RECIPIENT_SAMPLE[attribute]
        else:
            values[key] = plausible_value(key)
    return values


def plausible_value(name: str) -> Any:
    """A made-up value that reads well for a placeholder called ``name``."""
    words = set(re.split(r"[^a-z0-9]+", name.lower()))
    for keywords, value in VALUES_BY_WORD:
        if words & keywords:
            return value
    label = re.sub(r"^get_|_display$", "", name).replace("_", " ").strip()
    return f"Sample {label}" if label else "Sample"


def placeholder_paths(compiled: Template) -> list[tuple[str, ...]]:
    """The lookups of every ``{{ placeholder }}`` and filter argument, in order.

    Inside a ``{% for x in items %}``, a path that starts with ``x`` is rewritten to
    start with ``items`` and :data:`_ITEM`; ``forloop`` is the tag's own and left out.
    """
    return list(_paths_in(compiled.nodelist, {}))


def _paths_in(nodes: list[Node], loops: dict[str, tuple[str, ...]]) -> Iterator[tuple[str, ...]]:
    for node in nodes:
        if isinstance(node, ForNode):
            yield from _paths_of_for(node, loops)
            continue
        expression = getattr(node, "filter_expression", None)
        if isinstance(expression, FilterExpression):
            yield from _paths_of_expression(expression, loops)
        for attribute in node.child_nodelists:
            yield from _paths_in(getattr(node, attribute, None) or [], loops)


def _paths_of_for(node: ForNode, loops: dict[str, tuple[str, ...]]) -> Iterator[tuple[str, ...]]:
    sequence = list(_paths_of_expression(node.sequence, loops))
    inner = dict(loops)
    if len(sequence) == 1 and len(node.loopvars) == 1:
        inner[node.loopvars[0]] = (*sequence[0], _ITEM)
    else:  # {% for key, value in pairs %} or a literal: nothing to build a list from
        yield from sequence
        inner.update(dict.fromkeys(node.loopvars, ()))
    inner["forloop"] = ()
    yield from _paths_in(node.nodelist_loop, inner)
    yield from _paths_in(node.nodelist_empty, loops)


def _paths_of_expression(
    expression: FilterExpression, loops: dict[str, tuple[str, ...]]
) -> Iterator[tuple[str, ...]]:
    variables = [expression.var]
    for _filter, arguments in expression.filters:
        # Django's (lookup, value) pairs: lookup is False for a literal argument.
        variables += [value for lookup, value in arguments if lookup]
    for variable in variables:
        if not isinstance(variable, Variable) or variable.lookups is None:
            continue  # a literal: "text" or 3
        lookups = tuple(variable.lookups)
        if lookups[0] in loops:
            base = loops[lookups[0]]
            if not base:  # a loop variable with nowhere to put it
                continue
            lookups = (*base, *lookups[1:])
        yield lookups


def _insert(sample: dict[str, Any], path: tuple[str, ...]) -> None:
    """Give ``path`` a plausible value in ``sample``, building dicts and lists on the way;
    a value already there wins (the first use decides a name's shape)."""
    container: Any = sample
    for step, following in zip(path, (*path[1:], None), strict=True):
        shape: Any = {} if following not in (None, _ITEM) else []
        if following is None:
            shape = plausible_value(_last_name(path))
        if step == _ITEM:
            if not isinstance(container, list):
                return
            if not container:
                container.append(shape)
            container = container[0]
        elif isinstance(container, dict):
            container = container.setdefault(step, shape)
        else:
            return


def _last_name(path: tuple[str, ...]) -> str:
    names = [step for step in path if step != _ITEM and not step.isdigit()]
    return names[-1] if names else "value"


# -- the context of a preview -------------------------------------------------------------


def sample_context(subject_source: str, body_source: str, typed: str) -> dict[str, Any]:
    """The context to preview (or test-send) a template with.

    ``typed`` (the form's sample box) overrides the generated values; when it is blank,
    the sample the body declares does. Raises :class:`InvalidSampleError`.
    """
    if typed.strip():
        chosen = parse_sample(typed)
    else:
        declared = declared_sample(body_source)
        source = "The sample the template declares"
        chosen = parse_sample(declared, source=source) if declared is not None else {}
    return _merged(generated_sample(subject_source, body_source), chosen)


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def initial_sample_text(subject_source: str, body_source: str) -> str:
    """What the form's sample box starts with: the declared sample, else a generated one."""
    declared = declared_sample(body_source)
    if declared is not None and declared.strip():
        return declared.strip()
    generated = _generated_text(subject_source, body_source)
    return json.dumps(generated, indent=2, ensure_ascii=False)
