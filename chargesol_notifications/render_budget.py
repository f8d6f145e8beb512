"""The budget every render of a staff-edited template runs under.

Plain data (:mod:`~chargesol_notifications.plain_data`) keeps a template away from the
server; the budget keeps it from exhausting the server. A template is measured in units
that do not depend on the machine, so the same template is refused the same way
everywhere:

* **steps**: every pass over a list of nodes (each loop iteration, each branch of an
  ``{% if %}`` taken, the template itself). Nested loops multiply steps, so they run out.
* **text produced**: characters output by the template's text, placeholders and tags,
  counted as they are produced (before ``{% spaceless %}``, ``{% filter %}`` or
  ``{% ifchanged %}`` drop any), at most twice the channel's output limit; the finished
  message may not pass the limit itself.
* **filter work**: characters (or items) that filters take in and give out, all filters
  together, and no single filter result longer than :attr:`RenderLimits.max_value_length`.
* **arguments that allocate**: widths and precisions (``ljust``, ``rjust``, ``center``,
  ``stringformat``, ``floatformat``) and lengths (``truncatechars``, ``truncatewords``,
  ``wordwrap``) above a bound; literal ones are refused when the template is saved.

Compile time adds two limits: the length of the source and how deeply block tags nest
(Django's parser recurses per level).

The budget of the render in progress lives in a context variable, so renders in other
threads or tasks never share one. Django's ``{% if %}`` swallows exceptions raised while
it evaluates a condition; a budget once exceeded therefore stays exceeded, and the render
fails when it ends even if Django hid the exception on the way.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

from django.template import Template, defaultfilters
from django.template.base import FilterExpression, Lexer, Node, NodeList, TokenType
from django.template.smartif import TokenBase

from .choices import TemplateChannel
from .conf import SETTING_NAME, get_setting
from .exceptions import ConfigurationError, RenderBudgetExceededError, TemplateBudgetError
from .twilio_codes import MAX_BODY_LENGTH as TWILIO_MAX_BODY_LENGTH

__all__ = [
    "RenderBudget",
    "RenderBudgetExceededError",
    "RenderLimits",
    "TemplateBudgetError",
    "check_source",
    "meter_template",
    "render_limits",
    "rendering_under",
]


@dataclass(frozen=True)
class RenderLimits:
    """The numbers of the budget; ``RENDER_LIMITS`` overrides any of them by name."""

    #: Node-list passes per render: loop iterations, branches taken, the template itself.
    max_steps: int = 10_000
    #: Characters of text a render may produce, per channel (the finished message may
    #: not be longer; twice as much may be produced along the way).
    max_length: Mapping[str, int] = field(
        default_factory=lambda: {
            TemplateChannel.SMS: TWILIO_MAX_BODY_LENGTH,
            TemplateChannel.WHATSAPP: TWILIO_MAX_BODY_LENGTH,
            TemplateChannel.PUSH: 4_000,
            TemplateChannel.EMAIL: 100_000,
        }
    )
    #: The output limit of a render that names no channel.
    default_max_length: int = 100_000
    #: Longest string (or container, in items) that one filter may return.
    max_value_length: int = 100_000
    #: Characters (or items) all filters of one render may take in and give out.
    max_filter_work: int = 5_000_000
    #: Largest width or precision given to ljust, rjust, center, stringformat, floatformat.
    max_width: int = 1_000
    #: Largest length given to truncatechars, truncatewords, wordwrap.
    max_truncate: int = 100_000
    #: Characters of one template field.
    max_source_length: int = 50_000
    #: Block tags inside each other ({% for %} in {% if %} in {% with %} ...).
    max_nesting: int = 16

    def output_limit(self, channel: str | None) -> int:
        if channel is None:
            return self.default_max_length
        return self.max_length.get(channel, self.default_max_length)


_SETTING_KEYS = {
    "MAX_STEPS": "max_steps",
    "MAX_LENGTH": "max_length",
    "DEFAULT_MAX_LENGTH": "default_max_length",
    "MAX_VALUE_LENGTH": "max_value_length",
    "MAX_FILTER_WORK": "max_filter_work",
    "MAX_WIDTH": "max_width",
    "MAX_TRUNCATE": "max_truncate",
    "MAX_SOURCE_LENGTH": "max_source_length",
    "MAX_NESTING": "max_nesting",
}


def render_limits() -> RenderLimits:
    """The defaults with the project's ``RENDER_LIMITS`` applied; bad values raise
    ``ConfigurationError`` naming the key (system check E010 reports them too).

    Read on every render (so ``override_settings`` applies at once), and rebuilt only
    when the setting's value differs from the last one seen.
    """
    global _last_limits
    configured = get_setting("RENDER_LIMITS") or {}
    if _last_limits is not None and _last_limits[0] == configured:
        return _last_limits[1]
    limits = _build_limits(configured)
    _last_limits = (copy.deepcopy(configured), limits)
    return limits


_last_limits: tuple[Any, RenderLimits] | None = None


def _build_limits(configured: Any) -> RenderLimits:
    setting = f"{SETTING_NAME}['RENDER_LIMITS']"
    if not isinstance(configured, Mapping):
        raise ConfigurationError(f"{setting} must be a dict of limit names to numbers.")
    defaults = RenderLimits()
    changes: dict[str, Any] = {}
    for key, value in configured.items():
        if key not in _SETTING_KEYS:
            raise ConfigurationError(
                f"{setting}[{key!r}] is not a limit; choose from {', '.join(_SETTING_KEYS)}."
            )
        name = _SETTING_KEYS[key]
        if name == "max_length":
            if not isinstance(value, Mapping):
                raise ConfigurationError(f"{setting}['MAX_LENGTH'] must map channels to numbers.")
            for channel, length in value.items():
                _positive(f"{setting}['MAX_LENGTH'][{channel!r}]", length)
            value = {**defaults.max_length, **value}
        else:
            _positive(f"{setting}[{key!r}]", value)
        changes[name] = value
    return replace(defaults, **changes)


def _positive(where: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{where} must be a whole number of 1 or more, not {value!r}.")


class RenderBudget:
    """What one render has spent; past a limit it raises
    :class:`~chargesol_notifications.exceptions.RenderBudgetExceededError`."""

    def __init__(self, limits: RenderLimits, max_length: int) -> None:
        self.limits = limits
        self.max_length = max_length
        self.steps = 0
        self.produced = 0
        self.filter_work = 0
        self.exceeded: str | None = None

    def fail(self, reason: str) -> None:
        if self.exceeded is None:
            self.exceeded = reason
        raise RenderBudgetExceededError(self.exceeded)

    def step(self) -> None:
        if self.exceeded:
            self.fail(self.exceeded)
        self.steps += 1
        if self.steps > self.limits.max_steps:
            self.fail(f"it runs more than {self.limits.max_steps:,} loop iterations and branches")

    def produce(self, text: str) -> None:
        self.produced += len(text)
        if self.produced > 2 * self.max_length:
            self.fail(f"it produces far more than the {self.max_length:,} characters allowed")

    def filter_value(self, name: str, value: Any, *, taken_in: bool) -> None:
        size = _size(value)
        if size is None:
            return
        if not taken_in and size > self.limits.max_value_length:
            self.fail(
                f"the {name} filter returned {size:,} characters or items; at most "
                f"{self.limits.max_value_length:,} are allowed"
            )
        self.filter_work += size
        if self.filter_work > self.limits.max_filter_work:
            self.fail(f"its filters process more than {self.limits.max_filter_work:,} characters")

    def finish(self, output: str) -> None:
        if self.exceeded:
            self.fail(self.exceeded)
        if len(output) > self.max_length:
            self.fail(
                f"the result is {len(output):,} characters long; at most "
                f"{self.max_length:,} are allowed"
            )


def _size(value: Any) -> int | None:
    if isinstance(value, str | list | tuple | dict | Mapping):
        return len(value)
    return None


_active: ContextVar[RenderBudget | None] = ContextVar("chargesol_render_budget", default=None)


@contextmanager
def rendering_under(budget: RenderBudget) -> Iterator[RenderBudget]:
    """Make ``budget`` the one that metered templates charge while the block runs."""
    token = _active.set(budget)
    try:
        yield budget
    finally:
        _active.reset(token)


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
    """A NodeList that charges one step each time it is iterated while a budget is active.

    Django's renderer iterates a node list once per render of it (``NodeList.render``)
    and once per loop iteration (``ForNode``), so iterations are what steps count.
    """

    def __iter__(self) -> Iterator[Node]:
        budget = _active.get()
        if budget is not None:
            budget.step()
        return super().__iter__()


def _meter_nodelist(nodelist: NodeList, limits: RenderLimits, seen: set[int]) -> None:
    if type(nodelist) is NodeList:
        nodelist.__class__ = _MeteredNodeList
    for node in list.__iter__(nodelist):
        _meter_node(node, limits, seen)


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
        budget = _active.get()
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
        budget = _active.get()
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
