"""Delivery under faults (issue #6, items 1, 3 and 7): the long versions of
tests/integration/test_delivery_faults.py and tests/integration/test_sqlite_kill.py.

- The sender killed -9 at seeded random moments: a process that fires a ladder day, records
  its messages and sends them to a slow aiosmtpd server on loopback is killed after a
  random delay; a clean run then finishes the day. Nothing may be lost; a message received
  twice must belong to rows that went through `unknown` (the sender died between the
  server's acceptance and our record of it).
- SQLite writers killed -9 at seeded random moments while recording replies: afterwards
  `PRAGMA integrity_check` is ok and every commit the writer acknowledged is there.
- The sender's PostgreSQL connections terminated (`pg_terminate_backend` from another
  connection) at seeded random moments while it sends: a server restart as the client
  sees it (the shared server itself is not restarted). The sender reconnects or fails
  with a database error; twice the lease later no row is left claimed and nothing is lost.
- The Prefect server and the worker restarted 20 times (kill -9 or SIGTERM) at seeded random
  moments inside a window of ladder days run by a real worker: the database ends as the
  same window run undisturbed (tests/fault_restarts.py).
- The mail server black-holed (it accepts connections and never answers, or answers the
  greeting and stalls, or trickles a byte at a time) for more rounds than `send_retries`,
  then back: each round ends within one send deadline, nothing is given up, all is sent.

Kill tests run their processes as children of a fork server (tests/fault_forker.py) that
has imported the program once: a fresh interpreter would spend seconds importing.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from benchmarks.core import PG_URL, pg_schema, row
from config.bootstrap import App, bootstrap
from config.settings import MailTransport, Settings
from core.calendar import WorkCalendar, local_instant
from core.expand import expand
from core.ladder import simulate
from core.parse import load_agreement
from models.migrate import upgrade
from models.outbox import message_id
from models.tables import FiredStep, Obligation, OutboxMessage
from notifications.send import send_pending
from services import ladder as ladder_work
from services.imports import import_many
from tests.fault_servers import StallingServer
from tests.smtp_sink import SmtpServer

Row = dict[str, Any]
ROOT = Path(__file__).resolve().parent.parent
QT = ROOT.parent / "shared" / "examples" / "quang-tri-2021-2025.yaml"
TZ = "Asia/Ho_Chi_Minh"
REGISTERED = local_instant(date(2022, 6, 1), clock_time(0, 0), TZ)
LEASE = 60.0  # seconds (of the runs' clock): a clean run comes LEASE + 1 s after a killed one


def agreements() -> list[tuple[str, bytes]]:
    """Quảng Trị and two variants (other codes, addresses and due dates): 206 ladder days in
    2022-2025 with ~13 messages each, so every trial has a day of fresh messages."""
    text = QT.read_text()

    def variant(tag: str, yearly: str, half: str, review: str) -> str:
        return (text.replace("QT-KHKT-2021-2025", f"{tag}-KHKT-2021-2025")
                .replace(".quangtri.example", f".{tag.lower()}.quangtri.example")
                .replace('due: "12-15"', f'due: "{yearly}"')
                .replace('due: "+15d"', f'due: "{half}"')
                .replace('  due: "12-20"', f'  due: "{review}"'))

    texts = [text, variant("QTB", "12-05", "+25d", "12-12"),
             variant("QTC", "11-25", "+5d", "12-02")]
    return [(f"agreement-{i}.yaml", t.encode()) for i, t in enumerate(texts)]


def ladder_days(files: list[tuple[str, bytes]], until: date = date(2025, 12, 31)
                ) -> Counter[datetime]:
    """The ladder's instants (steps fired at each), from the pure simulation."""
    calendar = WorkCalendar()
    steps: Counter[datetime] = Counter()
    for name, raw in files:
        agreement, errors = load_agreement(raw, name)
        assert agreement is not None, errors
        steps.update(e.at for e in simulate(expand(agreement, calendar), calendar, until,
                                            REGISTERED).events)
    return steps


def make_app(url: str, directory: Path, smtp_port: int = 8025, timeout: float = 20.0,
             **settings: Any) -> App:
    return bootstrap(Settings(database_url=url, data_dir=directory,
                              mail=MailTransport(port=smtp_port, timeout_seconds=timeout),
                              lease_seconds=LEASE,
                              portal_url="http://127.0.0.1:8600", **settings),
                     clock=lambda: REGISTERED)


