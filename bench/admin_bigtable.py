"""The staff admin at a million notifications: queries and time of each page.

Seeds (once) a PostgreSQL database of its own, ``csn_bigtable`` next to the one
``DATABASE_URL`` names, with ``--rows`` notifications (default 1,000,000), their receipts,
~83,000 customers and 100,000 call logs (``bigtable_seed.py``), and reuses it on later
runs while the seeded plan is the same; ``--reseed`` drops and seeds it again. New
migrations are applied to it at every run, so the bench follows the models.

Then, logged in as a superuser through Django's test ``Client`` (in this process: no
server, no network; the figures are the view's, its queries' and the templates' time),
it requests each page once untimed while counting its queries, then ``--repeats`` times
timed, and prints the queries and the median time per page; ``--json`` also writes them.
``--explain`` prints ``EXPLAIN (ANALYZE, BUFFERS)`` of every query slower than
``--slow-ms``.

``--fast-count`` measures the notification admin as if it had adopted
``admin.paging.FastCountAdminMixin`` (a subclass is registered in its place for this run;
nothing changes once it has).

``--smoke`` is the CI check: a few thousand rows in a throwaway database (any database
``DATABASE_URL`` names, SQLite when unset), every page requested once; it fails if a page
does not answer 200.

    python bench/admin_bigtable.py                       # seeds on the first run (minutes)
    python bench/admin_bigtable.py --explain --json admin.json
    python bench/admin_bigtable.py --smoke
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import bigtable_seed as seeding
import harness

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DATABASE = "csn_bigtable"
#: The issue's targets, per page at 1,000,000 notifications.
MAX_QUERIES = 12
MAX_MEDIAN_MS = 300.0


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


def pages(targets: seeding.Targets) -> list[Page]:
    from django.urls import reverse

    def admin(name: str, *args: str) -> str:
        return reverse(f"admin:chargesol_notifications_{name}", args=args)

    notifications = admin("notification_changelist")
    return [
        Page("notifications", notifications, {}),
        Page(
            "notifications, failed SMS",
            notifications,
            {"status__exact": "failed", "channel__exact": "sms"},
        ),
        Page("search by phone", notifications, {"q": targets.phone_as_typed}),
        Page("search by gateway id", notifications, {"q": targets.gateway_message_id}),
        Page("search by email", notifications, {"q": targets.email}),
        Page("notification page", admin("notification_change", targets.notification_id), {}),
        Page("receipts", admin("deliveryreceipt_changelist"), {}),
        Page("call logs", admin("calllog_changelist"), {}),
    ]


# -- the database -------------------------------------------------------------------------


def with_database_name(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def setup_django(url: str) -> None:
    if str(harness.REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(harness.REPO_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()


def open_seeded(url: str, rows: int, reseed: bool) -> seeding.Targets:
    """The named database, created, migrated and seeded with ``rows`` if it is not yet."""
    from django.core.management import call_command
    from django.db import connection

    name = connection.settings_dict["NAME"]
    with connection._nodb_cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        exists = cursor.fetchone() is not None
        if exists and reseed:
            cursor.execute(f"DROP DATABASE {connection.ops.quote_name(name)}")
        if reseed or not exists:
            cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(name)}")
    call_command("migrate", verbosity=0, interactive=False)
    plan = seeding.Plan.for_size(rows)
    marker = seeding.read_marker()
    if marker is not None:
        if marker[0] != plan:
            raise SystemExit(
                f"{name} holds {marker[0]}, not {plan}: run again with --reseed to replace it."
            )
        print(f"Reusing {name}: {plan.notifications:,} notifications, seeded earlier.")
        return marker[1]
    return seed_now(plan, name)


def open_throwaway(rows: int) -> seeding.Targets:
    """A database of this run's own, like ``harness.setup()``, seeded with ``rows``."""
    from django.conf import settings
    from django.db import connection

    test_settings = settings.DATABASES["default"].setdefault("TEST", {})
    if connection.vendor == "sqlite":
        workdir = tempfile.mkdtemp(prefix="csn-bigtable-")
        test_settings["NAME"] = str(Path(workdir) / "bigtable.sqlite3")
    else:
        test_settings["NAME"] = f"csn_bigtable_smoke_{os.getpid()}"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    atexit.register(connection.creation.destroy_test_db, old_name, verbosity=0)
    return seed_now(seeding.Plan.for_size(rows), connection.settings_dict["NAME"])


def seed_now(plan: seeding.Plan, name: str) -> seeding.Targets:
    print(f"Seeding {name}: {plan}", flush=True)
    start = time.perf_counter()
    targets = seeding.seed(plan, progress=lambda line: print(line, flush=True))
    seeding.write_marker(plan, targets)
    print(f"Seeded in {time.perf_counter() - start:.0f} s.", flush=True)
    return targets


# -- measuring ----------------------------------------------------------------------------


