"""The only values a staff-edited template ever sees: plain data.

Django's template language calls argument-less methods and follows attributes, so a live
object in the context (a user, a model instance, a manager) is a path to the settings,
the file system and other users' rows, whatever names are filtered. This module turns the
context of every render into plain data before the engine sees it:

* ``str``, ``int``, ``float``, ``Decimal``, ``bool``, ``None``, ``date``, ``datetime``
  and ``time``, and lists, tuples and dicts of these. Mappings become a read-only
  :class:`PlainMapping`, sequences a :class:`PlainList` (a tuple), so a template cannot
  change the caller's data (``{{ data.clear }}`` finds no such method) and the only
  methods it can reach are those of immutable values.
* A model instance becomes a :class:`PlainMapping` by :func:`model_to_plain`: the model's
  own ``notification_context()`` when it defines one, otherwise its concrete,
  non-relational fields whose names are not sensitive (:func:`is_sensitive_name`).
* The ``recipient`` is a mapping of the user attributes that ``RECIPIENT_CONTEXT`` lists
  (:func:`~chargesol_notifications.recipient_data.recipient_context`).

Anything else is an :class:`~chargesol_notifications.exceptions.InvalidContextError`
naming where in the context it was found. Sizes are bounded (:class:`PlainDataLimits`),
so a context cannot smuggle a gigabyte string or a million-item list into a render.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import models
from django.utils.functional import Promise

from .exceptions import InvalidContextError

__all__ = [
    "LIMITS",
    "Converter",
    "PlainList",
    "PlainMapping",
    "context_dict",
    "is_sensitive_name",
    "model_to_plain",
    "plain_context",
    "to_plain",
    "with_values",
]


@dataclass(frozen=True)
class PlainDataLimits:
    """How much plain data one context may hold."""

    #: Containers nested inside each other (the context itself is level 0).
    max_depth: int = 8
    #: Items in one list, tuple or mapping.
    max_items: int = 1_000
    #: Items in the whole context, all containers together.
    max_total_items: int = 10_000
    #: Characters in one string.
    max_string_length: int = 100_000
    #: Significant digits of an int or Decimal, and the largest decimal exponent.
    max_digits: int = 50


LIMITS = PlainDataLimits()

#: Words that mark a field or attribute as a secret: a name is sensitive when one of its
#: underscore-separated parts is one of these, or it contains one of SENSITIVE_FRAGMENTS.
SENSITIVE_PARTS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "key",
        "hash",
        "salt",
        "session",
        "otp",
        "pin",
        "credential",
        "credentials",
        "signature",
        "private",
    }
)
SENSITIVE_FRAGMENTS = ("password", "secret", "token", "apikey", "passphrase")

_NAME_PARTS = re.compile(r"[^a-z0-9]+")


def is_sensitive_name(name: str) -> bool:
    """Whether a field or attribute name looks like a secret (``password``, ``api_key``)."""
    lowered = name.lower()
    if any(fragment in lowered for fragment in SENSITIVE_FRAGMENTS):
        return True
    return any(part in SENSITIVE_PARTS for part in _NAME_PARTS.split(lowered))


class PlainMapping(Mapping[str, Any]):
    """A read-only mapping of plain values; what a dict or a model becomes in a context.

    Its only public methods are the read-only ones of ``Mapping`` (``items``, ``keys``,
    ``values``, ``get``), so ``{{ value.clear }}`` or ``{{ value.popitem }}`` cannot
    change anything: they are simply missing.
    """

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return repr(self._data)

    __str__ = __repr__

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy (nested plain containers become dicts and lists)."""
        return {key: _unwrap(value) for key, value in self._data.items()}


class PlainList(tuple):  # type: ignore[type-arg]
    """A tuple of plain values; what a list or tuple becomes in a context."""

    __slots__ = ()


def _unwrap(value: Any) -> Any:
    if isinstance(value, PlainMapping):
        return value.as_dict()
    if isinstance(value, PlainList):
        return [_unwrap(item) for item in value]
    return value


