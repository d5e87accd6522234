"""The portal's HTTP server protocol: uvicorn's h11 one, with deadlines for slow clients.

uvicorn (h11) has no deadline for a request's head or body: a client that opens a
connection and sends nothing, or a header or body a byte at a time, held its connection
(and its memory) for as long as it liked (issue 14: 8 such connections still open after
70 s). Here each request has two deadlines, on the event loop (no thread per connection):

- `HEADER_SECONDS` from the connection (or from the end of the previous response on a
  kept-alive connection) to the end of the request head (request line and headers);
- `BODY_SECONDS` from the end of the head to the end of the body (the largest upload,
  11 MiB, needs ~94 KB/s to make it: a slow mobile line does).

A client that misses one gets its connection closed (a request whose head was complete
sees `http.disconnect`; nothing is recorded: a reply is written only once its form is
whole). Time the application spends answering is not counted. Idle kept-alive
connections are closed by uvicorn after `timeout_keep_alive` (5 s). docs/portal.md.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_SECONDS = 10.0
BODY_SECONDS = 120.0
PROTOCOL = "portal.server:TimedH11Protocol"  # uvicorn's `http=`: an import string


class TimedH11Protocol(H11Protocol):
    """H11Protocol whose request head and body must arrive within their deadlines."""

    header_seconds = HEADER_SECONDS
    body_seconds = BODY_SECONDS

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._phase: str | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._track()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._track()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._track()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def _track(self) -> None:
        """Arm the deadline of what the client is sending now: the head (a new or
        kept-alive connection awaiting a request), the body, or none while the
        application answers."""
        state = self.conn.their_state
        phase = "head" if state is h11.IDLE else "body" if state is h11.SEND_BODY else None
        if phase == self._phase:
            return
        self._cancel()
        self._phase = phase
        if phase is not None:
            seconds = self.header_seconds if phase == "head" else self.body_seconds
            self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.logger.info("Đóng kết nối quá chậm / closing a too slow connection (%s)",
                             self._phase)
            self.transport.close()
