"""A wave of outbox mail through SMTP (issues #4 and #6).

Set-up (not timed): a few hundred synthetic agreements are imported, ladder ticks are
fired on the days of the 2022 yearly requests and reminders, and their messages recorded
by `enqueue_fired`, stopping at exactly the number of messages asked for (a digest, all
of one recipient's items of one tick, is one message).

Timed: `send_pending` claims, renders and hands each message through the pooled
`SmtpNotifier` to an aiosmtpd server on loopback, which runs in a process of its own and
keeps the Message-ID of everything it accepts. Every expected Message-ID must arrive
exactly once and every outbox row must end `sent`.

Rows: one sender on SQLite; several sender processes at once over the same outbox on
PostgreSQL (issue #6: each message once, no lock error raised to the caller).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import socket
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as clock_time
from email.parser import BytesHeaderParser
from email.policy import compat32
from multiprocessing.connection import Connection
from pathlib import Path
from queue import Empty
from typing import Any

import sqlalchemy as sa

from benchmarks.core import NoPostgres, pg_schema, row
from benchmarks.synthetic import generate
from config.bootstrap import App, bootstrap
from config.settings import MailTransport, Settings
from core.calendar import local_instant
from models.migrate import upgrade
from models.outbox import message_id
from models.tables import OutboxMessage
from notifications.send import send_pending
from services.imports import import_many
from services.ladder import enqueue_fired, tick

Row = dict[str, Any]
TZ = "Asia/Ho_Chi_Minh"
# Days of the 2021-2025 agreements' 2022 ladder: requests of the yearly reports (due 10/12
# and 15/12), the quarterly Q4 request, reminders a week before and on the due date.
LADDER_DAYS = [date(2022, 11, 10), date(2022, 11, 15), date(2022, 12, 1), date(2022, 12, 3),
               date(2022, 12, 8), date(2022, 12, 10), date(2022, 12, 12), date(2022, 12, 15),
               date(2023, 1, 3), date(2023, 1, 10)]
IMPORTED_AT = datetime(2022, 11, 1, tzinfo=UTC)
SEND_AT = local_instant(date(2023, 1, 10), clock_time(9, 0), TZ)  # after every recorded tick
TARGET_SECONDS = 60.0
FULL = 10_000
# Never fork a process that runs threads (the caller may run an SMTP server or a progress
# display): children fork from a clean server process that has imported this module once.
PROCESSES = multiprocessing.get_context("forkserver")
PROCESSES.set_forkserver_preload([__name__])


def bench_app(url: str, data_dir: Path, smtp_port: int = 8025) -> App:
    """An App on `url` whose mail goes to the SMTP server on loopback at `smtp_port`."""
    settings = Settings(database_url=url, data_dir=data_dir,
                        mail=MailTransport(port=smtp_port),
                        portal_url="http://127.0.0.1:8600")
    return bootstrap(settings, clock=lambda: IMPORTED_AT)


def record(app: App, messages: int) -> int:
    """Import synthetic agreements and fire ladder days until `messages` are recorded; the
    last day's surplus (whole digests, the latest recorded) is deleted again.

    Returns the number of outbox rows (a digest has several rows, one per item).
    """
    import_many(app, list(generate(math.ceil(messages / 28) + 8)))
    c = OutboxMessage.__table__.c  # type: ignore[attr-defined]
    for day in LADDER_DAYS:
        now = local_instant(day, clock_time(8, 0), TZ)
        with app.session(write=True) as s:
            enqueue_fired(s, app, tick(s, app, now), now)
            digests = [d for d, in s.execute(sa.select(c.digest_key).group_by(c.digest_key)
                                              .order_by(sa.func.min(c.id)))]
            surplus = digests[messages:]
            for i in range(0, len(surplus), 500):
                s.execute(sa.delete(OutboxMessage.__table__).where(  # type: ignore[attr-defined]
                    c.digest_key.in_(surplus[i:i + 500])))
        if len(digests) >= messages:
            break
    with app.session() as s:
        rows, recorded, channels = s.execute(sa.select(
            sa.func.count(), sa.func.count(sa.distinct(c.digest_key)),
            sa.func.count(sa.distinct(c.channel)))).one()
    if recorded != messages or channels != 1:
        raise RuntimeError(f"recorded {recorded:,} e-mail messages, not {messages:,}")
    return int(rows)


def expected_keys(app: App) -> dict[str, list[str]]:
    """Every recorded message: its Message-ID and the outbox keys it carries (a digest's
    Message-ID is made from all its keys)."""
    c = OutboxMessage.__table__.c  # type: ignore[attr-defined]
    keys: dict[str, list[str]] = {}
    with app.session() as s:
        for key, digest in s.execute(sa.select(c.key, c.digest_key)):
            keys.setdefault(digest or key, []).append(key)
    return {message_id(k): sorted(k) for k in keys.values()}


def expected_ids(app: App) -> set[str]:
    return set(expected_keys(app))


def states(app: App) -> dict[str, int]:
    c = OutboxMessage.__table__.c  # type: ignore[attr-defined]
    with app.session() as s:
        return {r[0]: r[1] for r in s.execute(
            sa.select(c.state, sa.func.count()).group_by(c.state))}


@dataclass
class Delivery:
    """What the sink received against what was recorded."""

    expected: int
    received: int
    lost: int  # expected Message-IDs that never arrived
    duplicated: int  # arrivals beyond the first of a Message-ID
    unexpected: int  # Message-IDs nobody recorded (e.g. a digest split in two)

    @property
    def exact(self) -> bool:
        return self.lost == self.duplicated == self.unexpected == 0

    def __str__(self) -> str:
        extra = f", {self.unexpected:,} unexpected" if self.unexpected else ""
        return (f"sink got {self.received:,} mails, {self.expected - self.lost:,} of "
                f"{self.expected:,} Message-IDs: {self.lost} lost, {self.duplicated} "
                f"duplicated{extra}")


def compare(expected: set[str], received: list[str]) -> Delivery:
    counts = Counter(received)
    return Delivery(expected=len(expected), received=len(received),
                    lost=len(expected - counts.keys()),
                    duplicated=sum(n - 1 for n in counts.values()),
                    unexpected=len(counts.keys() - expected))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _KeepIds:
    """aiosmtpd handler: keeps the Message-ID of every accepted message (headers only)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._parser = BytesHeaderParser(policy=compat32)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        headers = self._parser.parsebytes(envelope.content)
        self.ids.append(str(headers["Message-ID"]).strip())
        return "250 Message accepted"


