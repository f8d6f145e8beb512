"""Measuring one admin page: its queries, once, then its time, repeated.

``measure()`` takes one or more *variants* of the page (each a name and a function that
puts the admin in that state, e.g. a ModelAdmin with or without a mixin) and takes the
timed requests in turns, variant after variant, so that all meet the same changes in the
machine's load and their ratio means something on a busy machine.
"""

from __future__ import annotations

import gc
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

#: The issue's targets, per page at 1,000,000 notifications.
MAX_QUERIES = 12
MAX_MEDIAN_MS = 300.0

Variant = tuple[str, Callable[[], None]]
AS_IS: Sequence[Variant] = (("", lambda: None),)


@dataclass(frozen=True)
class Page:
    label: str
    path: str
    params: dict[str, str]

    @property
    def url(self) -> str:
        return f"{self.path}?{urlencode(self.params)}" if self.params else self.path


@dataclass
class Result:
    label: str
    variant: str
    url: str
    queries: int
    #: The database's part of the counted request: its queries' time, as Django logs it.
    sql_ms: float
    median_ms: float
    samples_ms: list[float]
    #: What the page says of its rows ("about 1,000,000 notifications"), if it says.
    shows: str
    slow_queries: list[dict[str, object]]

    @property
    def on_target(self) -> bool:
        return self.queries <= MAX_QUERIES and self.median_ms < MAX_MEDIAN_MS


def measure(
    client: Any, page: Page, repeats: int, slow_ms: float, variants: Sequence[Variant] = AS_IS
) -> list[Result]:
    """Each variant's queries (one counted request, also the warm-up), then ``repeats``
    timed requests of each, the variants taking turns."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def get() -> str:
        response = client.get(page.url)
        if response.status_code != 200:
            raise SystemExit(f"{page.label}: {page.url} answered {response.status_code}")
        return response.content.decode()

    counted: dict[str, tuple[list[dict[str, str]], str]] = {}
    for name, activate in variants:
        activate()
        with CaptureQueriesContext(connection) as captured:
            html = get()
        # Read now: the log is a window that the next requests reset.
        counted[name] = (list(captured.captured_queries), html)
    samples: dict[str, list[float]] = {name: [] for name, _ in variants}
    for _ in range(repeats):
        for name, activate in variants:
            activate()
            gc.collect()
            start = time.perf_counter()
            get()
            samples[name].append(time.perf_counter() - start)
    return [
        Result(
            label=page.label,
            variant=name,
            url=page.url,
            queries=len(queries),
            sql_ms=round(sum(float(q["time"]) for q in queries) * 1e3, 1),
            median_ms=statistics.median(samples[name]) * 1e3,
            samples_ms=[round(s * 1e3, 1) for s in samples[name]],
            shows=what_the_page_shows(html),
            slow_queries=[
                {"ms": round(float(q["time"]) * 1e3, 1), "sql": q["sql"]}
                for q in queries
                if float(q["time"]) * 1e3 >= slow_ms
            ],
        )
        for name, (queries, html) in counted.items()
    ]


def what_the_page_shows(html: str) -> str:
    """The paginator's words for the row count, without the page links."""
    match = re.search(r'<p class="paginator">(.*?)</p>', html, re.S)
    if not match:
        return ""
    text = re.sub(r"<(a|span)\b[^>]*>.*?</\1>", " ", match.group(1), flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", text).replace("…", " ").split())


def explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())
