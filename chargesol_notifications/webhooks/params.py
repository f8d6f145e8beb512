"""Reading a webhook's parameters by declared rules, before anything is looked up or written.

A provider module declares each parameter it reads as a :class:`Param` (a name and the
rule its value must follow) and reads values only through it, so a payload it cannot
read raises :class:`~chargesol_notifications.exceptions.MalformedWebhookError` (HTTP 400)
in :meth:`~chargesol_notifications.webhooks.base.WebhookView.parse`. Nothing here knows a
provider: the patterns of a provider's ids belong to its own module.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.http import QueryDict

from ..exceptions import MalformedWebhookError

T = TypeVar("T")

#: ASCII digits only: ``str.isdigit()`` also accepts ``²`` and other Unicode digits.
ASCII_DIGITS = re.compile(r"[0-9]+")
#: The largest value of an ``IntegerField`` on every supported database.
INT32_MAX = 2**31 - 1


def shown(value: str, limit: int = 40) -> str:
    """``value`` quoted for a log line, cut short: a hostile field can be megabytes long."""
    return repr(value[:limit] + "…") if len(value) > limit else repr(value)


@dataclass(frozen=True)
class Param(Generic[T]):
    """One parameter of a webhook request and the rule its value must follow.

    The value is refused (:class:`MalformedWebhookError`, so HTTP 400) when the parameter is
    given more than once, contains a NUL character (PostgreSQL cannot store one), is
    longer than ``max_length`` (unless ``truncate``, which cuts it to ``max_length``),
    does not match ``pattern`` in full, is not one of ``choices``, or does not
    :meth:`convert`. An absent or empty parameter reads as ``None``.
    """

    name: str
    max_length: int = 100
    pattern: re.Pattern[str] | None = None
    choices: frozenset[str] | None = None
    truncate: bool = False

    def read(self, data: QueryDict) -> T | None:
        """The checked value of the parameter in ``data``, or ``None`` when it is absent."""
        values = data.getlist(self.name)
        if len(values) > 1:
            raise MalformedWebhookError(f"{self.name} is given {len(values)} times.")
        value = str(values[0]) if values else ""
        if not value:
            return None
        if "\x00" in value:
            raise MalformedWebhookError(f"{self.name} contains a NUL character.")
        if len(value) > self.max_length:
            if not self.truncate:
                raise MalformedWebhookError(
                    f"{self.name} is {len(value)} characters long; at most "
                    f"{self.max_length} are accepted."
                )
            value = value[: self.max_length]
        if self.pattern is not None and not self.pattern.fullmatch(value):
            raise MalformedWebhookError(f"{self.name} {shown(value)} is not in the expected form.")
        if self.choices is not None and value not in self.choices:
            raise MalformedWebhookError(
                f"{self.name} {shown(value)} is not one of the known values."
            )
        return self.convert(value)

    def require(self, data: QueryDict) -> T:
        """Like :meth:`read`, but an absent or empty parameter is refused too."""
        value = self.read(data)
        if value is None:
            raise MalformedWebhookError(f"{self.name} is missing.")
        return value

    def convert(self, value: str) -> T:
        """The checked text as the type the view uses; ``MalformedWebhookError`` if it isn't."""
        raise NotImplementedError(f"{type(self).__name__} must implement convert().")


@dataclass(frozen=True)
class TextParam(Param[str]):
    """A text parameter, used as it came."""

    def convert(self, value: str) -> str:
        return value


@dataclass(frozen=True)
class IntegerParam(Param[int]):
    """A count in ASCII digits, from 0 up to ``maximum`` (by default what an IntegerField holds)."""

    max_length: int = len(str(INT32_MAX))
    pattern: re.Pattern[str] | None = ASCII_DIGITS
    maximum: int = INT32_MAX

    def convert(self, value: str) -> int:
        number = int(value)
        if number > self.maximum:
            raise MalformedWebhookError(f"{self.name} {shown(value)} is more than {self.maximum}.")
        return number


@dataclass(frozen=True)
class UUIDParam(Param[uuid.UUID]):
    """A UUID, in any of the spellings ``uuid.UUID`` reads (the longest is ``urn:uuid:...``)."""

    max_length: int = 45

    def convert(self, value: str) -> uuid.UUID:
        try:
            return uuid.UUID(value)
        except ValueError as exc:
            raise MalformedWebhookError(f"{self.name} {shown(value)} is not a UUID.") from exc
