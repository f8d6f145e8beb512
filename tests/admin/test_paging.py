"""admin/paging.py: estimated and capped counts on big changelists, said to be so."""

from __future__ import annotations

from uuid import uuid4

import pytest
from django.db import connection
from django.db.models import OuterRef, Subquery
from django.test.utils import CaptureQueriesContext

from chargesol_notifications.admin.paging import (
    ApproximateCount,
    FastCountPaginator,
    capped_count,
    planner_estimate,
)
from chargesol_notifications.models import DeliveryReceipt, Notification

from ..factories import DeliveryReceiptFactory, NotificationFactory, UserFactory

pytestmark = pytest.mark.django_db

RECEIPTS = "/admin/chargesol_notifications/deliveryreceipt/"
needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the estimate is PostgreSQL's"
)
not_on_postgres = pytest.mark.skipif(
    connection.vendor == "postgresql", reason="PostgreSQL estimates instead"
)


def receipts(count: int) -> None:
    """``count`` receipts of one notification, in one INSERT."""
    notification = NotificationFactory(status="sent")
    DeliveryReceipt.objects.bulk_create(
        DeliveryReceipt(notification=notification, status="sent", gateway_message_id=f"SM{uuid4()}")
        for _ in range(count)
    )


def analyze(model: type) -> None:
    """Refresh the planner's statistics (the test's own uncommitted rows count as live)."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def paginator(queryset, *, estimate_from: int = 10_000, count_limit: int = 10_000, page=1):
    class Small(FastCountPaginator):
        pass

    Small.estimate_from, Small.count_limit = estimate_from, count_limit
    return Small(queryset, 10, page_hint=page)


def counted(paginator: FastCountPaginator) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        count = paginator.count
    return count, [q["sql"] for q in queries.captured_queries]


# -- the count --------------------------------------------------------------------------


@pytest.mark.postgres
@needs_postgres
def test_unfiltered_big_table_is_estimated_in_one_catalogue_query():
    receipts(40)
    analyze(DeliveryReceipt)
    count, sql = counted(paginator(DeliveryReceipt.objects.all(), estimate_from=20))
    assert isinstance(count, ApproximateCount)
    assert count.kind == ApproximateCount.ABOUT
    assert count == 40  # ANALYZE read every row of so small a table
    assert len(sql) == 1
    assert "pg_class" in sql[0]
    assert "COUNT" not in sql[0].upper()


@pytest.mark.postgres
@needs_postgres
def test_small_estimate_is_replaced_by_the_exact_count():
    receipts(40)
    analyze(DeliveryReceipt)
    receipts(3)  # since the ANALYZE: only a real count knows
    count, sql = counted(paginator(DeliveryReceipt.objects.all(), estimate_from=1_000))
    assert type(count) is int
    assert count == 43
    assert len(sql) == 2  # the estimate, then COUNT(*)


@pytest.mark.postgres
@needs_postgres
def test_never_analysed_table_is_counted():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE csn_never_analysed (id integer)")
        cursor.execute("INSERT INTO csn_never_analysed SELECT generate_series(1, 50)")

    class NeverAnalysed:
        db = "default"

        class model:
            class _meta:
                db_table = "csn_never_analysed"

    # A fresh table: reltuples -1 (PostgreSQL 14 on) or 0 pages; neither is an estimate.
    assert planner_estimate(NeverAnalysed) in (None, 0)


@not_on_postgres
def test_other_databases_count_the_whole_table_exactly():
    receipts(30)
    count, sql = counted(paginator(DeliveryReceipt.objects.all(), estimate_from=1))
    assert type(count) is int
    assert count == 30
    assert len(sql) == 1


def test_filtered_count_stops_at_the_limit():
    receipts(30)
    queryset = DeliveryReceipt.objects.filter(status="sent").order_by("-received_at")
    count, sql = counted(paginator(queryset, count_limit=12))
    assert isinstance(count, ApproximateCount)
    assert count.kind == ApproximateCount.MORE_THAN
    assert (int(count), count.figure) == (13, 12)
    assert len(sql) == 1
    assert "LIMIT 13" in sql[0].upper()
    assert "ORDER BY" not in sql[0].upper()  # no sort for a count


def test_capped_count_selects_no_annotation():
    receipts(3)
    first_code = DeliveryReceipt.objects.filter(notification=OuterRef("pk")).values("status")
    queryset = Notification.objects.annotate(code=Subquery(first_code[:1])).filter(status="sent")
    with CaptureQueriesContext(connection) as queries:
        assert capped_count(queryset, 10) == 1
    assert "deliveryreceipt" not in queries.captured_queries[0]["sql"]


def test_filtered_count_under_the_limit_is_exact():
    receipts(30)
    count, _ = counted(paginator(DeliveryReceipt.objects.filter(status="sent"), count_limit=50))
    assert type(count) is int
    assert count == 30


def test_the_limit_moves_with_the_page_asked_for():
    receipts(45)
    queryset = DeliveryReceipt.objects.filter(status="sent")
    assert paginator(queryset, count_limit=12, page=1).count.figure == 12
    # From page 3 (rows 21-30) the count looks 12 rows past row 21: 32, so page 4 exists.
    third = paginator(queryset, count_limit=12, page=3)
    assert third.count.figure == 32
    assert third.num_pages == 4
    assert len(third.page(4).object_list) == 3
    assert paginator(queryset, count_limit=12, page=4).count.figure == 42
    assert paginator(queryset, count_limit=12, page=5).count == 45  # the end is in sight


def test_capped_count_is_an_int_when_exact():
    receipts(5)
    assert capped_count(DeliveryReceipt.objects.filter(status="sent"), 5) == 5
    assert type(capped_count(DeliveryReceipt.objects.filter(status="sent"), 5)) is int


# -- the words --------------------------------------------------------------------------


def test_approximate_counts_say_so():
    assert str(ApproximateCount(1_000_113, ApproximateCount.ABOUT)) == "about 1,000,000"
    assert str(ApproximateCount(1_234_567, ApproximateCount.ABOUT)) == "about 1,200,000"
    assert str(ApproximateCount(47, ApproximateCount.ABOUT)) == "about 47"
    more = ApproximateCount(10_001, ApproximateCount.MORE_THAN, figure=10_000)
    assert str(more) == "more than 10,000"
    assert more > 10_000  # the paginator's arithmetic sees the number
    # The admin's "All %(total_count)s selected" is %-formatted.
    note = "All %(total_count)s selected" % {"total_count": more}  # noqa: UP031
    assert note == "All more than 10,000 selected"


def test_with_thousand_separators_on_the_bare_figure_is_shown(settings):
    # Django would group the digits of the words themselves.
    settings.USE_THOUSAND_SEPARATOR = True
    assert str(ApproximateCount(10_001, ApproximateCount.MORE_THAN, figure=10_000)) == "10000"


# -- the receipts admin -----------------------------------------------------------------


def test_filtered_receipts_page_says_more_than(admin_client, monkeypatch):
    monkeypatch.setattr(FastCountPaginator, "count_limit", 120)
    receipts(150)
    page = admin_client.get(RECEIPTS, {"status__exact": "sent"})
    assert page.status_code == 200
    assert "more than 120 delivery receipts" in page.content.decode()
    cl = page.context["cl"]
    assert cl.full_result_count is None  # no second count of the whole table
    assert cl.paginator.num_pages == 2  # 121 rows counted, 100 a page
    last = admin_client.get(RECEIPTS, {"status__exact": "sent", "p": 2})
    assert last.status_code == 200
    assert len(last.context["cl"].result_list) == 50
    assert "more than 220 delivery receipts" not in last.content.decode()
    assert "150 delivery receipts" in last.content.decode()  # counted to the end now


def test_searched_receipts_say_more_than_results(admin_client, monkeypatch):
    monkeypatch.setattr(FastCountPaginator, "count_limit", 5)
    notification = NotificationFactory(status="failed")
    DeliveryReceipt.objects.bulk_create(
        DeliveryReceipt(notification=notification, status="failed", error_code="30003")
        for _ in range(8)
    )
    page = admin_client.get(RECEIPTS, {"q": "30003"})
    assert "more than 5 results" in page.content.decode()


@pytest.mark.postgres
@needs_postgres
def test_unfiltered_receipts_page_says_about(admin_client, monkeypatch):
    monkeypatch.setattr(FastCountPaginator, "estimate_from", 100)
    receipts(150)
    analyze(DeliveryReceipt)
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(RECEIPTS)
    assert page.status_code == 200
    assert "about 150 delivery receipts" in page.content.decode()
    sql = [q["sql"].upper() for q in queries.captured_queries]
    assert not [s for s in sql if "COUNT(" in s], sql  # neither Django's two counts
    assert len([s for s in sql if "PG_CLASS" in s]) == 1
    # The estimated last page is linked and answers, with the rows there are.
    last = admin_client.get(RECEIPTS, {"p": 2})
    assert last.status_code == 200
    assert len(last.context["cl"].result_list) == 50
    beyond = admin_client.get(RECEIPTS, {"p": 3})
    assert beyond.status_code == 200
    assert len(beyond.context["cl"].result_list) == 0


def test_small_receipts_page_is_exact(admin_client):
    DeliveryReceiptFactory.create_batch(3, notification__recipient=UserFactory())
    page = admin_client.get(RECEIPTS)
    assert type(page.context["cl"].result_count) is int
    assert "3 delivery receipts" in page.content.decode()


def test_receipts_changelist_costs_no_more_queries_than_with_plain_counts(admin_client):
    receipts(5)
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(RECEIPTS, {"status__exact": "sent"})
    counts = [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1  # Django's would be two: the filtered and the full count


def test_receipts_admin_uses_fast_counts():
    from django.contrib import admin

    from chargesol_notifications.admin.paging import FastCountAdminMixin

    receipt_admin = admin.site._registry[DeliveryReceipt]
    assert isinstance(receipt_admin, FastCountAdminMixin)
    assert receipt_admin.show_full_result_count is False


def test_receipts_search_is_one_exact_match_by_the_terms_shape(admin_client):
    failed = DeliveryReceiptFactory(status="failed", error_code="30003", gateway_message_id=None)
    sent = DeliveryReceiptFactory(gateway_message_id="SM" + "3" * 32)
    by_code = admin_client.get(RECEIPTS, {"q": "30003"}).context["cl"]
    assert list(by_code.result_list) == [failed]
    with CaptureQueriesContext(connection) as queries:
        by_id = admin_client.get(RECEIPTS, {"q": " SM" + "3" * 32}).context["cl"]
    assert list(by_id.result_list) == [sent]
    listing = [q["sql"] for q in queries.captured_queries if "LIMIT 100" in q["sql"]]
    assert "error_code" not in listing[0].split("WHERE")[1]


def test_receipts_newest_first(admin_client):
    old = DeliveryReceiptFactory()
    new = DeliveryReceiptFactory()
    DeliveryReceipt.objects.filter(pk=old.pk).update(received_at="2025-01-01T00:00:00Z")
    assert list(admin_client.get(RECEIPTS).context["cl"].result_list) == [new, old]
