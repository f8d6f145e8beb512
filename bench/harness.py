"""What the benchmark scripts share: a throwaway migrated database, timing, a table.

Import it before anything that touches Django: :func:`setup` configures Django on a
database of its own (an SQLite file in a temporary directory, or a ``bench_<pid>`` database
next to the one ``DATABASE_URL`` names), migrates it, and drops it at exit.
"""

from __future__ import annotations

import atexit
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def setup(*, database: bool = True) -> str:
    """Configure Django, create and migrate a temporary database; return its vendor.

    With ``database=False`` only Django is set up (for benchmarks that run no query).
    """
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    workdir = tempfile.mkdtemp(prefix="chargesol-bench-")
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    sqlite_file = Path(workdir) / "bench.sqlite3"
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{sqlite_file}")

    import django
    from django.conf import settings

    django.setup()

    from django.db import connection

    if not database:
        return connection.vendor
    # The test-database machinery creates and migrates a database of our own, so a
    # benchmark never touches the one DATABASE_URL names, nor a test run's test_<name>.
    test_settings = settings.DATABASES["default"].setdefault("TEST", {})
    if connection.vendor == "sqlite":
        test_settings["NAME"] = str(sqlite_file)  # on disk, not the in-memory default
    else:
        test_settings["NAME"] = f"bench_{os.getpid()}"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    atexit.register(connection.creation.destroy_test_db, old_name, verbosity=0)
    return connection.vendor


@dataclass(frozen=True)
class Timing:
    label: str
    #: Seconds for one repeat of the measured block, one entry per repeat.
    samples: list[float]
    #: How many operations one repeat performs (to report a per-operation cost).
    operations: int = 1

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def per_operation(self) -> float:
        return self.median / self.operations


def measure(
    label: str,
    run: Callable[[], object],
    *,
    repeats: int,
    operations: int = 1,
    warmup: int = 1,
) -> Timing:
    """Time ``run()`` ``repeats`` times after ``warmup`` untimed runs."""
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return Timing(label, samples, operations)


def format_seconds(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def print_table(title: str, rows: Iterable[tuple[str, ...]], headers: tuple[str, ...]) -> None:
    """Print ``rows`` under ``headers`` as a plain-text table (also valid reST)."""
    table = [headers, *rows]
    widths = [max(len(cell) for cell in column) for column in zip(*table, strict=True)]
    rule = "  ".join("=" * width for width in widths)

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

    print(f"\n{title}\n")
    print(rule, line(headers).rstrip(), rule, sep="\n")
    for row in table[1:]:
        print(line(row).rstrip())
    print(rule)


def describe_environment(vendor: str, repeats: int) -> None:
    import platform

    import django

    print(
        f"Python {platform.python_version()}, Django {django.get_version()}, "
        f"database: {vendor}; medians of {repeats} repeats."
    )