class Converter:
    """One conversion: counts items across the whole context and knows where it is.

    ``convert(value, path, depth)`` returns the plain value or raises
    :class:`~chargesol_notifications.exceptions.InvalidContextError` naming ``path``.
    """

    def __init__(self, limits: PlainDataLimits) -> None:
        self.limits = limits
        self.total_items = 0

    def convert(self, value: Any, path: str, depth: int) -> Any:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str | Promise):
            return self.string(value, path)
        if isinstance(value, int):
            return self.integer(value, path)
        if isinstance(value, float):
            return float(value)
        if isinstance(value, Decimal):
            return self.decimal(value, path)
        if isinstance(value, dt.datetime | dt.date | dt.time):
            return _plain_datetime(value)
        if isinstance(value, models.Model):
            return self.container(model_fields(value, path), path, depth)
        if isinstance(value, Mapping):
            return self.container(value, path, depth)
        if isinstance(value, list | tuple):
            return self.sequence(value, path, depth)
        raise InvalidContextError(
            f"The context value {path!r} is a {type(value).__module__}.{type(value).__qualname__}; "
            "templates see plain data only (text, numbers, booleans, dates and times, and "
            "lists and dicts of these). Pass the values the template needs, or give the "
            "model a notification_context() method."
        )

    def string(self, value: str | Promise, path: str) -> str:
        # str.__str__ gives an exact str for subclasses (SafeString, TextChoices members)
        # and str() resolves lazy translations.
        text = str.__str__(value) if isinstance(value, str) else str(value)
        if len(text) > self.limits.max_string_length:
            raise InvalidContextError(
                f"The context value {path!r} is {len(text):,} characters long; at most "
                f"{self.limits.max_string_length:,} are allowed."
            )
        if "\x00" in text:
            raise InvalidContextError(f"The context value {path!r} contains a NUL character.")
        if text.isascii():  # no surrogate, and no encoding to try (a flag of the str)
            return text
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidContextError(
                f"The context value {path!r} contains a lone surrogate ({text[exc.start]!r}), "
                "which no database or gateway accepts."
            ) from exc
        return text

    def integer(self, value: int, path: str) -> int:
        if abs(value) >= 10**self.limits.max_digits:
            raise InvalidContextError(
                f"The context value {path!r} has more than {self.limits.max_digits} digits."
            )
        return int(value)

    def decimal(self, value: Decimal, path: str) -> Decimal:
        if value.is_finite():
            digits = len(value.as_tuple().digits)
            if digits > self.limits.max_digits or abs(value.adjusted()) > self.limits.max_digits:
                raise InvalidContextError(
                    f"The context value {path!r} is a Decimal of more than "
                    f"{self.limits.max_digits} digits or with an exponent beyond that."
                )
        return value

    def count(self, size: int, path: str) -> None:
        if size > self.limits.max_items:
            raise InvalidContextError(
                f"The context value {path!r} holds {size:,} items; "
                f"at most {self.limits.max_items:,}."
            )
        self.total_items += size
        if self.total_items > self.limits.max_total_items:
            raise InvalidContextError(
                f"The context holds more than {self.limits.max_total_items:,} items in all "
                f"(reached at {path!r})."
            )

    def depth_check(self, path: str, depth: int) -> None:
        if depth >= self.limits.max_depth:
            raise InvalidContextError(
                f"The context value {path!r} is nested more than "
                f"{self.limits.max_depth} levels deep."
            )

    def container(self, value: Mapping[Any, Any], path: str, depth: int) -> PlainMapping:
        self.depth_check(path, depth)
        self.count(len(value), path)
        data: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidContextError(
                    f"The context value {path!r} has the key {key!r}; keys must be strings."
                )
            data[key] = self.convert(item, f"{path}.{key}" if path else key, depth + 1)
        return PlainMapping(data)

    def sequence(self, value: list[Any] | tuple[Any, ...], path: str, depth: int) -> PlainList:
        self.depth_check(path, depth)
        self.count(len(value), path)
        return PlainList(
            self.convert(item, f"{path}.{index}", depth + 1) for index, item in enumerate(value)
        )


def _plain_datetime(value: dt.date | dt.time) -> dt.date | dt.time:
    """An exact date, datetime or time; an aware one carries a fixed UTC offset.

    Subclasses (from test libraries, say) and time zone objects bring methods of their
    own; rebuilding the value keeps only the instant. Filters such as ``date`` still
    show aware datetimes in the current time zone.
    """
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            return value.astimezone(dt.UTC).replace(tzinfo=dt.UTC)
        return dt.datetime(
            value.year, value.month, value.day, value.hour, value.minute, value.second,
            value.microsecond, fold=value.fold,
        )  # fmt: skip
    if isinstance(value, dt.date):
        return dt.date(value.year, value.month, value.day)
    offset = value.utcoffset()
    tzinfo = dt.timezone(offset) if offset is not None else None
    return dt.time(
        value.hour, value.minute, value.second, value.microsecond, tzinfo=tzinfo, fold=value.fold
    )


