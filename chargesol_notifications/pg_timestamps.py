"""Reading ``timestamptz`` columns with psycopg's compiled loader in delivery's claim.

Django (with psycopg 3) reads every ``timestamptz`` value through a loader of its own: a
Python subclass of psycopg's pure-Python loader that then sets the value's ``tzinfo`` to
the connection's time zone, about 2.8 µs a value here. A wave reads two per message (the
notification's ``created_at``, the recipient's ``date_joined``): in the delivery benchmark
that was a twelfth of the process's time. Where the database session's time zone is UTC
and Django's is ``datetime.timezone.utc`` (``USE_TZ`` with no ``TIME_ZONE`` in the
database's settings, the usual case), psycopg's compiled loader makes the same datetimes,
``tzinfo`` included, in about 0.5 µs.

:func:`native_timestamps` puts that loader on the connection for the queries run inside
it and puts Django's back afterwards. Anywhere else (another time zone, a loader that is
not Django's, not PostgreSQL) it changes nothing.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import connections

__all__ = ["native_timestamps"]

#: A UTC timestamp as PostgreSQL writes it, to check what the compiled loader makes of it.
SAMPLE = b"2026-01-02 03:04:05.678901+00"


@contextmanager
def native_timestamps(alias: str) -> Iterator[None]:
    """Within the block, the connection ``alias`` reads ``timestamptz`` values with
    psycopg's own loader, when that gives exactly what Django's gives (see the module)."""
    connection = connections[alias]
    loader = loader_giving_the_same(connection) if connection.vendor == "postgresql" else None
    if loader is None:
        yield
        return
    adapters = connection.connection.adapters
    oid, text = timestamptz_oid_and_text()
    previous = adapters.get_loader(oid, text)
    adapters.register_loader(oid, loader)
    try:
        yield
    finally:
        adapters.register_loader(oid, previous)


def loader_giving_the_same(connection: Any) -> type | None:
    """:func:`utc_loader` when it reads this connection's ``timestamptz`` values as
    Django's does (psycopg 3, Django's time zone ``datetime.timezone.utc``, Django's own
    loader the one registered now, and psycopg's giving ``datetime.timezone.utc`` in this
    session); else None."""
    if not settings.USE_TZ or connection.timezone is not datetime.UTC:
        return None
    loader = utc_loader()
    if loader is None:
        return None
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader

    connection.ensure_connection()
    raw = connection.connection
    oid, text = timestamptz_oid_and_text()
    current = raw.adapters.get_loader(oid, text)
    if not (isinstance(current, type) and issubclass(current, BaseTzLoader)):
        return None
    # The session's time zone, as psycopg reads it: UTC, or nothing is changed.
    return loader if loader(oid, raw).load(SAMPLE).tzinfo is datetime.UTC else None


@functools.cache
def timestamptz_oid_and_text() -> tuple[int, Any]:
    from psycopg import postgres
    from psycopg.pq import Format

    return postgres.types["timestamptz"].oid, Format.TEXT


@functools.cache
def utc_loader() -> type | None:
    """A loader class for UTC sessions: psycopg's own loader doing the work, with the
    ``timezone`` attribute Django reads off the connection's loader when it opens a
    cursor (equal to Django's, so Django registers no other). None without psycopg 3."""
    try:
        from psycopg import postgres
        from psycopg.adapt import Loader
    except ImportError:
        return None
    oid, text = timestamptz_oid_and_text()
    native = postgres.adapters.get_loader(oid, text)
    if native is None:
        return None

    class UtcTimestamptzLoader(Loader):
        timezone = datetime.UTC

        def __init__(self, oid: int, context: Any = None) -> None:
            super().__init__(oid, context)
            self.native = native(oid, context)
            # psycopg looks ``load`` up once per column of a result: the native loader's
            # own method, with no Python call in between for each value.
            self.load = self.native.load  # type: ignore[method-assign]

        def load(self, data: Any) -> Any:  # replaced per instance, above
            return self.native.load(data)

    return UtcTimestamptzLoader
