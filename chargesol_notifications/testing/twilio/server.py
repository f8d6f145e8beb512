"""The loopback HTTP server that puts a :class:`~.api.TwilioApi` on 127.0.0.1.

Plain ``http.server`` on a free port chosen by the OS (or the one asked for), one thread
per connection. Connections stay open between requests (HTTP/1.1 keep-alive), as
Twilio's do: the real client's ``requests`` session reuses them, and a connection per
request would cost both sides a TCP handshake and the stand-in a new thread every time
(a third of its CPU per request under load). :meth:`LoopbackServer.stop` closes the open
ones, so no idle thread outlives a stand-in. Slow answers (a fault's delay, the
stand-in's latency) sleep in their own connection's thread, so many of them overlap, on
an event that :meth:`LoopbackServer.stop` sets, so stopping never waits out a delay.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .api import Reply, TwilioApi

logger = logging.getLogger("chargesol_notifications.testing.twilio")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: a burst of concurrent connections overflows it,
    # and the kernel drops their SYNs, which clients resend only after a second (or reset).
    request_queue_size = 1024
    api: TwilioApi
    stopping: threading.Event
    #: The open connections, which :meth:`LoopbackServer.stop` closes.
    open_connections: set[socket.socket]
    connections_lock: threading.Lock


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, unless the client asks to close
    server_version = "TwilioStandin/1.0"
    # The headers and the body go out in two writes: without TCP_NODELAY, the body waits
    # for the client's delayed ACK of the headers on a kept-alive connection (~40 ms).
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.open_connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.open_connections.discard(self.connection)
        super().finish()

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):
            # A client that closes an idle kept-alive connection abruptly, as Twilio's
            # servers would see it: nothing to report.
            logger.debug("client reset its connection")

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.server.api.handle(self.command, self.path, dict(self.headers), body)
        if reply.delay and self.server.stopping.wait(reply.delay):
            self.close_connection = True
            return  # stopped while sleeping: nobody is waiting for this answer any more
        if reply.disconnect:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._write(reply)

    def _write(self, reply: Reply) -> None:
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a timeout under test); Twilio would not notice either.
            logger.debug("client went away before the stand-in answered")
            self.close_connection = True


class LoopbackServer:
    """Serves ``api`` on ``host`` in a background thread, at ``port`` (0: a free one)."""

    def __init__(self, api: TwilioApi, host: str = "127.0.0.1", port: int = 0) -> None:
        self.api = api
        self.host = host
        self.requested_port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the Twilio stand-in is not running")
        return self._server.server_address[1]

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        if self._server is not None:
            return
        server = _Server((self.host, self.requested_port), _Handler)
        server.api = self.api
        server.stopping = threading.Event()
        server.open_connections = set()
        server.connections_lock = threading.Lock()
        self._server = server
        # A short poll interval keeps stop() (and so every test's teardown) fast.
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"twilio-standin:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.stopping.set()
        server.shutdown()
        server.server_close()
        # Idle kept-alive connections wait in their thread for a next request: end them.
        with server.connections_lock:
            connections = list(server.open_connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None
