"""A column read so that SQLite's planner cannot answer a condition on it from an index.

SQLite plans without statistics unless the project runs ``ANALYZE``: it then takes an
index that matches more equality terms to be the better one, even where that index
reads thousands of rows and another would read one. SQLite's documented way to keep a
term away from the indexes is a unary ``+`` on its column, which changes no value
(https://sqlite.org/optoverview.html, "Disqualifying WHERE Clause Terms Using Unary-+").
Only for SQLite: PostgreSQL has no unary ``+`` for text.
"""

from __future__ import annotations

from typing import Any

from django.db.models import F, Func


class Unindexed(Func):
    """``+column``: the column's value, unusable to SQLite's planner as an index key."""

    template = "+%(expressions)s"
    arity = 1

    def __init__(self, column: str, **extra: Any) -> None:
        super().__init__(F(column), **extra)