def registered(url: str, directory: Path) -> App:
    """A migrated database at `url` with the three agreements registered on 01/06/2022."""
    app = make_app(url, directory)
    upgrade(app.engine)
    import_many(app, agreements())
    return app


# --- the fork server ----------------------------------------------------------------------

@dataclass
class Ended:
    code: int  # exit code; -9: killed
    killed: bool  # the kill was sent before the child ended by itself
    said: list[str]  # what the child printed, in order
    seconds: float  # from the request to the end


class Forker:
    """tests/fault_forker.py in a process of its own; each task runs in a child of it."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.fault_forker"], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     bufsize=1)
        self._cond = threading.Condition()
        self._started: list[int] = []
        self._ended: dict[int, tuple[int, bool]] = {}
        self._said: dict[int, list[str]] = defaultdict(list)
        self._closed = False
        self.strays: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            head, _, rest = line.rstrip("\n").partition(" ")
            with self._cond:
                try:
                    if head == "started":
                        self._started.append(int(rest))
                    elif head == "ended":
                        pid, code, killed = rest.split()
                        self._ended[int(pid)] = (int(code), killed == "1")
                    else:
                        self._said[int(head)].append(rest)
                except ValueError:
                    self.strays.append(line)  # a line nobody should have written
                self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def run(self, task: dict[str, Any], timeout: float = 180) -> Ended:
        """Run `task` in a child (killed after task["kill_after"] seconds, if given)."""
        assert self.proc.stdin is not None
        started = time.monotonic()
        self.proc.stdin.write(json.dumps(task) + "\n")
        self.proc.stdin.flush()
        with self._cond:
            if not self._cond.wait_for(lambda: self._started or self._closed, timeout):
                raise TimeoutError("the fork server started nothing")
            if not self._started:
                raise RuntimeError("the fork server ended")
            pid = self._started.pop(0)
            if not self._cond.wait_for(lambda: pid in self._ended or self._closed, timeout):
                raise TimeoutError(f"task {task['task']} did not end in {timeout} s")
            code, killed = self._ended.pop(pid)
            return Ended(code, killed, self._said.pop(pid, []), time.monotonic() - started)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@contextmanager
def forker() -> Iterator[Forker]:
    server = Forker()
    try:
        yield server
    finally:
        server.close()


# --- the sender killed -9 -----------------------------------------------------------------

@dataclass
class SenderKills:
    trials: int = 0
    killed: int = 0  # runs the kill reached before they ended by themselves
    landed: Counter[str] = field(default_factory=Counter)  # where the kills landed
    rows: int = 0  # outbox rows recorded
    messages: int = 0  # distinct messages (Message-IDs) recorded
    received: int = 0  # messages the server accepted, duplicates included
    lost: int = 0  # Message-IDs never received, rows not `sent`, steps never fired
    duplicates: int = 0  # receptions beyond the first of a Message-ID
    explained: int = 0  # of those, of rows that went through `unknown`
    unknown: int = 0  # leases found run out by the clean runs
    steps: int = 0  # ladder steps fired
    expected_steps: int = 0  # by the pure simulation of the same days
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    a_step: float = 0.0  # seconds a ladder step costs a run, the median of whole runs (a
    # kill comes after a uniform random delay over the run's length so estimated)

    @property
    def ok(self) -> bool:
        return (not self.problems and self.lost == 0 and self.duplicates == self.explained
                and self.steps == self.expected_steps and self.messages > 0)


def sender_kills(trials: int, seed: int, directory: Path, delay: float = 0.03) -> SenderKills:
    """`trials` ladder days, each: a run killed -9 after a seeded random delay, then a clean
    run LEASE + 1 s later (by the runs' clock) that finishes the day."""
    started = time.perf_counter()
    rng = random.Random(seed)
    url = f"sqlite:///{directory / 'sender.db'}"
    app = registered(url, directory)
    steps = ladder_days(agreements())
    first, *days = sorted(steps)[:trials + 1]
    if len(days) < trials:
        raise ValueError(f"{trials} trials asked for, the ladder has {len(days)} days")
    result = SenderKills(trials=trials)
    with SmtpServer() as smtp, forker() as server:
        smtp.sink.delay = delay  # a slow server: kills land mid-exchange
        base = {"task": "send", "database_url": url, "data_dir": str(directory),
                "smtp_port": smtp.port, "lease_seconds": LEASE}
        # calibration: a run's fixed cost (nothing due; the first tick since the import
        # does more, so twice) and its cost a step (the first day, not killed)
        for minute in (1, 2):
            idle = server.run({**base, "worker": "calibration", "at": (
                REGISTERED + timedelta(minutes=minute)).isoformat()})
        full = server.run({**base, "at": first.isoformat(), "worker": "calibration"})
        if idle.code != 0 or full.code != 0:
            raise RuntimeError(f"calibration runs ended {idle.code}, {full.code}")
        # seconds a step, from every run that did a whole day (the load changes)
        per_step = [max(0.0, full.seconds - idle.seconds) / steps[first]]
        for i, at in enumerate(days):
            fired_before = _count(app, FiredStep)
            horizon = idle.seconds + steps[at] * statistics.median(per_step)  # ~ the run
            killed = server.run({**base, "at": at.isoformat(), "worker": f"killed-{i}",
                                 "kill_after": rng.uniform(0.0, horizon)})
            result.killed += killed.killed
            landing = _landing(app, killed, fired_before)
            result.landed[landing] += 1
            clean = server.run({**base, "at": (at + timedelta(seconds=LEASE + 1)).isoformat(),
                                "worker": f"clean-{i}"})
            whole = {"after the run had ended": killed, "before the tick committed": clean}
            if landing in whole:
                per_step.append(max(0.0, whole[landing].seconds - idle.seconds) / steps[at])
            reports = [json.loads(s.removeprefix("report ")) for s in clean.said
                       if s.startswith("report ")]
            if clean.code != 0 or not reports:
                result.problems.append(f"{at:%d/%m/%Y}: the clean run ended {clean.code}")
                continue
            result.unknown += reports[0]["unknown"]
        received = Counter(str(m["Message-ID"]) for m in smtp.sink.messages)
        result.problems += [f"stray output: {s!r}" for s in server.strays]
    _judge(app, result, received)
    result.expected_steps = sum(n for at, n in steps.items() if at <= days[-1])
    result.a_step = statistics.median(per_step)
    result.seconds = time.perf_counter() - started
    app.engine.dispose()
    return result


def _count(app: App, model: Any) -> int:
    with app.session() as s:
        return int(s.exec(select(sa.func.count()).select_from(model)).one())


def _landing(app: App, run: Ended, fired_before: int) -> str:
    """Where a kill landed, read from the database it left."""
    if not run.killed:
        return "after the run had ended"
    with app.session() as s:
        states = Counter(s.exec(select(OutboxMessage.state).where(
            col(OutboxMessage.state) != "sent")))
    if states["claimed"]:
        return "mid-send (claims held)"
    if states["pending"]:
        return "after the tick, before a claim"
    if _count(app, FiredStep) == fired_before:
        return "before the tick committed"
    return "after the last send was recorded"


def _judge(app: App, result: SenderKills, received: Counter[str]) -> None:
    """Every recorded message received, every row sent; duplicates only through `unknown`."""
    with app.session() as s:
        rows = list(s.exec(select(OutboxMessage)))
        result.steps = int(s.exec(select(sa.func.count()).select_from(FiredStep).where(
            FiredStep.outcome == "fired")).one())
    groups: dict[str, list[OutboxMessage]] = defaultdict(list)
    for r in rows:
        groups[r.digest_key or r.key].append(r)
    expected = {message_id(r.key for r in group): group for group in groups.values()}
    result.rows, result.messages = len(rows), len(expected)
    result.received = sum(received.values())
    unsent = [r for r in rows if r.state != "sent"]
    result.lost = len(set(expected) - set(received)) + len(unsent)
    if set(received) - set(expected):
        result.problems.append(f"{len(set(received) - set(expected))} Message-IDs received "
                               "that no row carries")
    for mid, count in received.items():
        if count > 1:
            result.duplicates += count - 1
            if all("unknown" in (r.last_error or "") for r in expected.get(mid, [])):
                result.explained += count - 1


# --- SQLite writers killed -9 -------------------------------------------------------------

@dataclass
class WriterKills:
    trials: int = 0
    killed: int = 0
    commits: int = 0  # acknowledged commits
    replies: int = 0  # replies in them
    missing: int = 0  # acknowledged replies absent or changed
    unacknowledged: int = 0  # replies committed, the kill landing before the acknowledgement
    in_transaction: int = 0  # kills after a transaction began, before its acknowledgement
    integrity: Counter[str] = field(default_factory=Counter)  # integrity_check's answers
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (not self.problems and self.missing == 0 and self.commits > 0
                and set(self.integrity) == {"ok"} and self.killed == self.trials)


def sqlite_kills(trials: int, seed: int, directory: Path, longest: float = 0.6
                 ) -> WriterKills:
    """`trials` writer processes recording replies, each killed -9 after a seeded random
    delay (up to `longest` seconds); after each, the database is checked."""
    started = time.perf_counter()
    rng = random.Random(seed)
    path = directory / "writes.db"
    app = make_app(f"sqlite:///{path}", directory)
    upgrade(app.engine)
    import_many(app, agreements()[:1])
    with app.session() as s:
        keys = sorted(s.exec(select(Obligation.key).where(Obligation.status == "open")))
    app.engine.dispose()
    result = WriterKills(trials=trials)
    at = local_instant(date(2022, 7, 1), clock_time(9, 0), TZ)
    with forker() as server:
        for i in range(trials):
            run = server.run({"task": "write", "database_url": f"sqlite:///{path}",
                              "data_dir": str(directory), "seed": seed * 10_000 + i,
                              "obligations": keys, "at": at.isoformat(),
                              "kill_after": rng.uniform(0.05, longest)})
            result.killed += run.killed and run.code == -9
            if run.code not in (-9, 0):
                result.problems.append(f"writer {i} ended {run.code}")
            acked = [a.split(":") for s in run.said if s.startswith("ack ")
                     for a in s.split()[1:]]
            result.commits += sum(s.startswith("ack ") for s in run.said)
            result.in_transaction += bool(run.said) and run.said[-1].startswith("begin ")
            result.replies += len(acked)
            with sqlite3.connect(path) as db:  # recovers the WAL the writer left
                result.integrity[db.execute("PRAGMA integrity_check").fetchone()[0]] += 1
                present = {(str(r), str(v), str(p)) for r, v, p in db.execute(
                    "SELECT id, version, percent FROM reply WHERE submission LIKE ?",
                    (f"{seed * 10_000 + i}-%",))}
            db.close()
            result.missing += len({tuple(a) for a in acked} - present)
            result.unacknowledged += len(present) - len(acked)
        result.problems += [f"stray output: {s!r}" for s in server.strays]
    result.seconds = time.perf_counter() - started
    return result


# --- PostgreSQL backends terminated -------------------------------------------------------

@dataclass
class Terminations:
    trials: int = 0
    terminated: int = 0  # sender backends terminated
    errors: Counter[str] = field(default_factory=Counter)  # what the sender raised
    claimed_after: int = 0  # rows still `claimed` after twice the lease
    messages: int = 0
    lost: int = 0
    duplicates: int = 0
    explained: int = 0
    unknown: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def clean_errors(self) -> bool:
        """The sender only ever failed with a database connection error."""
        return set(self.errors) <= {"OperationalError"}

    @property
    def ok(self) -> bool:
        return (not self.problems and self.clean_errors and self.claimed_after == 0
                and self.lost == 0 and self.duplicates == self.explained and self.messages > 0)


def sender_backends(admin: sa.Engine, name: str) -> list[int]:
    with admin.connect() as c:
        return list(c.execute(sa.text("SELECT pid FROM pg_stat_activity WHERE "
                                      "application_name = :n"), {"n": name}).scalars())


def terminate(admin: sa.Engine, name: str) -> int:
    """`pg_terminate_backend` every connection of the sender: a restart, from its side."""
    with admin.connect() as c:
        return len(c.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = :n"), {"n": name}).all())


def pg_terminations(trials: int, seed: int, directory: Path, url: str, delay: float = 0.005,
                    terminations: int = 3, disturb: Callable[[sa.Engine, str], int] | None = None
                    ) -> Terminations:
    """`trials` ladder days on PostgreSQL at `url` (an empty schema): the day is fired, then
    sent by a sender whose connections are terminated `terminations` times at seeded random
    moments while it sends; a send twice the lease later finishes it. `disturb` replaces
    the termination (`restart_postgres`: the server itself restarted)."""
    started = time.perf_counter()
    rng = random.Random(seed)
    name = f"phoihop-sender-{uuid.uuid4().hex[:8]}"
    app = registered(url, directory)
    steps = ladder_days(agreements())
    days = sorted(steps)[:trials]
    admin = sa.create_engine(url)
    result = Terminations(trials=trials)
    with SmtpServer() as smtp:
        smtp.sink.delay = delay
        sender = make_app(f"{url}&application_name={name}", directory, smtp.port)
        mailer = make_app(url, directory, smtp.port)
        for i, at in enumerate(days):
            ladder_work.fire_steps(mailer, at)
            span = 0.05 + steps[at] * (delay + 0.01)  # ~ the time the sender takes
            moments = sorted(rng.uniform(0.0, span) for _ in range(terminations))
            killer = threading.Thread(target=_terminate_at, args=(
                admin, name, moments, result, disturb or terminate))
            killer.start()
            try:
                send_pending(sender, at, worker=f"sender-{i}")
            except Exception as exc:
                result.errors[type(exc).__name__] += 1
                if not isinstance(exc, DBAPIError):
                    result.problems.append(f"{at:%d/%m/%Y}: {type(exc).__name__}: {exc}")
            killer.join()
            later = at + timedelta(seconds=2 * LEASE)
            report = send_pending(mailer, later, worker=f"after-{i}")
            result.unknown += report.unknown
            with mailer.session() as s:
                result.claimed_after += int(s.exec(select(sa.func.count()).select_from(
                    OutboxMessage).where(OutboxMessage.state == "claimed")).one())
        received = Counter(str(m["Message-ID"]) for m in smtp.sink.messages)
        for a in (sender, mailer):
            a.engine.dispose()
    judged = SenderKills()
    _judge(app, judged, received)
    result.messages, result.lost = judged.messages, judged.lost
    result.duplicates, result.explained = judged.duplicates, judged.explained
    result.problems += judged.problems
    admin.dispose()
    app.engine.dispose()
    result.seconds = time.perf_counter() - started
    return result


def _terminate_at(admin: sa.Engine, name: str, moments: list[float],
                  result: Terminations, disturb: Callable[[sa.Engine, str], int]) -> None:
    began = time.monotonic()
    for moment in moments:
        time.sleep(max(0.0, began + moment - time.monotonic()))
        result.terminated += disturb(admin, name)


def _pg_restart_reason() -> str | None:
    """Why this machine's PostgreSQL server cannot be restarted here, or None."""
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        return "no pg_ctlcluster (Debian's PostgreSQL) on this machine"
    if os.geteuid() != 0:
        return "restarting the server needs root"
    return _pg_reason()


def restart_postgres(_admin: sa.Engine | None = None, _name: str = "") -> int:
    """Restart the local PostgreSQL server itself (`pg_ctlcluster … restart -m fast`): every
    backend ends at once and new connections are refused until it is back. Every client
    of that server sees it: the benchmark does it, the test suite does not."""
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart",
                    "-m", "fast"], check=True, capture_output=True, timeout=120)
    return 1


