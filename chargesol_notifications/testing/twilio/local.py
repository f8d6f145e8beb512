"""The stand-in on its own, for local development beside ``runserver``.

``python -m chargesol_notifications.testing.twilio`` serves a :class:`LocalStandin` on a
loopback port until Ctrl-C and prints the settings that point a project's Twilio backends
at it. After each message or call it plays Twilio's part: the signed status callbacks
(and, for a click-to-call, the request to the answer URL) go to the development server,
so receipts and call outcomes move in the admin as they would in production.

It runs without Django and without pytest: only the stand-in and the ``twilio`` client.
"""

from __future__ import annotations

import argparse
import math
import queue
import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from .callbacks import StatusCallback
from .http_client import is_loopback
from .records import RecordedCall, RecordedResource
from .standin import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, DEFAULT_FROM, TwilioStandin

DEFAULT_PORT = 8010
DEFAULT_APP_URL = "http://127.0.0.1:8000"
#: Seconds between Twilio's answer to a create and each callback that follows it.
DEFAULT_PAUSE = 1.0
#: ``CallDuration`` of every call the local stand-in reports completed.
CALL_SECONDS = 30

Write = Callable[[str], None]


def settings_snippet(
    standin_url: str,
    app_url: str = DEFAULT_APP_URL,
    *,
    account_sid: str = DEFAULT_ACCOUNT_SID,
    auth_token: str = DEFAULT_AUTH_TOKEN,
) -> str:
    """The settings (Python) that send SMS, WhatsApp and calls to the stand-in at a URL."""
    return f'''\
# Local development only: the Twilio backends talk to the stand-in on this machine.
from chargesol_notifications.testing.twilio import StandinHttpClient

TWILIO_STANDIN = {{
    "ACCOUNT_SID": "{account_sid}",
    "AUTH_TOKEN": "{auth_token}",
    "HTTP_CLIENT": StandinHttpClient(url="{standin_url}"),
}}
TWILIO = "chargesol_notifications.backends.twilio"
CHARGESOL_NOTIFICATIONS = {{
    "CHANNELS": {{
        "sms": {{
            "BACKEND": f"{{TWILIO}}.SmsBackend",
            "OPTIONS": {{**TWILIO_STANDIN, "FROM": "{DEFAULT_FROM}"}},
        }},
        "whatsapp": {{
            "BACKEND": f"{{TWILIO}}.WhatsAppBackend",
            "OPTIONS": {{**TWILIO_STANDIN, "FROM": "whatsapp:{DEFAULT_FROM}"}},
        }},
        "call": {{
            "BACKEND": f"{{TWILIO}}.CallBackend",
            "OPTIONS": {{**TWILIO_STANDIN, "FROM": "{DEFAULT_FROM}"}},
        }},
    }},
    # Where runserver listens: status callback URLs start with it.
    "WEBHOOK_BASE_URL": "{app_url.rstrip("/")}",
}}
'''


