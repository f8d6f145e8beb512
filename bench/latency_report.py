"""What the SMS latency benchmark measured in a run, and how it prints the results."""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import cpu_usage
import harness

#: The parts whose CPU time is read during a run, as printed.
CPU_PARTS = ("stand-in", "workers", "PostgreSQL", "benchmark")


@dataclass(frozen=True)
class Run:
    workers: int
    count: int
    #: From the call to ``notify_many()`` until all ``count`` were seen ``sent``.
    seconds: float
    #: Of which ``notify_many()`` itself.
    queueing: float
    #: From the call to ``notify_many()`` until the stand-in's first create.
    first_send: float
    #: From the start of the workers until each was ready (untimed).
    startup: float
    cpu: cpu_usage.CpuUse

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def cpu_summary(cpu: cpu_usage.CpuUse) -> str:
    parts = [f"{name} {_number(cpu.utilisation(name))}" for name in CPU_PARTS]
    return (
        ", ".join([*parts, f"machine {_number(cpu.machine_utilisation)} of {cpu.cores}"])
        + f"; CPU pressure {_number(cpu.pressure, 100, '%')}; waited for a core: workers "
        + f"{_number(cpu.waited.get('workers'))} s, PostgreSQL "
        + f"{_number(cpu.waited.get('PostgreSQL'))} s"
    )


def _number(value: float | None, scale: float = 1, unit: str = "") -> str:
    return "n/a" if value is None else f"{value * scale:.2f}{unit}"


def print_results(
    args: argparse.Namespace, vendor: str, runs: dict[int, list[Run]], queries: dict[str, float]
) -> None:
    rates = {n: statistics.median(r.rate for r in runs[n]) for n in runs}
    one = rates.get(1)
    harness.describe_environment(vendor, args.repeats)
    print(
        f"{args.count} SMS per run, stand-in latency {args.latency * 1000:g} ms in its own "
        f"process; CONCURRENCY {args.concurrency or 'not set'}, DELIVERY_BATCH_SIZE "
        f"{args.batch_size or 'not set'}; {os.cpu_count()} CPUs."
    )

    def median(n: int, value: Callable[[Run], float]) -> float:
        return statistics.median(value(r) for r in runs[n])

    harness.print_table(
        "Delivering SMS through the Twilio stand-in, workers already running (medians)",
        [
            (
                str(n),
                harness.format_seconds(median(n, lambda r: r.seconds)),
                f"{rates[n]:.1f}",
                f"{rates[n] / one:.2f}x" if one else "",
                harness.format_seconds(median(n, lambda r: r.queueing)),
                harness.format_seconds(median(n, lambda r: r.first_send)),
                harness.format_seconds(median(n, lambda r: r.startup)),
            )
            for n in runs
        ],
        ("workers", "time", "messages/s", "vs 1 worker", "queueing", "first send", "start-up"),
    )
    print_cpu(runs)
    print(
        f"\nQueries per message (one worker, in-process, latency 0): "
        f"{queries.get('statements', 0):.2f}, plus "
        f"{queries.get('transaction control', 0):.2f} transaction statements "
        "(SAVEPOINT, RELEASE, ...) sent by Django."
    )
    print("Duplicated sends: 0; lost: 0 (checked at the stand-in and in the database).")
    if one and 4 in rates:
        print(
            f"Targets: 1 worker >= 50 messages/s ({one:.1f}: "
            f"{'met' if one >= 50 else 'not met'}); 4 workers >= 3.5x one "
            f"({rates[4] / one:.2f}x: {'met' if rates[4] >= 3.5 * one else 'not met'})."
        )


def print_cpu(runs: dict[int, list[Run]]) -> None:
    """CPU per message and cores busy, by part, during the timed runs (medians)."""

    def median(values: list[float | None], scale: float = 1, unit: str = "") -> str:
        known = [v for v in values if v is not None]
        if not known or len(known) < len(values):
            return "n/a"
        return _number(statistics.median(known), scale, unit)

    rows = []
    for n, of_n in runs.items():
        cells = [str(n)]
        for part in CPU_PARTS:
            per_message = median([r.cpu.per_message_ms(part, r.count) for r in of_n])
            cells.append(f"{per_message}, {median([r.cpu.utilisation(part) for r in of_n])}")
        machine = median([r.cpu.machine_utilisation for r in of_n])
        cells.append(f"{machine} of {of_n[0].cpu.cores}")
        cells.append(median([r.cpu.pressure for r in of_n], 100, "%"))
        cells.append(median([r.cpu.waited_ms("workers", r.count) for r in of_n]))
        rows.append(tuple(cells))
    harness.print_table(
        "CPU during the timed runs, medians: ms per message, cores busy "
        "(ours; machine: every process)",
        rows,
        ("workers", *CPU_PARTS, "machine", "pressure", "workers waited, ms/msg"),
    )