# --- black-holed, then back ---------------------------------------------------------------

@dataclass
class BlackHole:
    rows: int = 0  # outbox rows waiting
    rounds: int = 0
    attempts: int = 0  # connections the stalled servers accepted
    longest: float = 0.0  # the longest round, seconds
    deadline: float = 0.0
    dead: int = 0
    sent: int = 0  # rows sent once the server was back
    messages: int = 0  # messages the server received then (a digest is one)
    drain_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.dead == 0 and self.sent == self.rows > 0 and \
            self.longest <= self.deadline + 1.5


def black_hole(directory: Path, days: int = 8, deadline: float = 2.0) -> BlackHole:
    """The messages of `days` ladder days, sent while the mail server stalls (silent,
    greeting then silence, trickling) for send_retries + 1 rounds, then to a real one."""
    app = registered(f"sqlite:///{directory / 'blackhole.db'}", directory)
    at = REGISTERED
    for day in sorted(ladder_days(agreements()))[:days]:
        at = day
        ladder_work.fire_steps(app, at)
    result = BlackHole(rows=_count(app, OutboxMessage), deadline=deadline)
    modes = ["silent", "greet", "trickle"]
    for n in range(app.settings.send_retries + 1):
        with StallingServer(modes[n % 3]) as server:
            stalled = make_app(app.settings.db_url, directory, server.port,
                               timeout=deadline / 2, send_deadline_seconds=deadline)
            began = time.perf_counter()
            report = send_pending(stalled, at, worker=f"round-{n}")
            result.longest = max(result.longest, time.perf_counter() - began)
            result.attempts += server.accepted
            result.dead += report.dead
            stalled.engine.dispose()
        result.rounds += 1
        with app.session() as s:
            at = max(s.exec(select(OutboxMessage.next_attempt_at)))
    with SmtpServer() as smtp:
        back = make_app(app.settings.db_url, directory, smtp.port)
        began = time.perf_counter()
        result.sent = send_pending(back, at, "back").sent
        result.drain_seconds = time.perf_counter() - began
        result.messages = len(smtp.sink.messages)
        back.engine.dispose()
    app.engine.dispose()
    return result


