"""The SMS latency benchmark's gateway: a Twilio stand-in in a process of its own.

``bench_sms_latency.py --gateway`` runs :func:`serve_gateway`: a ``TwilioStandin`` with a
latency that counts the creates of each notification and is driven over its stdin. The
benchmark talks to it through :class:`Gateway`. In its own process, the stand-in's
threads (one per request) do not share an interpreter lock with the workers, and its CPU
time is its own, so the benchmark can report it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import harness

SCRIPT = Path(__file__).resolve().parent / "bench_sms_latency.py"


def serve_gateway(latency: float) -> None:
    """Serve a stand-in; print its URL, then obey stdin line by line.

    ``latency <seconds>`` sets its latency. ``report`` prints (as one JSON line) the
    creates of each notification id since the last report, the spec violations and the
    first create's wall-clock time, then forgets them. ``cpu`` prints the CPU seconds this
    process has used so far and the requests served since the last report. End of input
    stops it.
    """
    sys.path.insert(0, str(harness.REPO_ROOT))
    from chargesol_notifications.testing.twilio import RecordedResource, TwilioStandin

    class CountingStandin(TwilioStandin):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.counting = threading.Lock()
            self.sends: Counter[str] = Counter()
            self.first: float | None = None

        def resource_created(self, resource: RecordedResource) -> None:
            query = urlsplit(resource.status_callback or "").query
            notification = parse_qs(query).get("n", ["(no n=)"])[0]
            with self.counting:
                self.sends[notification] += 1
                self.first = self.first or time.time()

        def report(self) -> dict[str, Any]:
            with self.counting:
                report = {"sends": self.sends, "first": self.first}
                self.sends, self.first = Counter(), None
            report["violations"] = [str(v) for v in self.violations[:5]]
            self.reset()
            return report

    with CountingStandin(latency=latency) as standin:
        print(standin.url, flush=True)
        for line in sys.stdin:
            command, _, argument = line.strip().partition(" ")
            if command == "latency":
                standin.latency = float(argument)
                print("ok", flush=True)
            elif command == "report":
                print(json.dumps(standin.report()), flush=True)
            elif command == "cpu":
                cpu = {"cpu": time.process_time(), "requests": len(standin.requests)}
                print(json.dumps(cpu), flush=True)


class Gateway:
    """The benchmark script in ``--gateway`` mode, as a child process."""

    def __init__(self, latency: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(SCRIPT), "--gateway", "--latency", str(latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self._answer()

    def _answer(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"the stand-in process exited with {self.process.wait()}")
        return line.strip()

    def command(self, line: str) -> str:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self._answer()

    def report(self) -> dict[str, Any]:
        report: dict[str, Any] = json.loads(self.command("report"))
        return report

    def cpu(self) -> tuple[float, int]:
        """CPU seconds the stand-in has used so far, and requests since the last report."""
        answer = json.loads(self.command("cpu"))
        return float(answer["cpu"]), int(answer["requests"])

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
