"""A list of values for ``field__in=`` passed as one query parameter.

``filter(pk__in=ids)`` with a delivery wave's 250 ids prepares each id through the
field (``In.batch_process_rhs``), writes 250 placeholders, and leaves the database to
parse and bind them again on every wave; for a wave of messages that cost nothing to
send, that was a fifth of the claim. Where the database can unpack a list held in one
parameter, the list goes as one:

* PostgreSQL: ``IN (SELECT unnest(%s::<type>[]))``, one array parameter;
* SQLite: ``IN (SELECT value FROM json_each(%s))``, one JSON text parameter, when every
  prepared value is a string or an integer (what UUID, text and integer keys become);
* elsewhere (MariaDB/MySQL) the list itself, as ``__in`` always took it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.db import connections
from django.db.models import Field
from django.db.models.expressions import RawSQL


def in_values(field: Field, values: Sequence[Any], alias: str) -> RawSQL | Sequence[Any]:
    """What ``filter(<field>__in=...)`` should be given for ``values`` on ``alias``."""
    connection = connections[alias]
    if len(values) < 2:
        return values
    prepared = [field.get_db_prep_value(value, connection) for value in values]
    if connection.vendor == "postgresql":
        array_type = f"{field.cast_db_type(connection)}[]"
        return RawSQL(f"SELECT unnest(%s::{array_type})", [prepared], output_field=field)
    if connection.vendor == "sqlite" and all(type(value) in (str, int) for value in prepared):
        return RawSQL("SELECT value FROM json_each(%s)", [json.dumps(prepared)], output_field=field)
    return values
