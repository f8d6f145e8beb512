"""INSERT many rows of one model in one statement, for the two hot paths that write in
bulk: ``notify_many()``'s notifications and a delivery wave's receipts.

``bulk_create()`` prepares every value of every row through each field's full
``get_db_prep_save()`` chain and builds a statement of all the rows, which the driver
then parses again; for ten thousand notifications that cost more than rendering them.
Here each column gets the one conversion its database needs (a UUID as hex where there
is no native UUID type, a datetime as the backend adapts it, anything else as it is),
worked out once per column, and the statement stays short:

* PostgreSQL: ``COPY ... FROM STDIN`` (psycopg 3), or where conflicts are to be skipped,
  ``INSERT ... SELECT * FROM unnest(%s::type[], ...) ON CONFLICT DO NOTHING``, one
  array literal per column (:mod:`.pg_arrays`);
* MariaDB/MySQL and SQLite: one row's ``INSERT ... VALUES (%s, ...)`` run with
  ``executemany`` (mysqlclient turns it into one multi-row INSERT).

``auto_now_add`` fields get one timestamp for the whole call, set on the objects too,
and the objects are marked saved, as ``bulk_create()`` leaves them.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from django.db import connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.constants import OnConflict

from .pg_arrays import array_literal, element_writer

Prepare = Callable[[Any], Any]


def insert_rows(
    model: type[models.Model],
    objects: Sequence[models.Model],
    *,
    now: datetime,
    ignore_conflicts: bool = False,
) -> None:
    """INSERT ``objects`` (unsaved, primary keys set) as they are."""
    if not objects:
        return
    fields = model._meta.local_concrete_fields
    for field in fields:
        if getattr(field, "auto_now_add", False):
            for instance in objects:
                setattr(instance, field.attname, now)
    # One C-level call per object reads all of its columns.
    values_of = operator.attrgetter(*(field.attname for field in fields))
    rows = [values_of(instance) for instance in objects]
    if len(fields) == 1:  # attrgetter of one name gives the value, not a 1-tuple
        rows = [(value,) for value in rows]
    insert_objects_as_rows(model, objects, rows, ignore_conflicts=ignore_conflicts)


def insert_objects_as_rows(
    model: type[models.Model],
    objects: Sequence[models.Model],
    rows: Sequence[Sequence[Any]],
    *,
    ignore_conflicts: bool = False,
    rows_are_scratch: bool = False,
) -> None:
    """INSERT ``rows``, the values ``objects`` hold (one row per object, in the same
    order, as :func:`insert_values` takes them), and mark the objects saved.

    For a caller that built each object from its row: reading the values back out of
    the objects would cost more than the conversions. ``rows_are_scratch``: the rows are
    lists nobody reads afterwards, converted in place (see :func:`insert_values`).
    """
    if len(rows) != len(objects):
        raise ValueError(f"{len(rows)} rows for {len(objects)} objects.")
    insert_values(model, rows, ignore_conflicts=ignore_conflicts, rows_are_scratch=rows_are_scratch)
    using = router.db_for_write(model)
    for instance in objects:
        instance._state.adding = False
        instance._state.db = using


def insert_values(
    model: type[models.Model],
    rows: Sequence[Sequence[Any]],
    *,
    ignore_conflicts: bool = False,
    rows_are_scratch: bool = False,
) -> None:
    """INSERT ``rows``: each the values of ``model``'s concrete fields, in their order, as
    the model holds them (converted here for the database).

    ``rows_are_scratch``: the rows are lists of the caller's that nobody reads again;
    each is converted in place instead of copied, so that ten thousand rows are not
    twenty thousand lists for the garbage collector to walk.
    """
    if not rows:
        return
    using = router.db_for_write(model)
    connection = connections[using]
    # The values are converted before the transaction starts: a row that cannot be
    # written raises here, and leaves the caller's transaction usable.
    if connection.vendor != "postgresql" or len(rows) == 1:
        how = "executemany"
    elif not ignore_conflicts and copies_rows(connection):
        how = "copy"
    else:
        how = "unnest"
    if how == "unnest":
        parameters = unnest_parameters(model, using, rows)
    else:
        prepared = prepare_rows(preparers(model, using), rows, in_place=rows_are_scratch)
    # One transaction, as bulk_create() has: all rows or none, and SQLite in autocommit
    # would otherwise commit (and sync to disk) once per row of executemany().
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        if how == "executemany":
            cursor.executemany(values_statement(model, using, ignore_conflicts), prepared)
        elif how == "copy":
            # psycopg 3: COPY streams the rows with no statement to build or parse.
            with cursor.cursor.copy(copy_statement(model, using)) as copy:
                for row in prepared:
                    copy.write_row(row)
        else:
            cursor.execute(unnest_statement(model, using, ignore_conflicts), parameters)


def copies_rows(connection: BaseDatabaseWrapper) -> bool:
    """Whether this PostgreSQL connection's driver streams rows with COPY (psycopg 3)."""
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    return bool(is_psycopg3)


