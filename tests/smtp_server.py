"""A loopback SMTP server for tests: Django's real SMTP backend talks to it over TCP.

It speaks just enough of RFC 5321 (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) and
answers RCPT or end-of-DATA with the reply a test asks for, so the email backend's
handling of refusals and temporary failures is tested against real protocol replies.
"""

from __future__ import annotations

import socketserver
import threading
from dataclasses import dataclass, field


@dataclass
class SmtpScript:
    rcpt_reply: str = "250 OK"
    data_reply: str = "250 2.0.0 queued as 1A2B3C"
    received: list[bytes] = field(default_factory=list)


class _Handler(socketserver.StreamRequestHandler):
    server: LoopbackSmtpServer

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        script = self.server.script
        self.reply("220 loopback ESMTP")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.reply("250-loopback")
                self.reply("250 8BITMIME")
            elif verb in (b"HELO", b"MAIL", b"RSET", b"NOOP"):
                self.reply("250 OK")
            elif verb == b"RCPT":
                self.reply(script.rcpt_reply)
            elif verb == b"DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                script.received.append(data)
                self.reply(script.data_reply)
            elif verb == b"QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")


class LoopbackSmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = SmtpScript()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def __enter__(self) -> LoopbackSmtpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()
