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

``--fast-count`` measures the notification lists twice, in turns: as the admin is, and as
if it had adopted ``admin.paging.FastCountAdminMixin`` (the registered admin's class is
swapped for a subclass with the mixin while the second variant's requests run), so their
ratio comes from one run.
Nothing changes once the admin has adopted the mixin.

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
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import bigtable_seed as seeding
import harness
from bigtable_measure import (
    AS_IS,
    MAX_MEDIAN_MS,
    MAX_QUERIES,
    Page,
    Result,
    Variant,
    explain,
    measure,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DATABASE = "csn_bigtable"


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


def fast_count_variants() -> Sequence[Variant]:
    """The notification admin as it is, and with FastCountAdminMixin mixed in."""
    from django.contrib import admin

    from chargesol_notifications.admin.paging import FastCountAdminMixin
    from chargesol_notifications.models import Notification

    registered = admin.site._registry[Notification]
    current = type(registered)
    if issubclass(current, FastCountAdminMixin):
        print("The notification admin has adopted FastCountAdminMixin: measured once.")
        return AS_IS
    fast = type(current.__name__, (FastCountAdminMixin, current), {})

    def as_class(model_admin: type) -> Callable[[], None]:
        # The admin's URLs are bound to the registered instance, so the instance changes
        # class; the changelist reads the paginator and the count setting from it.
        return lambda: setattr(registered, "__class__", model_admin)

    return (("as is", as_class(current)), ("fast count", as_class(fast)))


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
                f"{r.label} ({r.variant})" if r.variant else r.label,
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
    from django.urls import reverse

    variants = fast_count_variants() if args.fast_count else AS_IS
    notification_pages = reverse("admin:chargesol_notifications_notification_changelist")
    client = Client()
    client.force_login(get_user_model().objects.get(username=seeding.ADMIN_USERNAME))
    results = [
        result
        for page in pages(targets)
        for result in measure(
            client,
            page,
            repeats,
            args.slow_ms,
            variants if page.path == notification_pages else AS_IS,
        )
    ]
    report(results, rows, repeats, connection.vendor, args.smoke)
    if args.explain and connection.vendor == "postgresql":
        for result in results:
            for query in result.slow_queries:
                print(f"\n-- {result.label} {result.variant}: {query['ms']} ms\n{query['sql']}")
                print(explain(str(query["sql"])))
    if args.json:
        meta = {"commit": commit_measured(), "rows": rows, "repeats": repeats}
        data = {**meta, "vendor": connection.vendor, "pages": [asdict(r) for r in results]}
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