def prepare_rows(
    prepare: Sequence[Prepare], rows: Sequence[Sequence[Any]], *, in_place: bool = False
) -> list[list[Any]]:
    """Each row's values converted for the database, column by column.

    Only the columns that need a conversion are visited, and a value that is the same
    object as the row before's in that column (None, the call's one timestamp) is
    converted once: on SQLite, turning an aware datetime into text costs more than the
    row's other work. ``in_place``: a row that is a list is converted as it is, not in a
    copy.
    """
    width = len(prepare)
    converting = [
        (index, convert) for index, convert in enumerate(prepare) if convert is not identity
    ]
    last: list[Any] = [_NOTHING] * width
    converted: list[Any] = [None] * width
    prepared = []
    for row in rows:
        if len(row) != width:
            raise ValueError(f"A row has {len(row)} values; the model has {width} columns.")
        values = row if in_place and type(row) is list else list(row)
        for index, convert in converting:
            value = values[index]
            if value is not last[index]:
                last[index] = value
                converted[index] = convert(value)
            values[index] = converted[index]
        prepared.append(values)
    return prepared


_NOTHING = object()


@functools.cache
def preparers(model: type[models.Model], alias: str) -> tuple[Prepare, ...]:
    """The conversion each column of ``model`` needs on database ``alias``."""
    connection = connections[alias]
    return tuple(preparer(field, connection) for field in model._meta.local_concrete_fields)


def preparer(field: models.Field[Any, Any], connection: BaseDatabaseWrapper) -> Prepare:
    target = field.target_field if isinstance(field, models.ForeignKey) else field
    if isinstance(target, models.UUIDField):
        if connection.features.has_native_uuid_field:
            return identity
        return uuid_hex
    if isinstance(target, models.DateTimeField):
        return functools.partial(adapt_datetime, connection)
    if isinstance(
        target, models.CharField | models.TextField | models.AutoField | models.IntegerField
    ):
        return identity
    return functools.partial(field.get_db_prep_save, connection=connection)


def identity(value: Any) -> Any:
    return value


def uuid_hex(value: Any) -> Any:
    return value.hex if value is not None else None


def adapt_datetime(connection: BaseDatabaseWrapper, value: Any) -> Any:
    return connection.ops.adapt_datetimefield_value(value) if value is not None else None


def unnest_parameters(
    model: type[models.Model], alias: str, rows: Sequence[Sequence[Any]]
) -> list[Any]:
    """One parameter per column of ``rows`` for :func:`unnest_statement`: the column's
    values as one array literal (:mod:`.pg_arrays`), or, for a kind of column that module
    does not write, as a list of the values converted for the database."""
    fields = model._meta.local_concrete_fields
    width = len(fields)
    for row in rows:
        if len(row) != width:
            raise ValueError(f"A row has {len(row)} values; the model has {width} columns.")
    parameters: list[Any] = []
    for field, prepare, column in zip(
        fields, preparers(model, alias), zip(*rows, strict=True), strict=True
    ):
        write = element_writer(field)
        if write is not None:
            parameters.append(array_literal(column, write))
        else:
            parameters.append([prepare(value) for value in column])
    return parameters


@functools.cache
def copy_statement(model: type[models.Model], alias: str) -> str:
    """PostgreSQL: ``COPY t (...) FROM STDIN``."""
    quote = connections[alias].ops.quote_name
    columns = ", ".join(quote(str(field.column)) for field in model._meta.local_concrete_fields)
    return f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"


@functools.cache
def unnest_statement(model: type[models.Model], alias: str, ignore_conflicts: bool) -> str:
    """PostgreSQL: ``INSERT INTO t (...) SELECT * FROM unnest(%s::type[], ...)``."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    fields = model._meta.local_concrete_fields
    arrays = ", ".join(f"%s::{field.cast_db_type(connection)}[]" for field in fields)
    suffix = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    return (
        f"INSERT INTO {quote(model._meta.db_table)} "
        f"({', '.join(quote(str(field.column)) for field in fields)}) "
        f"SELECT * FROM unnest({arrays}){suffix}"
    )


@functools.cache
def values_statement(model: type[models.Model], alias: str, ignore_conflicts: bool) -> str:
    """``INSERT [IGNORE] INTO t (...) VALUES (%s, ...) [ON CONFLICT DO NOTHING]``."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    fields = model._meta.local_concrete_fields
    on_conflict = OnConflict.IGNORE if ignore_conflicts else None
    return " ".join(
        part
        for part in (
            connection.ops.insert_statement(on_conflict=on_conflict),
            quote(model._meta.db_table),
            f"({', '.join(quote(str(field.column)) for field in fields)})",
            f"VALUES ({', '.join(['%s'] * len(fields))})",
            connection.ops.on_conflict_suffix_sql(fields, on_conflict, None, None),
        )
        if part
    )
