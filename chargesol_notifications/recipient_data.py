"""What a template sees as ``recipient``: allow-listed attributes of the user, as plain data.

Never the user object: ``RECIPIENT_CONTEXT`` lists the attributes (by default names,
email and the phone attribute), and permission flags, relations, private and
secret-looking names cannot be listed. See :mod:`~chargesol_notifications.plain_data`
for why templates see plain data only.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models.fields.related_descriptors import (
    ForwardManyToOneDescriptor,
    ReverseManyToOneDescriptor,
    ReverseOneToOneDescriptor,
)
from django.db.models.manager import ManagerDescriptor
from django.utils.functional import Promise

from .conf import SETTING_NAME, get_setting
from .exceptions import ConfigurationError, UnreadableRecipientError
from .plain_data import LIMITS, Converter, PlainMapping, is_sensitive_name

__all__ = [
    "PERMISSION_ATTRIBUTES",
    "LazyRecipient",
    "recipient_context",
    "recipient_context_attributes",
    "recipient_reader",
    "refused_attribute",
]

#: User attributes that grant rights or reach other rows: never in ``recipient``.
PERMISSION_ATTRIBUTES = frozenset(
    {"is_staff", "is_superuser", "groups", "user_permissions", "last_login", "is_active"}
)

#: Returned by ``getattr`` for an attribute the user does not have.
_MISSING = object()


def recipient_context_attributes() -> dict[str, str]:
    """Template key -> user attribute, from ``RECIPIENT_CONTEXT`` (or its default).

    The default gives first and last name, full and short name (also under Django's
    method names ``get_full_name`` and ``get_short_name``), the email attribute and the
    phone attribute that the default resolver reads.
    """
    configured = get_setting("RECIPIENT_CONTEXT")
    if configured is None:
        email, phone = get_setting("EMAIL_ATTRIBUTE"), get_setting("PHONE_ATTRIBUTE")
        return {
            "first_name": "first_name",
            "last_name": "last_name",
            "full_name": "get_full_name",
            "get_full_name": "get_full_name",
            "short_name": "get_short_name",
            "get_short_name": "get_short_name",
            "email": email,
            phone: phone,
        }
    if isinstance(configured, Mapping):
        return {str(key): str(attribute) for key, attribute in configured.items()}
    return {str(attribute): str(attribute) for attribute in configured}


def refused_attribute(attribute: str) -> str | None:
    """Why ``RECIPIENT_CONTEXT`` may not name ``attribute``, or None when it may."""
    if attribute.startswith("_"):
        return "names starting with an underscore are private"
    if attribute in PERMISSION_ATTRIBUTES:
        return "it grants rights or reaches other rows"
    if is_sensitive_name(attribute):
        return "it looks like a secret"
    return None


def recipient_context(user: Any) -> PlainMapping:
    """The ``recipient`` a template sees: the allow-listed attributes of ``user``.

    A method (``get_full_name``) is called without arguments. An attribute the user
    does not have is left out, so a template that uses it fails like any missing
    placeholder. Naming a sensitive attribute, or one whose value is not plain data
    (a relation, a manager), is a configuration error.
    """
    converter = Converter(LIMITS)
    data: dict[str, Any] = {}
    for key, attribute in _allowed_attributes():
        value = read_attribute(user, key, attribute, converter)
        if value is not _MISSING:
            data[key] = value
    return PlainMapping(data)


def read_attribute(user: Any, key: str, attribute: str, converter: Converter) -> Any:
    """One allow-listed attribute of ``user`` as plain data, or ``_MISSING``."""
    value = getattr(user, attribute, _MISSING)
    if value is _MISSING:
        return value
    if type(value) is str:  # the usual case (a name, an address): plain as it is
        return converter.string(value, f"recipient.{key}")
    if callable(value) and not isinstance(value, models.Manager):
        value = value()
    if isinstance(value, models.Model | models.Manager) or not _plain_value(value):
        raise ConfigurationError(
            f"{SETTING_NAME}['RECIPIENT_CONTEXT']: the user's {attribute!r} is a "
            f"{type(value).__qualname__}, not plain data (text, a number, a date); list "
            "plain attributes only."
        )
    return converter.convert(value, f"recipient.{key}", 1)


class LazyRecipient(PlainMapping):
    """``recipient`` as ``notify()`` and ``notify_many()`` give it to templates: the
    mapping :func:`recipient_context` builds, each attribute read from the user when a
    template first asks for it. A template names one or two of them; the allow-list holds
    eight by default, some of them methods, and ``notify_many()`` builds one per user.

    Relations and managers are refused for the user's class before any template runs
    (:func:`recipient_reader`), as the eager mapping refuses them.
    """

    __slots__ = ("_complete", "_converter", "_pairs", "_user")

    def __init__(self, user: Any, pairs: Mapping[str, str]) -> None:
        super().__init__({})
        self._user = user
        self._pairs = pairs
        self._converter = Converter(LIMITS)
        self._complete = False

    def __getitem__(self, key: str) -> Any:
        try:
            return self._data[key]
        except KeyError:
            pass
        attribute = self._pairs.get(key)
        if attribute is None:
            raise KeyError(key)
        try:
            value = read_attribute(self._user, key, attribute, self._converter)
        except ValueError as exc:
            raise UnreadableRecipientError(exc) from exc
        if value is _MISSING:
            raise KeyError(key)
        self._data[key] = value
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._filled()

    def __iter__(self) -> Iterator[str]:
        return iter(self._filled())

    def __len__(self) -> int:
        return len(self._filled())

    def __repr__(self) -> str:
        return repr(self._filled())

    __str__ = __repr__

    def as_dict(self) -> dict[str, Any]:
        self._filled()
        return super().as_dict()

    def _filled(self) -> dict[str, Any]:
        """Every attribute read, in the allow-list's order."""
        if not self._complete:
            for key in self._pairs:
                with contextlib.suppress(KeyError):
                    self[key]
            self._data = {key: self._data[key] for key in self._pairs if key in self._data}
            self._complete = True
        return self._data


