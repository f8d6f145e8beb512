"""The budget every render of a staff-edited template runs under.

Plain data (:mod:`~chargesol_notifications.plain_data`) keeps a template away from the
server; the budget keeps it from exhausting the server. A template is measured in units
that do not depend on the machine, so the same template is refused the same way
everywhere:

* **steps**: every pass over a list of nodes (each loop iteration, each branch of an
  ``{% if %}`` taken, the template itself). Nested loops multiply steps, so they run out.
* **text produced**: characters output by the template's text, placeholders and tags,
  counted as they are produced (before ``{% spaceless %}``, ``{% filter %}`` or
  ``{% ifchanged %}`` drop any; a node list's plain text when the list is rendered or
  looped over), at most twice the channel's output limit; the finished message may not
  pass the limit itself.
* **filter work**: characters (or items) that filters take in and give out, all filters
  together, and no single filter result longer than :attr:`RenderLimits.max_value_length`.
* **arguments that allocate**: widths and precisions (``ljust``, ``rjust``, ``center``,
  ``stringformat``, ``floatformat``) and lengths (``truncatechars``, ``truncatewords``,
  ``wordwrap``) above a bound; literal ones are refused when the template is saved.

Compile time adds two limits: the length of the source and how deeply block tags nest
(Django's parser recurses per level).

The counting is done by the template that :mod:`~chargesol_notifications.render_metering`
instruments. The budget of the render in progress lives in a context variable, so renders in other
threads or tasks never share one. Django's ``{% if %}`` swallows exceptions raised while
it evaluates a condition; a budget once exceeded therefore stays exceeded, and the render
fails when it ends even if Django hid the exception on the way.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field, replace
from typing import Any

from .choices import TemplateChannel
from .conf import SETTING_NAME, get_setting
from .exceptions import ConfigurationError, RenderBudgetExceededError, TemplateBudgetError
from .twilio_codes import MAX_BODY_LENGTH as TWILIO_MAX_BODY_LENGTH

__all__ = [
    "RenderBudget",
    "RenderBudgetExceededError",
    "RenderLimits",
    "TemplateBudgetError",
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

    # Slots: a metered render touches these attributes once per node it renders.
    __slots__ = ("exceeded", "filter_work", "limits", "max_length", "produced", "steps")

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

    def enter_nodelist(self, text_length: int) -> None:
        """A pass over a list of nodes: one step, and ``text_length`` characters of the
        list's plain text produced."""
        if self.exceeded:
            self.fail(self.exceeded)
        self.steps += 1
        if self.steps > self.limits.max_steps:
            self.fail(f"it runs more than {self.limits.max_steps:,} loop iterations and branches")
        self.produced += text_length
        if self.produced > 2 * self.max_length:
            self.over_produced()

    def over_produced(self) -> None:
        self.fail(f"it produces far more than the {self.max_length:,} characters allowed")

    def produce(self, text: str) -> None:
        self.produced += len(text)
        if self.produced > 2 * self.max_length:
            self.over_produced()

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


class rendering_under:
    """Make ``budget`` the one that metered templates charge while the block runs.

    A class rather than a ``@contextmanager`` generator: ``notify_many()`` enters one
    per message field, and the generator machinery cost more than the render's own
    bookkeeping.
    """

    __slots__ = ("budget", "token")
    token: Token[RenderBudget | None]

    def __init__(self, budget: RenderBudget) -> None:
        self.budget = budget

    def __enter__(self) -> RenderBudget:
        self.token = _active.set(self.budget)
        return self.budget

    def __exit__(self, *exc_info: object) -> None:
        _active.reset(self.token)


#: The budget of the render in progress in this thread or task, if any. The context
#: variable's own ``get`` (no Python frame of ours): metered templates ask for it once
#: per node they render.
active_budget: Callable[[], RenderBudget | None] = _active.get
