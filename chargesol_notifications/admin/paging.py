"""Counting a changelist's rows without reading a million of them.

Django's changelist counts its filtered queryset for the paginator on every page, and
counts the whole table again for "N results (M total)" unless ``show_full_result_count``
is off. On a table of a million notifications each ``COUNT(*)`` reads every row (an index
at best), and PostgreSQL takes a few hundred milliseconds for it.

:class:`FastCountPaginator` counts less and says so:

- the whole table, unfiltered and unsearched, on PostgreSQL: the planner's estimate, read
  from ``pg_class`` (one catalogue row, whatever the size), shown as "about 1,000,000".
  A small estimate (under ``estimate_from``) or none at all (a table never analysed) is
  replaced by an exact count, which is cheap there;
- a filtered or searched list, on every database: rows are counted up to a limit
  (``COUNT(*)`` over a ``LIMIT``-ed subquery), shown as "more than 10,000" when the limit
  is reached. The limit grows with the page asked for, so the last page linked always
  has rows, and a user paging on can always go further;
- anything else (other databases, unfiltered): the exact count, as Django does.

:class:`FastCountAdminMixin` puts it in a ``ModelAdmin``.
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.contrib.admin.views.main import PAGE_VAR
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.formats import number_format
from django.utils.functional import cached_property
from django.utils.translation import gettext

#: What the planner would itself assume: pg_class's density (rows per page at the last
#: VACUUM/ANALYZE) times the table's current size in pages, so rows added since are
#: counted too. NULL when the table was never analysed (reltuples is -1 from PG 14 on).
ESTIMATE_SQL = """
SELECT CASE
    WHEN c.reltuples < 0 THEN NULL
    WHEN c.relpages = 0 THEN c.reltuples
    ELSE c.reltuples / c.relpages
         * (pg_relation_size(c.oid) / current_setting('block_size')::integer)
END
FROM pg_class c
WHERE c.oid = %s::regclass
"""


class ApproximateCount(int):
    """A row count that is not exact; it reads "about N" or "more than N".

    The admin's templates print ``cl.result_count`` as it is, so the words travel with
    the number: its value drives the paginator, its text tells staff what it is.
    """

    ABOUT = "about"
    MORE_THAN = "more than"

    figure: int
    kind: str

    def __new__(cls, value: int, kind: str, figure: int | None = None) -> ApproximateCount:
        count = super().__new__(cls, value)
        count.kind = kind
        count.figure = value if figure is None else figure
        return count

    def __str__(self) -> str:
        if settings.USE_THOUSAND_SEPARATOR:
            # Templates then put numbers through digit grouping, which would cut words
            # apart; a project with it on shows the bare figure.
            return str(self.figure)
        figure = number_format(_rounded(self.figure), force_grouping=True)
        if self.kind == self.ABOUT:
            return gettext("about %(count)s") % {"count": figure}
        return gettext("more than %(count)s") % {"count": figure}

    def __repr__(self) -> str:
        return f"ApproximateCount({int(self)}, {self.kind!r}, figure={self.figure})"


def _rounded(figure: int) -> int:
    """An estimate to two significant digits (1,000,000, not 1,000,113): no false precision."""
    if figure < 100:
        return figure
    scale = 10 ** (int(math.log10(figure)) - 1)
    return round(figure / scale) * scale


def is_whole_table(queryset: QuerySet) -> bool:
    """Whether counting ``queryset`` counts its table's rows (no filter, search, slice)."""
    query = queryset.query
    return not (query.where or query.is_sliced or query.distinct or query.combinator)


def planner_estimate(queryset: QuerySet) -> int | None:
    """PostgreSQL's estimate of the rows in ``queryset``'s table; None elsewhere or unknown."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    table = connection.ops.quote_name(queryset.model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(ESTIMATE_SQL, [table])
        row = cursor.fetchone()
    return None if row is None or row[0] is None else int(row[0])


def capped_count(queryset: QuerySet, limit: int) -> int:
    """The rows of ``queryset`` if at most ``limit``, else "more than ``limit``".

    One query: ``COUNT(*)`` over the first ``limit + 1`` rows in any order, so the
    database stops reading there and needs no sort. Only the primary key is selected:
    a sliced count keeps its subquery's columns, and an annotation there (a correlated
    subquery for a column, say) would run for every row counted.
    """
    queryset = queryset.order_by()
    if queryset._fields is None and not queryset.query.distinct_fields:
        queryset = queryset.values("pk")
    found = queryset[: limit + 1].count()
    if found > limit:
        return ApproximateCount(found, ApproximateCount.MORE_THAN, figure=limit)
    return found


class FastCountPaginator(Paginator):
    """A paginator for big tables; see the module's docstring for what it counts.

    ``page_hint`` is the page the request asks for: the cap on a filtered count is
    ``count_limit`` rows past that page's first row.
    """

    #: An estimate under this many rows is replaced by an exact count.
    estimate_from = 10_000
    #: Filtered and searched lists count up to this many rows past the page's first.
    count_limit = 10_000

    def __init__(self, *args: Any, page_hint: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.page_hint = max(1, page_hint)

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        if is_whole_table(queryset):
            estimate = planner_estimate(queryset)
            if estimate is not None and estimate >= self.estimate_from:
                return ApproximateCount(estimate, ApproximateCount.ABOUT)
            return queryset.count()
        return capped_count(queryset, self.count_limit + (self.page_hint - 1) * self.per_page)

    @property
    def is_estimate(self) -> bool:
        count = self.count
        return isinstance(count, ApproximateCount) and count.kind == ApproximateCount.ABOUT

    def validate_number(self, number: Any) -> int:
        if not self.is_estimate:
            return super().validate_number(number)
        # The table may hold more rows than the estimate says, so no page past the
        # estimated last is refused: it shows the rows there are, or none.
        try:
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger(self.error_messages["invalid_page"]) from None
        if number < 1:
            raise EmptyPage(self.error_messages["min_page"])
        return number

    def page(self, number: Any) -> Page:
        if not self.is_estimate:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        # Not cut at the estimated count: the slice ends where the rows do.
        return self._get_page(self.object_list[bottom : bottom + self.per_page], number, self)


def requested_page(request: HttpRequest) -> int:
    """The page number the changelist will show, as ``ChangeList`` reads it."""
    try:
        return int(request.GET.get(PAGE_VAR, 1))
    except ValueError:
        return 1


class FastCountAdminMixin:
    """For a ``ModelAdmin`` of a big table: estimated or capped counts, no second count.

    ``show_full_result_count`` is off, so searching shows "N results (Show all)" instead
    of counting the whole table again.
    """

    show_full_result_count = False
    paginator = FastCountPaginator

    def get_paginator(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> Paginator:
        if not issubclass(self.paginator, FastCountPaginator):
            return self.paginator(queryset, per_page, orphans, allow_empty_first_page)
        return self.paginator(
            queryset,
            per_page,
            orphans,
            allow_empty_first_page,
            page_hint=requested_page(request),
        )
