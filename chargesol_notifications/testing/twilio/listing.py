"""The stand-in's Messages list (``GET .../Messages.json``), read from Twilio's description.

``ListMessage`` takes the query parameters ``To``, ``From``, ``DateSent``, ``DateSent<``,
``DateSent>`` and ``PageSize``/``Page``/``PageToken`` and answers a ``ListMessageResponse``:
one page of messages, newest first, with the URIs of the first, previous and next pages.

How the stand-in reads what the description leaves to prose:

* ``To`` and ``From`` are exact matches (``whatsapp:+447700900123`` included).
* The ``DateSent`` filters compare a message's ``date_sent``; a message without one (still
  ``queued`` or ``accepted``: Twilio sets it when it sends) matches none of them.
  ``DateSent`` is a GMT day (of a date and time, its day); for ``DateSent<`` and
  ``DateSent>`` a bare date (``2024-05-01``) compares whole days, a date and time the
  moment. The twilio client sends ``DateSent<``/``DateSent>`` as the names of its
  ``date_sent_before``/``date_sent_after`` arguments; on the wire they read
  ``DateSent<=``/``DateSent>=``, so both bounds are inclusive, as the description says
  ("on and before", "on and after").
* ``PageToken`` (which the stand-in writes into ``next_page_uri``) names the last message of
  the previous page; without it ``Page`` times ``PageSize`` is the offset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

from . import spec
from .validation import Problem, check_query_value

DEFAULT_PAGE_SIZE = 50
_DATE_FILTERS = ("DateSent", "DateSent<", "DateSent>")
_PAGING = ("PageSize", "Page", "PageToken")


def validate_list(params: Mapping[str, Sequence[str]]) -> list[Problem]:
    """Every reason Twilio's API would refuse this list query; empty when it would answer."""
    parameters = spec.query_parameters(spec.MESSAGES_PATH)
    problems: list[Problem] = []
    for name, values in params.items():
        if name not in parameters:
            problems.append(Problem(name, f"Unknown parameter '{name}' for ListMessage"))
        elif len(values) > 1:
            problems.append(Problem(name, f"Parameter '{name}' was sent {len(values)} times"))
        else:
            problems += check_query_value(name, parameters[name]["schema"], values[0])
    return problems


def _moment(value: str) -> datetime | date:
    """A ``DateSent`` value: a GMT date, or an aware moment (naive ones are GMT)."""
    parsed = datetime.fromisoformat(value)
    if len(value) <= len("YYYY-MM-DD"):
        return parsed.date()
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _date_matches(name: str, value: str, sent: datetime | None) -> bool:
    if sent is None:
        return False
    bound = _moment(value)
    if name == "DateSent":  # a day; the twilio client writes a date as its midnight
        day = bound.date() if isinstance(bound, datetime) else bound
        return sent.date() == day
    mine: datetime | date = sent.date() if not isinstance(bound, datetime) else sent
    return mine <= bound if name == "DateSent<" else mine >= bound  # type: ignore[operator]


def _parsed(text: str | None) -> datetime | None:
    return parsedate_to_datetime(text) if text else None


def select(
    representations: Sequence[Mapping[str, Any]], params: Mapping[str, Sequence[str]]
) -> list[Mapping[str, Any]]:
    """The messages the filters keep, newest first (later creations first on a tie)."""
    first = {name: values[0] for name, values in params.items() if values}
    kept = []
    for message in reversed(representations):
        if "To" in first and message["to"] != first["To"]:
            continue
        if "From" in first and message["from"] != first["From"]:
            continue
        sent = _parsed(message["date_sent"])
        if any(
            not _date_matches(name, first[name], sent) for name in _DATE_FILTERS if name in first
        ):
            continue
        kept.append(message)
    kept.sort(key=lambda m: _parsed(m["date_created"]) or datetime.min, reverse=True)
    return kept


def page(
    path: str, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """The ``ListMessageResponse`` for one page of ``messages`` (already filtered)."""
    first = {name: values[0] for name, values in params.items() if values}
    size = int(first.get("PageSize", DEFAULT_PAGE_SIZE))
    number = int(first.get("Page", 0))
    start = number * size
    token = first.get("PageToken")
    if token:
        sids = [m["sid"] for m in messages]
        after = token[2:]
        start = sids.index(after) + 1 if after in sids else len(sids)
    items = [dict(m) for m in messages[start : start + size]]
    filters = {k: v for k, v in first.items() if k not in _PAGING}

    def uri(page_number: int, page_token: str | None = None) -> str:
        query = {**filters, "PageSize": size, "Page": page_number}
        if page_token:
            query["PageToken"] = page_token
        return f"{path}?{urlencode(query)}"

    more = start + size < len(messages)
    return {
        "end": start + len(items) - 1 if items else 0,
        "first_page_uri": uri(0),
        "messages": items,
        "next_page_uri": uri(number + 1, "PA" + items[-1]["sid"]) if more and items else None,
        "page": number,
        "page_size": size,
        "previous_page_uri": uri(number - 1) if number > 0 else None,
        "start": start,
        "uri": uri(number, token),
    }