def recipient_reader() -> Callable[[Any], PlainMapping]:
    """For one ``notify_many()`` call: user -> its :class:`LazyRecipient`.

    The allow-list is read (and checked) once per call, and each user class's attributes
    once: one that is a relation or a manager is refused here, whether or not a template
    uses it.
    """
    pairs = dict(_allowed_attributes())
    checked: set[type] = set()

    def recipient_of(user: Any) -> PlainMapping:
        if type(user) not in checked:
            refuse_relations(type(user), pairs)
            checked.add(type(user))
        return LazyRecipient(user, pairs)

    return recipient_of


def refuse_relations(user_class: type, pairs: Mapping[str, str]) -> None:
    for attribute in pairs.values():
        descriptor = getattr(user_class, attribute, None)
        if isinstance(descriptor, RELATION_DESCRIPTORS):
            raise ConfigurationError(
                f"{SETTING_NAME}['RECIPIENT_CONTEXT']: the user's {attribute!r} is a "
                "relation, not plain data (text, a number, a date); list plain attributes "
                "only."
            )


#: What a relation or a manager is on a model class.
RELATION_DESCRIPTORS: tuple[type, ...] = (
    ForwardManyToOneDescriptor,
    ReverseOneToOneDescriptor,
    ReverseManyToOneDescriptor,
    ManagerDescriptor,
)


def _allowed_attributes() -> tuple[tuple[str, str], ...]:
    """(key, attribute) pairs of ``RECIPIENT_CONTEXT``, checked once per setting value.

    ``notify_many()`` builds a recipient per user; the names are the same for all of
    them, so they are checked when the setting changes, not per user.
    """
    global _last_attributes
    settings_seen = (
        get_setting("RECIPIENT_CONTEXT"),
        get_setting("EMAIL_ATTRIBUTE"),
        get_setting("PHONE_ATTRIBUTE"),
    )
    if _last_attributes is not None and _last_attributes[0] == settings_seen:
        return _last_attributes[1]
    pairs = tuple(recipient_context_attributes().items())
    for key, attribute in pairs:
        reason = refused_attribute(attribute) or refused_attribute(key)
        if reason:
            raise ConfigurationError(
                f"{SETTING_NAME}['RECIPIENT_CONTEXT'] may not list {attribute!r}: {reason}."
            )
    _last_attributes = (copy.deepcopy(settings_seen), pairs)
    return pairs


_last_attributes: tuple[Any, tuple[tuple[str, str], ...]] | None = None


def _plain_value(value: Any) -> bool:
    return value is None or isinstance(
        value, str | Promise | int | float | Decimal | dt.date | dt.time
    )