def _sink_main(conn: Connection) -> None:
    from aiosmtpd.controller import Controller

    handler = _KeepIds()
    for _attempt in range(5):  # another process may take the free port before we bind it
        controller = Controller(handler, hostname="127.0.0.1", port=free_port())
        try:
            controller.start()
            break
        except OSError:
            continue
    else:
        raise RuntimeError("no free port for the SMTP sink")
    cpu = time.process_time()
    conn.send(controller.port)
    conn.recv()  # stop
    controller.stop()
    conn.send((handler.ids, time.process_time() - cpu))


class SinkProcess:
    """An aiosmtpd server on loopback in a process of its own (the sender keeps its core)."""

    def __init__(self) -> None:
        self._conn, child = PROCESSES.Pipe()
        self._process = PROCESSES.Process(target=_sink_main, args=(child,), daemon=True)
        self._process.start()
        started = time.monotonic()
        while not self._conn.poll(0.2):
            if not self._process.is_alive() or time.monotonic() - started > 60:
                raise RuntimeError("the SMTP sink did not start")
        self.port: int = self._conn.recv()
        self.ids: list[str] = []
        self.cpu = 0.0  # CPU seconds the server spent while it listened

    def stop(self) -> list[str]:
        """Stop the server; the Message-IDs it accepted, in order."""
        if self._process.is_alive():
            self._conn.send("stop")
            self.ids, self.cpu = self._conn.recv()
            self._process.join(30)
        return self.ids


@contextmanager
def sink() -> Iterator[SinkProcess]:
    server = SinkProcess()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class SenderResult:
    worker: str
    sent: int
    messages: int
    errors: list[str]  # delivery errors the report counted
    cpu: float  # CPU seconds of the sender process while sending
    started: float  # wall clock (time.time()) when it started and finished sending
    finished: float
    raised: str | None = None  # what send_pending raised to its caller, if anything


def _sender_main(url: str, data_dir: str, port: int, at: datetime, worker: str,
                 barrier: Any, results: Any) -> None:
    """One sender process: the real `send_pending` over the shared outbox."""
    app = bench_app(url, Path(data_dir), port)
    with app.engine.connect():
        pass  # connected and imported before the start, which is timed
    barrier.wait()
    cpu, started = time.process_time(), time.time()
    try:
        report = send_pending(app, at, worker)
    except BaseException as exc:  # reported to the parent
        results.put(SenderResult(worker, 0, 0, [], time.process_time() - cpu, started,
                                 time.time(), "".join(traceback.format_exception(exc))))
        raise
    finally:
        app.engine.dispose()
    results.put(SenderResult(worker, report.sent, report.messages, report.errors,
                             time.process_time() - cpu, started, time.time()))