def adopt_fast_count() -> bool:
    """Register the notification admin again with FastCountAdminMixin, for this process.

    Returns False when it has adopted it already (the flag is then a no-op)."""
    from django.contrib import admin

    from chargesol_notifications.admin.paging import FastCountAdminMixin
    from chargesol_notifications.models import Notification

    current = type(admin.site._registry[Notification])
    if issubclass(current, FastCountAdminMixin):
        return False
    admin.site.unregister(Notification)
    admin.site.register(Notification, type(current.__name__, (FastCountAdminMixin, current), {}))
    return True


def what_the_page_shows(html: str) -> str:
    """The paginator's words for the row count, without the page links."""
    match = re.search(r'<p class="paginator">(.*?)</p>', html, re.S)
    if not match:
        return ""
    text = re.sub(r"<(a|span)\b[^>]*>.*?</\1>", " ", match.group(1), flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", text).replace("…", " ").split())


def measure(client: object, page: Page, repeats: int, slow_ms: float) -> Result:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def get() -> str:
        response = client.get(page.url)  # type: ignore[attr-defined]
        if response.status_code != 200:
            raise SystemExit(f"{page.label}: {page.url} answered {response.status_code}")
        return response.content.decode()

    # The counted request is also the warm-up (templates compiled, caches filled).
    with CaptureQueriesContext(connection) as captured:
        html = get()
    # Read now: the log is a window that the next requests reset.
    queries = list(captured.captured_queries)
    slow = [
        {"ms": round(float(q["time"]) * 1e3, 1), "sql": q["sql"]}
        for q in queries
        if float(q["time"]) * 1e3 >= slow_ms
    ]
    timing = harness.measure(page.label, get, repeats=repeats, warmup=0)
    return Result(
        label=page.label,
        url=page.url,
        queries=len(queries),
        sql_ms=round(sum(float(q["time"]) for q in queries) * 1e3, 1),
        median_ms=timing.median * 1e3,
        samples_ms=[round(s * 1e3, 1) for s in timing.samples],
        shows=what_the_page_shows(html),
        slow_queries=slow,
    )


def explain(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def commit_measured() -> str:
    """The commit, with "+changes" when the work tree differs from it (others' edits too)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=harness.REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=harness.REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}+changes" if dirty else head


def report(results: list[Result], rows: int, repeats: int, vendor: str, smoke: bool) -> None:
    harness.describe_environment(vendor, repeats)
    print(f"Commit {commit_measured()}; {rows:,} notifications; Django test Client, superuser.")
    if smoke:
        print("A smoke run: the pages answer; the times mean nothing at this size.")
    harness.print_table(
        f"Admin pages (target: at most {MAX_QUERIES} queries, median under {MAX_MEDIAN_MS:.0f} ms)",
        [
            (
                r.label,
                str(r.queries),
                f"{r.sql_ms:.0f}",
                f"{r.median_ms:.0f}",
                "yes" if r.on_target else "NO",
                r.shows,
            )
            for r in results
        ],
        ("page", "queries", "sql ms", "median ms", "on target", "the page shows"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="notifications to seed")
    parser.add_argument("--repeats", type=int, default=5, help="timed requests per page")
    parser.add_argument("--database", default=DATABASE, help="the seeded database's name")
    parser.add_argument("--reseed", action="store_true", help="drop the database, seed again")
    parser.add_argument("--smoke", action="store_true", help="few rows, throwaway database")
    parser.add_argument(
        "--fast-count", action="store_true", help="the notification admin with FastCountAdminMixin"
    )
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE slow queries")
    parser.add_argument("--slow-ms", type=float, default=20.0, help="what --explain shows")
    parser.add_argument("--json", metavar="FILE", help="also write the results here")
    args = parser.parse_args()
    if args.smoke:
        rows, repeats = 3_000, 1
        setup_django(os.environ.get("DATABASE_URL") or "sqlite:///:memory:")
        targets = open_throwaway(rows)
    else:
        rows, repeats = args.rows, args.repeats
        if not args.database.startswith("csn_bigtable"):
            parser.error("--database must start with csn_bigtable (it may be dropped)")
        setup_django(with_database_name(os.environ.get("DATABASE_URL", DEFAULT_URL), args.database))
        from django.db import connection

        if connection.vendor != "postgresql":
            raise SystemExit("The full run needs PostgreSQL (DATABASE_URL=postgres://...).")
        targets = open_seeded(os.environ["DATABASE_URL"], rows, args.reseed)

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    if args.fast_count:
        adopted = adopt_fast_count()
        print(
            "Notification admin: "
            + (
                "FastCountAdminMixin added for this run."
                if adopted
                else "already a FastCountAdminMixin."
            )
        )
    client = Client()
    client.force_login(get_user_model().objects.get(username=seeding.ADMIN_USERNAME))
    results = [measure(client, page, repeats, args.slow_ms) for page in pages(targets)]
    report(results, rows, repeats, connection.vendor, args.smoke)
    if args.explain and connection.vendor == "postgresql":
        for result in results:
            for query in result.slow_queries:
                print(f"\n-- {result.label}: {query['ms']} ms\n{query['sql']}")
                print(explain(str(query["sql"])))
    if args.json:
        meta = {"commit": commit_measured(), "rows": rows, "repeats": repeats}
        data = {**meta, "vendor": connection.vendor, "pages": [asdict(r) for r in results]}
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
