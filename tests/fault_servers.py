"""Mail servers that misbehave, on loopback, for fault tests: a TCP server that accepts and
then stalls, and an aiosmtpd sink that can answer DATA with an error."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import Counter
from collections.abc import Callable

from tests.smtp_sink import Sink, SmtpServer


class StallingServer:
    """Accepts TCP connections, then stalls. `mode`:

    - "silent": never says anything (a black-holed mail server: no greeting);
    - "greet": the 220 greeting, then silence;
    - "trickle": the greeting, then one byte of a reply every `interval` seconds, never a
      whole line, so no single socket read ever waits as long as a socket timeout.
    """

    def __init__(self, mode: str, interval: float = 0.2) -> None:
        assert mode in ("silent", "greet", "trickle"), mode
        self.mode, self.interval = mode, interval
        self.accepted = 0
        self._stop = threading.Event()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []

    def __enter__(self) -> StallingServer:
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self._spawn(self._accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        for c in [*self._conns, self._listener]:
            with contextlib.suppress(OSError):
                c.close()

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self._conns.append(conn)
            self._spawn(self._stall, conn)

    def _stall(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            if self.mode != "silent":
                conn.sendall(b"220 127.0.0.1 ESMTP stalling\r\n")
            if self.mode != "trickle":
                self._stop.wait()
                return
            while not self._stop.wait(self.interval):
                conn.sendall(b"2")  # never a CRLF: the reply line never ends


class RefusingSink(Sink):
    """A sink that can also refuse the sender (`refuse_mail`, the reply to MAIL FROM) and a
    message at DATA (`refuse_data[address]`, given after the content was sent, e.g.
    "421 4.3.2 shutting down"). `refusals` counts the refusals given, per address;
    `on_message(n)` is called (in the server's thread) when the n-th message is kept, before
    the client hears that it was accepted."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse_mail: str | None = None
        self.refuse_data: dict[str, str] = {}
        self.refusals: Counter[str] = Counter()
        self.on_message: Callable[[int], object] | None = None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.refuse_mail:
            self.refusals[address] += 1
            return self.refuse_mail
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            self.refusals[address] += 1
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):
        for address in envelope.rcpt_tos:
            if address in self.refuse_data:
                self.refusals[address] += 1
                return self.refuse_data[address]
        reply = await super().handle_DATA(server, session, envelope)
        if self.on_message is not None:
            self.on_message(len(self.messages))
        return reply


class RefusingServer(SmtpServer):
    def __init__(self) -> None:
        super().__init__()
        self.sink = RefusingSink()
        self.controller.handler = self.sink