class CallbackPlayer:
    """Plays Twilio's callbacks for each created message or call, in order, in one thread.

    Each callback goes to ``app_url`` (path and query kept), ``pause`` seconds after the
    previous step, so the app has recorded the send before its first callback arrives. The
    first step is the answer to the create, which the stand-in's latency delays.
    """

    def __init__(self, standin: TwilioStandin, app_url: str, pause: float, write: Write) -> None:
        self.standin = standin
        self.app_url = app_url.rstrip("/")
        self.pause = pause
        self.write = write
        self._queue: queue.Queue[tuple[RecordedResource, float] | None] = queue.Queue()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="twilio-callbacks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout=5)

    def submit(self, resource: RecordedResource) -> None:
        """Queue ``resource``'s callbacks; called before the stand-in answers its create."""
        self._queue.put((resource, time.monotonic() + self.standin.latency))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            resource, answered_at = item
            if self._stopping.wait(max(answered_at - time.monotonic(), 0)):
                return
            try:
                self.play(resource)
            except Exception as exc:  # one bad callback must not end the player
                self.write(f"  {resource.sid}: could not play its callbacks: {exc!r}")

    def play(self, resource: RecordedResource) -> None:
        """Send the callbacks Twilio would send for ``resource`` by default."""
        if not resource.status_callback:
            self.write(f"  {resource.sid}: created without StatusCallback, nothing to report")
            return
        if not isinstance(resource, RecordedCall):
            self.send(resource.sid, self.standin.callbacks(resource.sid))
            return
        callbacks = self.standin.callbacks(resource.sid, duration=CALL_SECONDS)
        answered = [c.params.get("CallStatus") in ("in-progress", "completed") for c in callbacks]
        split = answered.index(True) if True in answered else len(callbacks)
        self.send(resource.sid, callbacks[:split])
        if resource.url:  # a click-to-call: Twilio asks the answer URL what to do
            self.send(resource.sid, [self.answer_request(resource, resource.url)], "answer URL")
        self.send(resource.sid, callbacks[split:])

    def answer_request(self, call: RecordedCall, url: str) -> StatusCallback:
        params = {
            "AccountSid": call.account_sid,
            "CallSid": call.sid,
            "CallStatus": "in-progress",
            "Direction": "outbound-api",
            "From": call.from_ or "",
            "To": call.to,
        }
        if call.machine_detection:
            params["AnsweredBy"] = "human"
        return self.standin.sign(url, params)

    def send(self, sid: str, callbacks: Sequence[StatusCallback], label: str = "") -> None:
        for callback in callbacks:
            if self._stopping.wait(self.pause):
                return
            what = label or callback.params.get("MessageStatus") or callback.params["CallStatus"]
            target = self.app_url + callback.path.split("?")[0]
            try:
                response = callback.deliver_http(self.app_url)
            except OSError as exc:
                self.write(f"  {sid} {what} -> {target}: not delivered ({exc}); is it running?")
                return
            self.write(f"  {sid} {what} -> {target}: HTTP {response.status}")


class LocalStandin(TwilioStandin):
    """A stand-in that reports what it creates and hands it to a :class:`CallbackPlayer`."""

    def __init__(self, write: Write, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.write = write
        self.player: CallbackPlayer | None = None

    def resource_created(self, resource: RecordedResource) -> None:
        kind = "call" if isinstance(resource, RecordedCall) else "message"
        self.write(f"{kind} {resource.sid} to {resource.to}")
        if self.player is not None:
            self.player.submit(resource)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m chargesol_notifications.testing.twilio",
        description=(
            "Serve the Twilio stand-in on a loopback port for local development, print the "
            "settings that point the app's Twilio backends at it, and send Twilio's status "
            "callbacks to the development server."
        ),
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port on 127.0.0.1 to serve on (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--app-url",
        default=DEFAULT_APP_URL,
        help=f"where runserver listens, on this machine (default {DEFAULT_APP_URL})",
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=DEFAULT_PAUSE,
        help=f"seconds before each status callback (default {DEFAULT_PAUSE})",
    )
    parser.add_argument(
        "--latency",
        type=seconds,
        default=0.0,
        metavar="SECONDS",
        help="seconds every API answer waits, as if Twilio were far away (default 0); "
        "requests are served concurrently",
    )
    parser.add_argument(
        "--no-callbacks",
        action="store_false",
        dest="callbacks",
        help="only answer the API; send no status callbacks",
    )
    return parser


def seconds(value: str) -> float:
    """An argparse type: a finite number of seconds, 0 or more."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, not {value!r}")
    return number


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted (Ctrl-C or SIGTERM)."""
    arguments = parser().parse_args(argv)
    app_url: str = arguments.app_url.rstrip("/")
    parts = urlsplit(app_url)
    if parts.scheme != "http" or not is_loopback(parts.hostname or ""):
        parser().error(f"--app-url must be an http:// address on this machine, not {app_url}")

    def write(line: str) -> None:
        print(line, flush=True)

    standin = LocalStandin(write, port=arguments.port, latency=arguments.latency)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    with standin:
        if arguments.callbacks:
            standin.player = CallbackPlayer(standin, app_url, arguments.pause, write)
            standin.player.start()
        write(f"Twilio stand-in listening on {standin.url} (Ctrl-C stops it).")
        if standin.latency:
            write(f"Every answer comes {standin.latency:g} s late.")
        if arguments.callbacks:
            write(f"Status callbacks go to {app_url}.")
        write("\nSettings for the project (merge into settings.py):\n")
        write(settings_snippet(standin.url, app_url))
        previous: Any = signal.signal(signal.SIGTERM, on_signal)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            if standin.player is not None:
                standin.player.stop()
    write("Twilio stand-in stopped.")
    return 0
