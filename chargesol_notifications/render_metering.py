"""Instrumenting a compiled template so that rendering it charges the render budget.

:mod:`~chargesol_notifications.render_budget` holds the limits and what one render has
spent; this module is where the spending is counted. At compile time it refuses sources
that are too long or nest too deeply (:func:`check_source`) and literal filter arguments
over their bound, and it wraps what Django will run (:func:`meter_template`): node lists
count a step and the length of their plain text each time they are iterated, other nodes
without children report the text they produce, and every filter becomes a metered copy
that checks its arguments and charges its input and result. Outside a render (no active
budget) the instrumented template behaves exactly like Django's.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

from django.template import Template, defaultfilters
from django.template.base import FilterExpression, Lexer, Node, NodeList, TextNode, TokenType
from django.template.smartif import TokenBase

from .exceptions import TemplateBudgetError
from .render_budget import RenderLimits, active_budget

__all__ = ["check_source", "meter_template"]


# -- compile time ---------------------------------------------------------------------------

#: Tags that open a block closed by ``end<name>``, for the nesting count.
_BLOCK_TAGS = frozenset(
    {
        "for",
        "if",
        "with",
        "filter",
        "spaceless",
        "ifchanged",
        "comment",
        "localtime",
        "timezone",
        "autoescape",
        "block",
    }
)


def check_source(source: str, limits: RenderLimits) -> None:
    """Refuse a source that is too long or nests block tags too deeply, before parsing."""
    if len(source) > limits.max_source_length:
        raise TemplateBudgetError(
            f"The template is {len(source):,} characters long; at most "
            f"{limits.max_source_length:,} are allowed."
        )
    if "\x00" in source:
        raise TemplateBudgetError("The template contains a NUL character.")
    depth = 0
    for token in Lexer(source).tokenize():
        if token.token_type != TokenType.BLOCK or not token.contents.split():
            continue
        name = token.contents.split()[0]
        if name.startswith("end"):
            depth = max(depth - 1, 0)
        elif name in _BLOCK_TAGS:
            depth += 1
            if depth > limits.max_nesting:
                raise TemplateBudgetError(
                    f"Line {token.lineno}: block tags are nested more than "
                    f"{limits.max_nesting} levels deep."
                )


def meter_template(compiled: Template, limits: RenderLimits) -> Template:
    """Instrument a freshly compiled template so that rendering it charges the budget.

    Every node list counts a step each time it is rendered or looped over, every node
    without children reports the text it produces, and every filter is replaced by a
    metered copy that checks its arguments and its result. Literal filter arguments
    over their bound are refused here, at compile time.
    """
    _meter_nodelist(compiled.nodelist, limits, set())
    return compiled


class _MeteredNodeList(NodeList):
    """A NodeList that charges one step, and the text of its plain-text nodes, each time
    it is iterated while a budget is active.

    Django's renderer iterates a node list once per render of it (``NodeList.render``)
    and once per loop iteration (``ForNode``), so iterations are what steps count; each
    iteration also renders every ``TextNode`` in it, whose text is fixed at compile
    time, so it is charged here in one sum rather than node by node as it is produced.
    """

    #: Characters of the TextNodes directly in this list.
    static_length = 0

    def __iter__(self) -> Iterator[Node]:
        budget = active_budget()
        if budget is not None:
            budget.enter_nodelist(self.static_length)
        return list.__iter__(self)


def _meter_nodelist(nodelist: NodeList, limits: RenderLimits, seen: set[int]) -> None:
    if type(nodelist) is NodeList:
        nodelist.__class__ = _MeteredNodeList
    metered = isinstance(nodelist, _MeteredNodeList)
    static_length = 0
    for node in list.__iter__(nodelist):
        if metered and type(node) is TextNode:
            # Rendered only by iterating this list, which charges its text.
            seen.add(id(node))
            static_length += len(node.s)
        else:
            _meter_node(node, limits, seen)
    if metered:
        nodelist.static_length = static_length


def _meter_node(node: Node, limits: RenderLimits, seen: set[int]) -> None:
    if id(node) in seen:
        return
    seen.add(id(node))
    found_nodelist = False
    for child in _children(node):
        if isinstance(child, NodeList):
            found_nodelist = True
            _meter_nodelist(child, limits, seen)
        elif isinstance(child, Node):
            found_nodelist = True
            _meter_node(child, limits, seen)
        elif isinstance(child, FilterExpression):
            _meter_filters(child, limits)
    if not found_nodelist:
        node.render_annotated = _producing(node.render_annotated)  # type: ignore[method-assign]


def _children(obj: Any) -> Iterator[Any]:
    """What a node holds that may contain node lists, nodes or filter expressions.

    Only containers, nodes and ``{% if %}`` condition objects are entered: a node also
    refers to its origin and token, through which the whole engine would be reachable.
    """
    stack = list(vars(obj).values())
    while stack:
        item = stack.pop()
        if isinstance(item, NodeList | Node | FilterExpression):
            yield item
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, TokenBase):
            stack.extend(vars(item).values())


def _producing(render_annotated: Callable[[Any], str]) -> Callable[[Any], str]:
    def render_and_charge(context: Any) -> str:
        text = render_annotated(context)
        budget = active_budget()
        if budget is not None:
            budget.produce(text)
        return text

    return render_and_charge


def _meter_filters(expression: FilterExpression, limits: RenderLimits) -> None:
    metered = []
    for func, args in expression.filters:
        name = getattr(func, "_filter_name", None) or getattr(func, "__name__", "?")
        bound = _argument_bound(func, limits)
        if bound is not None:
            for is_variable, value in args:
                if not is_variable:
                    _check_argument(name, value, bound)
        metered.append((_metered_filter(func), args))
    expression.filters = metered


# -- filters ---------------------------------------------------------------------------------

#: Filters whose argument is a width or precision: a large one allocates.
_WIDTH_FILTERS = frozenset(
    {
        defaultfilters.ljust,
        defaultfilters.rjust,
        defaultfilters.center,
        defaultfilters.stringformat,
        defaultfilters.floatformat,
    }
)
#: Filters whose argument is a length; bounded so that no value is ever "huge".
_LENGTH_FILTERS = frozenset(
    {defaultfilters.truncatechars, defaultfilters.truncatewords, defaultfilters.wordwrap}
)
_NUMBERS = re.compile(r"\d+")


def _argument_bound(func: Callable[..., Any], limits: RenderLimits) -> int | None:
    # ``func`` is the registered filter, or the metered copy of it that wraps it.
    registered = func.__wrapped__ if getattr(func, "_metered", False) else func  # type: ignore[attr-defined]
    if registered in _WIDTH_FILTERS:
        return limits.max_width
    if registered in _LENGTH_FILTERS:
        return limits.max_truncate
    return None


def _check_argument(name: str, value: Any, bound: int) -> None:
    """Every number written in the argument (``"09999d"``, ``"-3g"``, 12) is at most ``bound``."""
    for digits in _NUMBERS.findall(str(value)):
        if len(digits) > len(str(bound)) or int(digits) > bound:
            raise TemplateBudgetError(
                f"The {name} filter's argument {str(value)[:20]!r} is over the limit of {bound:,}."
            )


@functools.cache
def _metered_filter(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` with its arguments checked and its input and result charged to the budget.

    ``functools.wraps`` keeps the filter's flags (``is_safe``, ``needs_autoescape``,
    ``expects_localtime``) and, through ``__wrapped__``, the signature that Django's
    argument-count check reads.
    """
    name = getattr(func, "_filter_name", None) or getattr(func, "__name__", "?")

    @functools.wraps(func)
    def metered(value: Any, *args: Any, **kwargs: Any) -> Any:
        budget = active_budget()
        if budget is None:
            return func(value, *args, **kwargs)
        bound = _argument_bound(func, budget.limits)
        if bound is not None:
            for argument in args:
                try:
                    _check_argument(name, argument, bound)
                except TemplateBudgetError as exc:
                    budget.fail(str(exc).rstrip("."))
        budget.filter_value(name, value, taken_in=True)
        result = func(value, *args, **kwargs)
        budget.filter_value(name, result, taken_in=False)
        return result

    metered._metered = True  # type: ignore[attr-defined]
    return metered