def run_senders(url: str, data_dir: Path, port: int, processes: int, at: datetime = SEND_AT
                ) -> tuple[list[SenderResult], float]:
    """`processes` sender processes released at once; their results and the wall seconds
    from the release until the last one finished."""
    barrier = PROCESSES.Barrier(processes + 1)
    queue = PROCESSES.Queue()
    workers = [PROCESSES.Process(target=_sender_main, daemon=True, args=(
        url, str(data_dir), port, at, f"sender-{i + 1}", barrier, queue))
        for i in range(processes)]
    for w in workers:
        w.start()
    try:
        barrier.wait(timeout=180)
        started = time.perf_counter()
        results: list[SenderResult] = []
        while len(results) < processes:
            try:
                results.append(queue.get(timeout=1))
            except Empty:
                if not any(w.is_alive() for w in workers) and queue.empty():
                    raise RuntimeError(f"{processes - len(results)} sender processes died "
                                       "without a result") from None
        seconds = time.perf_counter() - started
    finally:
        for w in workers:
            w.join(60)
            if w.is_alive():
                w.terminate()
    return sorted(results, key=lambda r: int(r.worker.rsplit("-", 1)[1])), seconds


def measure(url: str, directory: Path, messages: int, processes: int) -> Row:
    """Record `messages` into the migrated database at `url`, send them with `processes`
    sender processes at once, and check what the SMTP server received."""
    app = bench_app(url, directory)
    upgrade(app.engine)
    rows = record(app, messages)
    expected = expected_ids(app)
    with sink() as server:
        load = os.getloadavg()[0]
        results, seconds = run_senders(url, directory, server.port, processes)
        received = server.stop()
    delivery = compare(expected, received)
    left = sum(n for state, n in states(app).items() if state != "sent")
    app.engine.dispose()
    raised = [f"{r.worker}: {r.raised.strip().splitlines()[-1]}" for r in results if r.raised]
    errors = [e for r in results for e in r.errors]
    cpu = sum(r.cpu for r in results) / messages
    shares = "" if processes == 1 else ", per sender " + "/".join(
        str(r.messages) for r in results)
    figure = (f"{seconds:.1f} s, {messages / seconds:.0f} msg/s (CPU a message: "
              f"{cpu * 1000:.1f} ms sender, {server.cpu / messages * 1000:.1f} ms SMTP server"
              f"{shares}; load {load:.1f} before); {delivery}")
    figure += f"; {left:,} rows not sent" if left else ""
    figure += f"; raised: {raised[0]}" if raised else ""
    figure += f"; {len(errors)} delivery errors, e.g. {errors[0]}" if errors else ""
    return dict(row("", figure, "", delivery.exact and not (left or raised or errors)),
                rows=rows, seconds=seconds, lost=delivery.lost, duplicated=delivery.duplicated,
                unexpected=delivery.unexpected, unsent=left, raised=raised, errors=errors,
                shares=[r.messages for r in results])


def one_sender_sqlite(directory: Path, messages: int) -> Row:
    result = measure(f"sqlite:///{directory / 'mail.db'}", directory, messages, 1)
    result["benchmark"] = (f"mail: {messages:,} ladder messages ({result['rows']:,} outbox "
                           "rows) rendered and sent through SMTP, 1 sender, SQLite")
    if messages >= FULL:
        result["target"] = f"≤ {TARGET_SECONDS:.0f} s for {FULL:,}"
        result["ok"] = result["ok"] and result["seconds"] <= TARGET_SECONDS
    return result


def senders_postgres(directory: Path, messages: int, processes: int) -> Row:
    name = f"mail: {processes} senders at once on PostgreSQL, {messages:,} msgs"
    try:
        with pg_schema() as url:
            result = measure(url, directory, messages, processes)
    except NoPostgres as exc:
        return row(name, "no server: " + str(exc)[:60], "", None)
    result["benchmark"] = f"{name} ({result['rows']:,} outbox rows)"
    return result


def run(messages: int = FULL, processes: int = 8) -> list[Row]:
    """The single-sender wave on SQLite (the target), then `processes` senders on PostgreSQL."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "sqlite").mkdir()
        (directory / "pg").mkdir()
        return [one_sender_sqlite(directory / "sqlite", messages),
                senders_postgres(directory / "pg", messages, processes)]


__all__ = ["SEND_AT", "Delivery", "SenderResult", "SinkProcess", "bench_app", "compare",
           "expected_ids", "expected_keys", "measure", "record", "run", "run_senders", "states"]
