"""Checks of what callers pass to the public API: ``notify()``, ``notify_many()``,
``log_call()`` and ``place_call()``.

Every argument is checked for its Python type, for text that no database stores as written
(a NUL character, which PostgreSQL refuses, and lone surrogates, which are not UTF-8), for
integers outside the columns' range, and for users that are not saved rows of
``AUTH_USER_MODEL``. A problem raises the caller-error class of the function called, with a
message that names the argument, before anything is written: the database would otherwise
refuse the row with a driver error of its own, or (PostgreSQL checks foreign keys at
commit) accept it and fail the caller's whole transaction later.

Which values are allowed (channels, template names, choices, phone numbers) is decided
by the functions themselves; this module only makes sure they are handed values of the
right kind.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connections, router
from django.db.models import Model
from django.utils.functional import Promise

from .exceptions import InvalidCallError, InvalidMessageError, NotificationError
from .models import CallLog, Notification, NotificationTemplate

#: Characters no text argument may hold: NUL (PostgreSQL's text columns refuse it) and
#: the surrogate code points, which cannot be encoded as UTF-8 when they stand alone.
UNSTORABLE_CHARACTERS = re.compile("[\x00\ud800-\udfff]")

#: The range of ``IntegerField`` on every supported database (a signed 32-bit integer).
INTEGER_FIELD_MAX = 2**31 - 1

#: The longest repr of a wrong value quoted in an error message.
REPR_LIMIT = 60


def check_message_arguments(
    channel: object,
    template: object,
    context: object,
    subject: object,
    body: object,
    context_type: object,
    context_id: object,
) -> None:
    """The types of notify()'s arguments shared by every recipient. No query."""
    error = InvalidMessageError
    check_text("channel", channel, error)
    if template is not None and not isinstance(template, NotificationTemplate):
        check_text("template", template, error, expected="a NotificationTemplate or its name")
    if isinstance(template, NotificationTemplate) and template.pk is None:
        raise error("template is an unsaved NotificationTemplate; save it or pass its name.")
    if context is not None and not isinstance(context, Mapping):
        raise error(f"context must be a mapping (a dict), not {type_name(context)}.")
    check_text("subject", subject, error, optional=True, lazy=True)
    check_text("body", body, error, optional=True, lazy=True)
    check_text("context_type", context_type, error, optional=True)
    check_context_id("context_id", context_id, error, optional=True)


def check_recipients_and_key(recipients: object, idempotency_key: object) -> list[Any]:
    """notify_many()'s recipients as a list of saved users, and its idempotency key.

    Costs one query, whatever the number of recipients, to see that their rows exist
    (more only where the database limits the parameters of a statement: SQLite).
    """
    check_text("idempotency_key", idempotency_key, InvalidMessageError, optional=True)
    if isinstance(recipients, (str, bytes, Mapping, Model)) or not isinstance(recipients, Iterable):
        raise InvalidMessageError(
            f"recipients must be a list or queryset of users, not {type_name(recipients)}."
        )
    users = list(recipients)
    check_users_exist("recipient", users, InvalidMessageError, writes=Notification)
    return users


def check_call_arguments(
    *,
    caller: object,
    callee_phone: object,
    call_type: object,
    context_type: object,
    context_id: object,
    notes: object,
    outcome: object = "",
    duration_seconds: object = None,
) -> None:
    """The types of log_call()'s and place_call()'s arguments, and that the caller's row
    exists (one query)."""
    error = InvalidCallError
    check_text("callee_phone", callee_phone, error)
    check_text("call_type", call_type, error)
    check_text("context_type", context_type, error)
    check_context_id("context_id", context_id, error)
    check_text("notes", notes, error, optional=True, lazy=True)
    check_text("outcome", outcome, error, optional=True)
    check_integer("duration_seconds", duration_seconds, error, optional=True)
    check_users_exist("caller", [caller], error, writes=CallLog)


def check_text(
    name: str,
    value: object,
    error: type[NotificationError],
    *,
    optional: bool = False,
    lazy: bool = False,
    expected: str = "a string",
) -> None:
    """``value`` is a ``str`` a database stores as written (None too when ``optional``;
    a lazy translation too when ``lazy``: Django's ``gettext_lazy`` text)."""
    if value is None and optional:
        return
    if lazy and isinstance(value, Promise):
        value = str(value)
    if not isinstance(value, str):
        raise error(f"{name} must be {expected}, not {type_name(value)}.")
    check_storable(name, value, error)


def check_storable(name: str, value: str, error: type[NotificationError]) -> None:
    """Refuse NUL characters and lone surrogates, naming where the first one is."""
    found = UNSTORABLE_CHARACTERS.search(value)
    if found is None:
        return
    character = found.group()
    what = "a NUL character" if character == "\x00" else f"a lone surrogate ({character!r})"
    raise error(f"{name} contains {what} at position {found.start()}; it cannot be stored.")


