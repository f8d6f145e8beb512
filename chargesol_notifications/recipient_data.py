"""What a template sees as ``recipient``: allow-listed attributes of the user, as plain data.

Never the user object: ``RECIPIENT_CONTEXT`` lists the attributes (by default names,
email and the phone attribute), and permission flags, relations, private and
secret-looking names cannot be listed. See :mod:`~chargesol_notifications.plain_data`
for why templates see plain data only.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db import models
from django.utils.functional import Promise

from .conf import SETTING_NAME, get_setting
from .exceptions import ConfigurationError
from .plain_data import LIMITS, Converter, PlainMapping, is_sensitive_name

__all__ = [
    "PERMISSION_ATTRIBUTES",
    "recipient_context",
    "recipient_context_attributes",
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
        value = getattr(user, attribute, _MISSING)
        if value is _MISSING:
            continue
        if callable(value) and not isinstance(value, models.Manager):
            value = value()
        if isinstance(value, models.Model | models.Manager) or not _plain_value(value):
            raise ConfigurationError(
                f"{SETTING_NAME}['RECIPIENT_CONTEXT']: the user's {attribute!r} is a "
                f"{type(value).__qualname__}, not plain data (text, a number, a date); list "
                "plain attributes only."
            )
        data[key] = converter.convert(value, f"recipient.{key}", 1)
    return PlainMapping(data)


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