# --- the Prefect server and worker restarted inside a run window ---------------------------

def restarts_row(directory: Path, days: int = 24, restarts: int = 20,
                 seed: int = 20261209) -> Row:
    """`days` ladder days through a real Prefect server, worker and process work pool, run
    undisturbed, then again with `restarts` restarts of the server or the worker (kill -9
    or SIGTERM) at seeded random moments over the undisturbed window's length
    (tests/fault_restarts.py); both databases must equal the same days run in-process."""
    from tests.fault_restarts import run_window, undisturbed

    plain = undisturbed(directory / "plain", days)
    slow = 0.3  # seconds the mail server takes a message: runs last, restarts land in them
    calm = run_window(directory / "calm", days, delay=slow)
    hit = run_window(directory / "hit", days, restarts, seed, delay=slow,
                     span=0.9 * calm.window_seconds, heartbeat=30, zombies_wait=240)
    kinds = Counter(f"{r.target} {r.how}" for r in hit.restarts)
    inside = sum(r.at <= hit.window_seconds for r in hit.restarts)
    busy = sum(r.busy > 0 for r in hit.restarts)
    j = hit.judged
    differs = hit.differences(calm) + calm.differences(plain)
    ok = (not differs and len(hit.restarts) == restarts == inside and j.lost == 0
          and not j.problems and j.duplicates == j.explained and hit.days == calm.days
          and hit.steps == calm.steps == hit.expected_steps > 0)
    states = ", ".join(f"{n} {s.lower()}" for s, n in hit.runs.most_common())
    return row(
        f"Prefect server and worker restarted {len(hit.restarts)}× inside a run window: "
        f"{len(hit.days)} ladder days, SQLite, slow SMTP",
        f"restarts {', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}; {inside} "
        f"inside the window, {busy} while a flow run was running; runs: {states} (lost: "
        f"its process died, Prefect left it Running/Pending; {hit.crashed_later} of them "
        f"marked Crashed by the missed-heartbeat automation, {hit.still_lost} not: died "
        f"Pending or before a heartbeat); {hit.catch_ups} catch-up "
        f"sweeps; worker exited by itself {hit.worker_exits}×; steps {hit.steps} of "
        f"{hit.expected_steps} predicted; {j.messages} messages, {j.received} received, "
        f"{j.lost} lost, {j.duplicates} duplicates ({j.explained} through `unknown`); "
        f"database {'identical to' if not differs else 'DIFFERS from'} the undisturbed run "
        f"({calm.window_seconds:.0f} s window; {hit.window_seconds:.0f} s disturbed; "
        f"{hit.seconds + calm.seconds:.0f} s in all)" + (f"; {differs[:2]}" if differs else ""),
        "database identical; every step once; 0 lost; duplicates through `unknown`", ok)