def to_plain(value: Any, *, path: str = "", limits: PlainDataLimits = LIMITS) -> Any:
    """Convert one value to plain data, or raise :class:`InvalidContextError`."""
    return Converter(limits).convert(value, path, 0)


def plain_context(context: Mapping[str, Any], *, limits: PlainDataLimits = LIMITS) -> PlainMapping:
    """Convert a whole template context; keys name the values in error messages."""
    if isinstance(context, PlainMapping):
        return context
    if not isinstance(context, Mapping):
        raise InvalidContextError("context must be a mapping (a dict of names to values).")
    converter = Converter(limits)
    converter.count(len(context), "")
    data: dict[str, Any] = {}
    for key, value in context.items():
        if not isinstance(key, str):
            raise InvalidContextError(f"The context has the key {key!r}; keys must be strings.")
        data[key] = converter.convert(value, key, 1) if not _is_plain(value) else value
    return PlainMapping(data)


def context_dict(context: Mapping[str, Any], *, limits: PlainDataLimits = LIMITS) -> dict[str, Any]:
    """``context`` as plain data (:func:`plain_context`), in a new dict of its own: what a
    render hands Django's ``Context``, which tags may write into."""
    plain = plain_context(context, limits=limits)
    if type(plain) is PlainMapping:
        # Its values are plain already; a dict copy of them costs no Python call per key.
        return plain._data.copy()
    return dict(plain)


def with_values(context: PlainMapping, **values: PlainMapping) -> PlainMapping:
    """``context`` plus already converted ``values`` (``recipient``), without a recheck."""
    return PlainMapping({**context._data, **values})


def _is_plain(value: Any) -> bool:
    """Already converted by this module (a context reused across recipients)."""
    return isinstance(value, PlainMapping | PlainList)


# -- model instances ----------------------------------------------------------------------


def model_to_plain(instance: models.Model, *, path: str = "") -> PlainMapping:
    """A model instance as plain data, by the documented rule.

    1. The model's ``notification_context()``, when it has one: its result (a mapping)
       is converted like any other context value, so it may only hold plain data or
       other model instances, which are converted by this same rule.
    2. Otherwise its concrete fields that are not relations and whose names are not
       sensitive, keyed by attribute name: UUIDs become strings; files, binary data and
       durations are left out; fields deferred by ``only()``/``defer()`` are left out
       rather than loaded. ``pk`` is added, and ``get_FOO_display`` for fields with
       choices, so templates written against the model keep working.

    Related objects are never followed.
    """
    result = to_plain(instance, path=path)
    assert isinstance(result, PlainMapping)
    return result


def model_fields(instance: models.Model, path: str) -> Mapping[str, Any]:
    """What :func:`model_to_plain` turns into a mapping (before the values are checked)."""
    hook = getattr(instance, "notification_context", None)
    if callable(hook):
        data = hook()
        if not isinstance(data, Mapping):
            raise InvalidContextError(
                f"The context value {path!r}: {type(instance).__qualname__}.notification_context() "
                "must return a mapping."
            )
        return data
    deferred = instance.get_deferred_fields()
    fields: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if field.is_relation or field.attname in deferred or is_sensitive_name(field.name):
            continue
        raw = field.value_from_object(instance)
        value = _field_value(raw)
        if value is _LEFT_OUT:
            continue
        fields[field.attname] = value
        if field.choices:
            label = dict(field.flatchoices).get(raw, raw)
            fields[f"get_{field.name}_display"] = "" if label is None else str(label)
    if "pk" not in fields and not is_sensitive_name(instance._meta.pk.name):
        fields["pk"] = _field_value(instance.pk)
    return fields


_LEFT_OUT = object()


def _field_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if value is None or isinstance(
        value, str | int | float | Decimal | bool | dt.date | dt.time | list | dict
    ):
        return value
    return _LEFT_OUT
