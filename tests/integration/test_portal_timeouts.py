"""Slow clients are cut off: raw sockets on loopback against the portal served by uvicorn
with `portal.server.TimedH11Protocol` (silent connections, a head or a body trickled a
byte at a time), 8 of each at once; normal requests still answered. The limits are the
production ones scaled down (1 s / 2 s for 10 s / 120 s) so the test ends in seconds;
one check runs the real `phoihop portal` process with its own limits."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from portal.app import create_app
from portal.server import HEADER_SECONDS, TimedH11Protocol
from tests.smtp_sink import free_port


class QuickLimits(TimedH11Protocol):
    header_seconds = 1.0
    body_seconds = 2.0


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    """The portal on SQLite (the protocol is the database's concern nowhere)."""
    from config.bootstrap import bootstrap
    from config.settings import Settings
    from models.migrate import upgrade

    app = bootstrap(Settings(data_dir=tmp_path / "data"))
    upgrade(app.engine)
    port = free_port()
    config = uvicorn.Config(create_app(app), host="127.0.0.1", port=port, http=QuickLimits,
                            log_level="warning", access_log=False, lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started
    yield port
    srv.should_exit = True
    thread.join(timeout=10)
    app.engine.dispose()


def _closed_after(sock: socket.socket, trickle: bytes, every: float, limit: float) -> float:
    """Send `trickle` a byte every `every` s; the seconds until the server closed (or
    `limit`, if it never did)."""
    started = time.monotonic()
    sock.settimeout(every)
    i = 0
    while time.monotonic() - started < limit:
        try:
            if i < len(trickle):
                sock.send(trickle[i:i + 1])
                i += 1
            if sock.recv(4096) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - started
    return limit


def _many(port: int, opening: bytes, trickle: bytes, limit: float) -> list[float]:
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
    for s in socks:
        s.sendall(opening)
    results: list[float] = [0.0] * len(socks)

    def run(i: int) -> None:
        results[i] = _closed_after(socks[i], trickle, 0.2, limit)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(socks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in socks:
        s.close()
    return results


def _get(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /r/" + b"A" * 43 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def test_slow_heads_and_bodies_are_cut_off(server: int):
    long_head = b"X-Slow: " + b"a" * 200 + b"\r\n"
    silent = _many(server, b"", b"", 6)
    heads = _many(server, b"GET /r/x HTTP/1.1\r\nHost: x\r\n", long_head, 6)
    body = b"POST /r/" + b"A" * 43 + b" HTTP/1.1\r\nHost: x\r\n" \
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 500\r\n\r\n"
    bodies = _many(server, body, b"s" * 500, 8)
    print(f"closed after: silent {max(silent):.1f} s, head {max(heads):.1f} s, "
          f"body {max(bodies):.1f} s")
    assert all(0.8 <= t <= 2.5 for t in silent), silent
    assert all(0.8 <= t <= 2.5 for t in heads), heads
    assert all(1.8 <= t <= 3.5 for t in bodies), bodies
    assert _get(server).startswith(b"HTTP/1.1 404")  # the portal still answers


def test_a_kept_alive_connection_serves_a_prompt_second_request(server: int):
    with socket.create_connection(("127.0.0.1", server), timeout=5) as s:
        for _ in range(2):
            s.sendall(b"GET /r/" + b"A" * 43 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                data += s.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            while len(body) < length:
                body += s.recv(65536)
            assert head.startswith(b"HTTP/1.1 404"), head[:100]
            time.sleep(0.6)  # less than the head limit between requests


def test_the_real_portal_process_cuts_a_silent_connection(tmp_path: Path):
    port = free_port()
    env = {**os.environ, "PHOIHOP_DATA_DIR": str(tmp_path / "data")}
    env.pop("PHOIHOP_DATABASE_URL", None)
    env.pop("PHOIHOP_CONFIG", None)
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "portal", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
        took = _closed_after(sock, b"GET / HTTP/1.1\r\n", 0.5, HEADER_SECONDS + 5)
        sock.close()
        assert HEADER_SECONDS - 0.5 <= took <= HEADER_SECONDS + 2, took
    finally:
        proc.terminate()
        proc.wait(timeout=20)
