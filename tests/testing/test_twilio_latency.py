"""The stand-in's latency: every answer late, many answers late at the same time."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from chargesol_notifications.testing.twilio import (
    DEFAULT_ACCOUNT_SID,
    DEFAULT_AUTH_TOKEN,
    StandinHttpClient,
    TwilioStandin,
)
from chargesol_notifications.testing.twilio.local import CallbackPlayer, LocalStandin, parser

TO = "+447700900123"
FROM = "+15005550006"


def timed_create(client) -> float:
    start = time.perf_counter()
    client.messages.create(to=TO, from_=FROM, body="Your charger is booked")
    return time.perf_counter() - start


def test_an_answer_takes_at_least_the_latency():
    with TwilioStandin(latency=0.3) as standin:
        client = standin.client()
        assert timed_create(client) >= 0.3  # every answer waits 0.3 s

        standin.latency = 0  # from the next request on, none
        assert timed_create(client) < 0.3
        assert len(standin.messages) == 2


def test_the_latency_can_be_given_to_a_running_standin():
    with TwilioStandin() as standin:
        client = standin.client()
        standin.latency = 0.3

        assert timed_create(client) >= 0.3
        assert standin.latency == 0.3


def test_a_fault_delay_comes_on_top_of_the_latency():
    with TwilioStandin(latency=0.2) as standin:
        client = standin.client()
        standin.fail_next(21211, delay=0.2)

        start = time.perf_counter()
        with pytest.raises(TwilioRestException) as caught:
            client.messages.create(to=TO, from_=FROM, body="Hi")

        assert time.perf_counter() - start >= 0.4
        assert caught.value.code == 21211


@pytest.mark.parametrize("latency", [-0.1, float("nan"), float("inf")])
def test_a_latency_is_a_finite_number_of_seconds(latency):
    with pytest.raises(ValueError, match="latency"):
        TwilioStandin(latency=latency)
    standin = TwilioStandin()
    with pytest.raises(ValueError, match="latency"):
        standin.latency = latency


def test_concurrent_requests_wait_out_the_latency_together():
    """32 requests at once, 0.25 s each: together in about 0.25 s, not 8 s one by one.

    The bound also stays under the second that a client waits before it resends a SYN the
    server's listen backlog dropped.
    """
    count, latency = 32, 0.25
    with TwilioStandin(latency=latency) as standin:
        clients = [standin.client(timeout=10) for _ in range(count)]
        ready = threading.Barrier(count + 1)
        durations: list[float] = []
        errors: list[BaseException] = []

        def send(client) -> None:
            ready.wait()
            try:
                durations.append(timed_create(client))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        ready.wait()
        start = time.perf_counter()
        for thread in threads:
            thread.join(timeout=30)
        elapsed = time.perf_counter() - start

        assert errors == []
        assert len(standin.messages) == count
        assert min(durations) >= latency
        assert elapsed < 0.95, f"{count} requests took {elapsed:.2f} s"
        standin.assert_no_violations()


class Receiver(BaseHTTPRequestHandler):
    """The development server's part: note when each status callback arrives."""

    arrivals: list[float] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.arrivals.append(time.perf_counter())
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args) -> None:
        pass


def test_callbacks_follow_the_late_answer():
    """Twilio calls back after it answered the create, however late that answer was."""
    Receiver.arrivals = []
    app = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=app.serve_forever, kwargs={"poll_interval": 0.02}).start()
    app_url = f"http://127.0.0.1:{app.server_address[1]}"
    try:
        with LocalStandin(lambda line: None, latency=0.3) as standin:
            standin.player = CallbackPlayer(standin, app_url, 0, lambda line: None)
            standin.player.start()
            standin.client().messages.create(
                to=TO, from_=FROM, body="Hi", status_callback=f"{app_url}/status/?n=1"
            )
            answered = time.perf_counter()
            deadline = time.monotonic() + 10
            while len(Receiver.arrivals) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            standin.player.stop()
    finally:
        app.shutdown()
        app.server_close()

    assert len(Receiver.arrivals) == 2  # sent, delivered
    assert Receiver.arrivals[0] >= answered - 0.05


def test_the_command_takes_a_latency():
    assert parser().parse_args(["--latency", "0.1"]).latency == 0.1
    assert parser().parse_args([]).latency == 0.0
    for wrong in ("-1", "soon", "nan"):
        with pytest.raises(SystemExit):
            parser().parse_args(["--latency", wrong])


def test_the_command_answers_late():
    command = [sys.executable, "-m", "chargesol_notifications.testing.twilio"]
    process = subprocess.Popen(
        [*command, "--port", "0", "--latency", "0.3", "--no-callbacks"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(2)]
        url = re.search(r"listening on (http://\S+) ", banner[0])
        assert url, banner
        assert banner[1].strip() == "Every answer comes 0.3 s late."
        client = Client(
            DEFAULT_ACCOUNT_SID,
            DEFAULT_AUTH_TOKEN,
            http_client=StandinHttpClient(url=url[1], timeout=10),
        )

        assert timed_create(client) >= 0.3
    finally:
        process.terminate()
        process.wait(timeout=10)
