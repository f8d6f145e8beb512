"""Placeholders one by one: WhatsApp Content variables from a NotificationTemplate.

A WhatsApp Content template is approved with numbered variables (``Hi {{1}}, see you
{{2}}``); the NotificationTemplate that mirrors it holds only text and placeholders, in
the same order. :func:`placeholder_values` renders each placeholder on its own (from the
same plain-data context and under the same budget as a whole render), and
:func:`placeholder_values_from_text` reads them back out of a stored body when the task
that carried them was lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.template import Context, Template
from django.template.base import Node, TextNode, VariableNode

from .exceptions import TemplateRenderError
from .plain_data import context_dict
from .render_budget import RenderBudget, render_limits, rendering_under
from .rendering import compile_template, render_errors

__all__ = ["placeholder_values", "placeholder_values_from_text"]


def placeholder_values(source: str, context: Mapping[str, Any], *, label: str) -> list[str]:
    """The rendered value of each ``{{ placeholder }}`` of ``source``, in order.

    For templates that mirror a gateway's numbered template (WhatsApp Content
    templates: ``{{1}}``, ``{{2}}``, ...): ``source`` may hold only text and
    placeholders, no tags, so that its placeholders line up with the numbers.
    """
    compiled = compile_template(source, name=label)
    nodes = _flat_nodes(compiled, label)
    limits = render_limits()
    budget = RenderBudget(limits, limits.default_max_length)
    django_context = Context(context_dict(context), autoescape=False)
    with (
        render_errors(label, budget),
        rendering_under(budget),
        django_context.render_context.push_state(compiled),
        django_context.bind_template(compiled),
    ):
        values = [
            node.render_annotated(django_context)
            for node in nodes
            if isinstance(node, VariableNode)
        ]
        budget.finish("".join(values))
    return values


def placeholder_values_from_text(source: str, text: str, *, label: str) -> list[str] | None:
    """Read the placeholders' values back out of ``text`` rendered from ``source``.

    The fallback of :func:`placeholder_values` when the context is gone (a delivery
    whose task was lost): the template's literal text anchors each value. None when
    ``text`` does not fit ``source`` (the template was edited since), and None when it
    fits in more than one way (a value that contains the text after its placeholder),
    since guessing would send the customer wrong values.

    Linear in the length of ``text``: each literal is found with one ``str.find`` from
    the left and one ``str.rfind`` from the right, no backtracking. The leftmost split
    exists whenever any split does, and it is the only one exactly when it equals the
    rightmost split.
    """
    nodes = _flat_nodes(compile_template(source, name=label), label)
    parts: list[str | None] = []  # literal text, or None for a placeholder
    for node in nodes:
        if isinstance(node, VariableNode):
            parts.append(None)
        elif parts and parts[-1] is not None:
            parts[-1] += node.s
        else:
            parts.append(node.s)
    leftmost = _split_leftmost(parts, text)
    if leftmost is None:
        return None
    rightmost = _split_leftmost(_reversed_parts(parts), text[::-1])
    if rightmost is None or [value[::-1] for value in reversed(rightmost)] != leftmost:
        return None
    return leftmost


def _reversed_parts(parts: list[str | None]) -> list[str | None]:
    return [None if part is None else part[::-1] for part in reversed(parts)]


def _split_leftmost(parts: list[str | None], text: str) -> list[str] | None:
    """Placeholder values of the leftmost fit of ``parts`` (literals and None) to ``text``."""
    end = len(text)
    if parts and parts[-1] is not None:
        # The last literal anchors the end of the text.
        if not text.endswith(parts[-1]):
            return None
        end -= len(parts[-1])
        parts = parts[:-1]
    values: list[str] = []
    position = 0
    pending_placeholder = False
    for part in parts:
        if part is None:
            if pending_placeholder:
                values.append("")  # two placeholders side by side: the first is empty
            pending_placeholder = True
            continue
        if pending_placeholder:
            found = text.find(part, position, end)
            if found < 0:
                return None
            values.append(text[position:found])
            pending_placeholder = False
        elif not text.startswith(part, position, end):
            return None
        else:
            found = position
        position = found + len(part)
    if pending_placeholder:
        values.append(text[position:end])
    elif position != end:
        return None
    return values


def _flat_nodes(compiled: Template, label: str) -> list[Node]:
    nodes = list(compiled.nodelist)
    if any(not isinstance(node, TextNode | VariableNode) for node in nodes):
        raise TemplateRenderError(
            f"{label}: a template sent as numbered placeholders may hold only text and "
            "{{ placeholders }}, no tags."
        )
    return nodes
