"""CPU time of processes and of the whole machine, read from Linux's ``/proc``.

Besides the CPU seconds each part used, two signs of a machine short of CPU: how long
a part's threads were ready to run but waited for a core (the scheduler's run delay,
``/proc/<pid>/task/<tid>/schedstat``), and the share of the time in which some task on
the machine waited so (CPU pressure, ``/proc/pressure/cpu``). Where ``/proc`` (or one of
these files) is missing, the readings are ``None`` and the benchmark prints "n/a": the
CPU figures explain a result, they are not part of it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds ``pid`` has used (all its threads), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            # The command name (field 2) may hold spaces: count fields after its ")".
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


def processes_cpu(pids: Iterable[int]) -> float | None:
    """The CPU seconds of several processes together; None if any cannot be read."""
    total = 0.0
    for pid in pids:
        seconds = process_cpu(pid)
        if seconds is None:
            return None
        total += seconds
    return total


def run_delays(pids: Iterable[int]) -> dict[str, float] | None:
    """Seconds each thread of ``pids`` has waited, runnable, for a core; None if unknown.

    Per thread, so that a thread started between two samples counts from zero. A thread
    that ends between them is lost: read it only for processes whose threads live on
    (the workers' main and sending threads, PostgreSQL's single-threaded backends).
    """
    delays: dict[str, float] = {}
    for pid in pids:
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                fields = (task / "schedstat").read_text(encoding="ascii").split()
                delays[f"{pid}/{task.name}"] = int(fields[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return None
    return delays


def machine_cpu() -> float | None:
    """Busy CPU seconds of the whole machine since boot, summed over its cores."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / _TICKS


def cpu_pressure() -> float | None:
    """Seconds since boot in which some task waited for a core (PSI ``some``)."""
    try:
        with open("/proc/pressure/cpu", encoding="ascii") as pressure:
            some = pressure.readline().split()
    except OSError:
        return None
    total = dict(field.partition("=")[::2] for field in some[1:]).get("total")
    return None if total is None else int(total) / 1e6


@dataclass(frozen=True)
class CpuSample:
    """What the parts have used so far (``None``: could not be read)."""

    #: CPU seconds by part.
    parts: Mapping[str, float | None]
    #: Run delay of each thread, by part (only the parts whose threads live on).
    waits: Mapping[str, dict[str, float] | None]
    machine: float | None
    pressure: float | None

    @classmethod
    def take(
        cls, parts: Mapping[str, float | None], waits: Mapping[str, Iterable[int]]
    ) -> CpuSample:
        delays = {name: run_delays(pids) for name, pids in waits.items()}
        return cls(parts, delays, machine_cpu(), cpu_pressure())


@dataclass(frozen=True)
class CpuUse:
    """What each part used between two samples, over ``seconds`` of wall time."""

    seconds: float
    parts: Mapping[str, float | None]
    #: Seconds the part's threads spent ready to run, waiting for a core.
    waited: Mapping[str, float | None]
    #: CPU seconds the whole machine was busy (every process, ours or not), and its cores.
    machine_busy: float | None
    cores: int
    #: Share of the time in which some task on the machine waited for a core.
    pressure: float | None

    def per_message_ms(self, part: str, messages: int) -> float | None:
        used = self.parts.get(part)
        return None if used is None else used / messages * 1000

    def waited_ms(self, part: str, messages: int) -> float | None:
        waited = self.waited.get(part)
        return None if waited is None else waited / messages * 1000

    def utilisation(self, part: str) -> float | None:
        """Cores the part kept busy on average (1.0: one core all the time)."""
        used = self.parts.get(part)
        return None if used is None else used / self.seconds

    @property
    def machine_utilisation(self) -> float | None:
        return None if self.machine_busy is None else self.machine_busy / self.seconds


def difference(before: CpuSample, after: CpuSample, seconds: float) -> CpuUse:
    parts: dict[str, float | None] = {}
    for name, end in after.parts.items():
        start = before.parts.get(name)
        parts[name] = None if start is None or end is None else end - start
    waited: dict[str, float | None] = {}
    for name, delays in after.waits.items():
        earlier = before.waits.get(name)
        if delays is None or earlier is None:
            waited[name] = None
        else:
            waited[name] = sum(end - earlier.get(tid, 0.0) for tid, end in delays.items())
    busy = pressure = None
    if before.machine is not None and after.machine is not None:
        busy = after.machine - before.machine
    if before.pressure is not None and after.pressure is not None and seconds > 0:
        pressure = (after.pressure - before.pressure) / seconds
    return CpuUse(seconds, parts, waited, busy, os.cpu_count() or 1, pressure)