def check_context_id(
    name: str, value: object, error: type[NotificationError], *, optional: bool = False
) -> None:
    """A UUID, or text to be read as one (the functions read it; this checks the type)."""
    if value is None and optional:
        return
    if isinstance(value, uuid.UUID):
        return
    check_text(name, value, error, expected="a UUID or a string holding one")


def check_integer(
    name: str, value: object, error: type[NotificationError], *, optional: bool = False
) -> None:
    """A whole number that fits an ``IntegerField``, 0 or more; ``True`` is not a number."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{name} must be a whole number (int), not {type_name(value)}.")
    if not 0 <= value <= INTEGER_FIELD_MAX:
        # An int of thousands of digits cannot even be printed (sys.int_info limits).
        shown = value if value.bit_length() <= 64 else "a larger number"
        raise error(f"{name} must be between 0 and {INTEGER_FIELD_MAX}, not {shown}.")


def check_users_exist(
    name: str, users: list[Any], error: type[NotificationError], *, writes: type[Model]
) -> None:
    """Every item of ``users`` is a saved instance of AUTH_USER_MODEL whose row exists.

    The rows are looked up in the database that ``writes`` (the model about to get the
    foreign key) is written to, not a read replica that may not have the user yet, and
    with no manager's filtering, as Django's own foreign-key validation does. One query
    per statement-sized batch of primary keys.
    """
    user_model = get_user_model()
    label = user_model._meta.label
    for user in users:
        if not isinstance(user, user_model):
            raise error(f"The {name} must be a {label}, not {type_name(user)}.")
        if user.pk is None:
            raise error(f"The {name} {short(user)} is an unsaved {label}; save it first.")
    if not users:
        return
    wanted = list(dict.fromkeys(user.pk for user in users))
    alias = router.db_for_write(writes)
    try:
        # Counted first: ten thousand keys read back cost more than the count, and only
        # a shortfall needs to know which are missing.
        if count_existing(user_model, wanted, alias) == len(wanted):
            return
        found = existing_primary_keys(user_model, wanted, alias)
    except (TypeError, ValueError, ValidationError) as exc:
        # A primary key of the wrong type for the column (the instance was tampered with).
        raise error(f"A {name}'s primary key is not one a {label} can have: {exc}") from exc
    missing = [pk for pk in wanted if pk not in found]
    if missing:
        raise error(
            f"The {name} with primary key {short(missing[0])} is not in the database "
            f"(deleted, or never saved there); {len(missing)} {name}(s) missing in all."
        )


def type_name(value: object) -> str:
    return "None" if value is None else type(value).__name__


def short(value: object) -> str:
    """``repr(value)``, cut to a length an error message can quote."""
    text = repr(value)
    return text if len(text) <= REPR_LIMIT else f"{text[: REPR_LIMIT - 3]}..."


def count_existing(model: type[Model], pks: list[Any], alias: str) -> int:
    """How many of ``pks`` (distinct) have a row of ``model`` in database ``alias``: the
    statements of :func:`existing_primary_keys`, counting instead of reading back."""
    return sum(row[0] for row in primary_key_rows(model, pks, alias, "COUNT(*)"))


def existing_primary_keys(model: type[Model], pks: list[Any], alias: str) -> set[Any]:
    """The ones of ``pks`` that have a row of ``model`` in database ``alias``.

    Values go through the primary key field's own conversions both ways, so UUID and
    integer keys compare as Python values.
    """
    pk_field = model._meta.pk
    assert pk_field is not None
    return {pk_field.to_python(row[0]) for row in primary_key_rows(model, pks, alias)}


def primary_key_rows(
    model: type[Model], pks: list[Any], alias: str, selected: str | None = None
) -> Iterator[tuple[Any, ...]]:
    """The rows of ``SELECT <selected> FROM table WHERE pk IN (pks)`` (``selected``: the
    primary key column when None), one statement per batch the database accepts.

    Written directly: it runs on every ``notify()``, and building the same query through
    the ORM costs several times more than running it. On PostgreSQL the keys are one
    array parameter: a statement of thousands of placeholders would be parsed (and, with
    client-side binding, quoted) again on every call.
    """
    connection = connections[alias]
    pk_field = model._meta.pk
    assert pk_field is not None
    quote = connection.ops.quote_name
    table, column = quote(model._meta.db_table), quote(pk_field.column)
    selected = selected or column
    batch = connection.features.max_query_params or len(pks) or 1
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(pks) > 1:
            prepared = [pk_field.get_db_prep_value(pk, connection) for pk in pks]
            array_type = f"{pk_field.cast_db_type(connection)}[]"
            cursor.execute(
                f"SELECT {selected} FROM {table} WHERE {column} = ANY(%s::{array_type})",
                [prepared],
            )
            yield from cursor.fetchall()
            return
        for start in range(0, len(pks), batch):
            chunk = [
                pk_field.get_db_prep_value(pk, connection) for pk in pks[start : start + batch]
            ]
            placeholders = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"SELECT {selected} FROM {table} WHERE {column} IN ({placeholders})", chunk
            )
            yield from cursor.fetchall()