# --- the table ----------------------------------------------------------------------------

def _pg_reason() -> str | None:
    try:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as c:
            c.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # the reason goes into the row
        return str(exc).splitlines()[0]


def run(sender_trials: int = 120, writer_trials: int = 200, pg_trials: int = 40,
        pg_restarts: int = 5) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for sub in ("kill", "write", "pg", "pg-restart", "hole", "restarts"):
            (d / sub).mkdir()
        k = sender_kills(sender_trials, 20261206, d / "kill")
        landed = ", ".join(f"{n} {where}" for where, n in k.landed.most_common())
        rows.append(row(
            f"sender killed -9 at random: {k.trials} ladder days, SQLite, slow SMTP",
            f"{k.messages:,} messages ({k.rows:,} rows), {k.lost} lost, {k.duplicates} "
            f"duplicates of which {k.explained} through `unknown` ({k.unknown} leases ran "
            f"out); steps fired {k.steps:,} of {k.expected_steps:,}; kills: {landed}; "
            f"{k.seconds:.0f} s" + (f"; {k.problems[:3]}" if k.problems else ""),
            "0 lost; every duplicate through `unknown`", k.ok))
        w = sqlite_kills(writer_trials, 20261207, d / "write")
        rows.append(row(
            f"SQLite writer killed -9 at random: {w.trials} kills",
            f"{w.commits:,} acknowledged commits ({w.replies:,} replies), {w.missing} "
            f"missing, {w.unacknowledged} committed unacknowledged; {w.in_transaction} "
            f"kills between a BEGIN and its acknowledgement; integrity_check "
            f"{dict(w.integrity)}; {w.seconds:.0f} s" + (f"; {w.problems[:3]}"
                                                         if w.problems else ""),
            "integrity ok; 0 missing", w.ok))
        reason = _pg_reason()
        if reason is not None:
            rows.append(row("PostgreSQL backends terminated mid-batch",
                            f"no server: {reason}", "", None))
        else:
            with pg_schema("rel") as url:
                t = pg_terminations(pg_trials, 20261208, d / "pg", url)
            rows.append(row(
                f"PostgreSQL sender's backends terminated at random (a restart seen from "
                f"the client): {t.trials} ladder days",
                f"{t.terminated} backends terminated, the sender raised "
                f"{', '.join(f'{n} {e}' for e, n in t.errors.items()) or 'nothing'}; "
                f"{t.claimed_after} claimed after 2× lease; {t.messages:,} messages, "
                f"{t.lost} lost, {t.duplicates} duplicates ({t.explained} through "
                f"`unknown`); {t.seconds:.0f} s" + (f"; {t.problems[:3]}"
                                                   if t.problems else ""),
                "0 claimed, 0 lost; clean errors", t.ok))
        reason = _pg_restart_reason()
        if reason is not None:
            rows.append(row("PostgreSQL server restarted mid-batch", f"not run: {reason}", "",
                            None))
        else:
            with pg_schema("rel") as url:
                r = pg_terminations(pg_restarts, 20261209, d / "pg-restart", url, delay=0.05,
                                    terminations=1, disturb=restart_postgres)
            rows.append(row(
                f"PostgreSQL server restarted mid-batch (pg_ctlcluster restart -m fast): "
                f"{r.trials} ladder days, one restart each",
                f"{r.terminated} restarts, the sender raised "
                f"{', '.join(f'{n} {e}' for e, n in r.errors.items()) or 'nothing'}; "
                f"{r.claimed_after} claimed after 2× lease; {r.messages:,} messages, "
                f"{r.lost} lost, {r.duplicates} duplicates ({r.explained} through "
                f"`unknown`); {r.seconds:.0f} s" + (f"; {r.problems[:3]}"
                                                   if r.problems else ""),
                "0 claimed, 0 lost; clean errors", r.ok))
        b = black_hole(d / "hole")
        rows.append(row(
            f"SMTP black-holed for {b.rounds} rounds (> send_retries), then back",
            f"{b.rows:,} rows; longest round {b.longest:.1f} s (deadline "
            f"{b.deadline:g} s), {b.attempts} attempts in all, {b.dead} dead; back: "
            f"{b.sent:,} rows ({b.messages:,} messages) sent in {b.drain_seconds:.1f} s",
            "a round ≤ deadline + 1.5 s; 0 dead; all sent", b.ok))
        rows.append(restarts_row(d / "restarts"))
    return rows


__all__ = ["BlackHole", "Forker", "SenderKills", "Terminations", "WriterKills",
           "agreements", "black_hole", "forker", "ladder_days", "pg_schema",
           "pg_terminations", "registered", "restart_postgres", "restarts_row", "run",
           "sender_backends", "sender_kills", "sqlite_kills", "terminate"]
