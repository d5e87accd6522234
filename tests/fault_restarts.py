"""A run window with the Prefect server and the worker restarted at seeded random moments
(issue #6 item 6), and the same window undisturbed: the phoihop database must end the same.

The real thing, on one machine: a local Prefect server (`flows.local.LocalStack`, its own
SQLite database, restarted on the same port and database so it resumes), the four
deployments, a `process` work pool and one worker, a phoihop SQLite database with the
Quảng Trị agreement and two variants, and a slow aiosmtpd server on loopback keeping every
message (and so every Message-ID) it accepts.

The clock. Ladder days are months apart in 2022; here they follow each other as soon as the
previous one is done, as days do. Each day, the runs `sync` plans for it
(`flows.sync.planned_runs`, from the database as it stands: same names, tags, parameters and
idempotency keys as sync gives them) are created scheduled for now, and the worker runs
them (`at` is the ladder's instant; sending is on the wall clock, as always). The deployments'
own cron schedules (the daily sweep and sync, on the wall clock of 2026) are switched off.

The faults. At seeded random moments over the window, the server or the worker is
stopped, by `kill -9` (the worker with every process it started: its machine died) or by
SIGTERM (Prefect's own shutdown), then started again at once. A run whose process died
is not retried by Prefect; it stays `Running` or `Pending` in Prefect's view (see
`lost`). The day is over when each of its runs is final or lost; if one did not complete,
the catch-up sweep (the `sweep` deployment, for that day's instant: what `phoihop up`
runs at start-up and the daily sweep does) does the missed work, as a Prefect run too,
again if a restart hits it. After the last day, once the claims' lease has run out, a final
sweep sends what a killed run left claimed.

Run twice, with and without restarts, the database dumps (`dump`) must be equal, every
step the pure simulation predicts fired once, every message received, a duplicate only
from a row that went through `unknown`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

from sqlmodel import select

from benchmarks.reliability import REGISTERED, SenderKills, _judge, agreements, ladder_days
from config.bootstrap import App, bootstrap
from config.settings import Settings, load_settings
from models.migrate import upgrade
from models.tables import Contact, FiredStep, Link, Obligation, OutboxMessage, Reply, Review
from services.imports import import_many
from tests.smtp_sink import SmtpServer, free_port

T = TypeVar("T")
LEASE = 3.0  # seconds: a killed run's claims are taken over this long after
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
HORIZON = 400  # days sync looks ahead for the next ladder day (gaps reach 101 days)
LOST_AFTER = 4.0  # seconds a Running/Pending run has had no process before it counts lost


@dataclass
class Restart:
    at: float  # seconds into the window
    target: str  # server | worker
    how: str  # SIGKILL | SIGTERM
    busy: int = 0  # flow-run processes alive when it landed
    down: float = 0.0  # seconds from the signal to the restarted process answering


@dataclass
class Window:
    days: list[datetime] = field(default_factory=list)
    restarts: list[Restart] = field(default_factory=list)
    runs: Counter[str] = field(default_factory=Counter)  # final Prefect state of each run
    lost: int = 0  # runs whose process died: left Running/Pending by Prefect
    crashed_later: int = 0  # of those, marked Crashed by the missed-heartbeat automation
    still_lost: int = 0  # of those, neither (a run that died Pending sends no heartbeat)
    catch_ups: int = 0  # catch-up sweeps run after a day with a run not completed
    worker_exits: int = 0  # times the worker exited by itself (restarted)
    dump: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    judged: SenderKills = field(default_factory=SenderKills)
    expected_steps: int = 0  # by the pure simulation of the same days
    seconds: float = 0.0  # the whole proof: set-up, window, final sweep
    window_seconds: float = 0.0  # from the worker's start to the last day done

    @property
    def steps(self) -> int:
        return self.judged.steps

    def differences(self, other: Window) -> list[str]:
        """What differs between this database and `other`'s (empty: identical)."""
        out = []
        for table in sorted(set(self.dump) | set(other.dump)):
            mine, theirs = set(self.dump.get(table, [])), set(other.dump.get(table, []))
            if mine != theirs:
                out.append(f"{table}: {len(mine - theirs)} rows only here, "
                           f"{len(theirs - mine)} only there, e.g. "
                           f"{sorted(mine ^ theirs, key=repr)[:2]}")
        return out


def dump(app: App) -> dict[str, list[tuple[Any, ...]]]:
    """The phoihop database, without what differs between two correct runs (ids, which
    flow run did the work, the wall-clock times of sending, attempt counts)."""
    with app.session() as s:
        keys = {o.id: o.key for o in s.exec(select(Obligation))}
        contacts = {c.id: c.email for c in s.exec(select(Contact))}
        return {
            "fired steps": sorted((keys[f.obligation_id], f.step, f.outcome,
                                   f.due_at.isoformat(), f.recorded_at.isoformat())
                                  for f in s.exec(select(FiredStep))),
            "outbox": sorted((m.key, m.kind, m.state, m.recipient, m.message_id,
                              m.digest_key or "", m.step if m.step is not None else -1)
                             for m in s.exec(select(OutboxMessage))),
            "replies": sorted((keys[r.obligation_id], r.version, r.status, r.percent or -1)
                              for r in s.exec(select(Reply))),
            "obligations": sorted((o.key, o.status, o.due.isoformat(), o.last_step or -1,
                                   o.next_fire.isoformat() if o.next_fire else "")
                                  for o in s.exec(select(Obligation))),
            "links": sorted((ln.purpose, keys.get(ln.obligation_id or 0, ""),
                             contacts.get(ln.contact_id or 0) or "",
                             ln.expires_at.isoformat(), ln.revoked_at is None)
                            for ln in s.exec(select(Link))),
            "reviews": sorted((r.agreement_id, r.cycle, r.stage, r.final, r.skipped)
                              for r in s.exec(select(Review))),
        }


# --- processes ----------------------------------------------------------------------------

def descendants(pid: int) -> list[int]:
    """Every process below `pid` (the flow-run processes a worker started)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _flow_run_processes(below: list[int]) -> set[str]:
    """The flow-run ids of the live processes among `below` (PREFECT__FLOW_RUN_ID)."""
    ids = set()
    for pid in below:
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        ids |= {e.split(b"=", 1)[1].decode() for e in env
                if e.startswith(b"PREFECT__FLOW_RUN_ID=")}
    return ids


def _stop(proc: subprocess.Popen[bytes], how: str) -> None:
    if how == "SIGKILL":  # the machine died: the process and everything it started
        for victim in [proc.pid, *descendants(proc.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        proc.wait(timeout=30)
        return
    proc.send_signal(signal.SIGTERM)  # Prefect's own shutdown
    try:
        proc.wait(timeout=40)
    except subprocess.TimeoutExpired:
        _stop(proc, "SIGKILL")


class Stack:
    """The LocalStack of one window: a server and a worker this class can restart."""

    def __init__(self, settings: Settings, heartbeat: int | None = None) -> None:
        from flows.local import HEARTBEAT_SECONDS, LocalStack

        self.local = LocalStack(settings, free_port(),
                                heartbeat=heartbeat or HEARTBEAT_SECONDS)
        self.lock = threading.Lock()
        self.worker_exits = 0

    def start(self) -> None:
        self.local.start_server()
        self.server = self.local.processes[-1]
        self.local.deploy()
        _api(self._wall_clock_schedules_off)
        self.start_worker()

    def start_worker(self) -> None:
        self.local.start_worker("phoihop-worker-1")
        self.worker = self.local.processes[-1]

    async def _wall_clock_schedules_off(self) -> None:
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            for name in ("sweep/sweep", "sync/sync"):
                d = await client.read_deployment_by_name(name)
                for sch in d.schedules:
                    await client.update_deployment_schedule(d.id, sch.id, active=False)

    def flow_runs_alive(self) -> set[str]:
        return _flow_run_processes(descendants(self.worker.pid))

    def restart(self, r: Restart) -> None:
        with self.lock:
            r.busy = len(self.flow_runs_alive())
            began = time.monotonic()
            if r.target == "server":
                _stop(self.server, r.how)
                self.local.start_server()  # same port, same database: it resumes
                self.server = self.local.processes[-1]
            else:
                _stop(self.worker, r.how)
                self.start_worker()
            r.down = time.monotonic() - began

    def keep_worker(self) -> None:
        """A worker that exited by itself (its loop gave up on an absent server) is
        started again, and counted."""
        with self.lock:
            if self.worker.poll() is not None:
                self.worker_exits += 1
                self.start_worker()

    def stop(self) -> None:
        self.local.stop()


def _api(call: Callable[[], Awaitable[T]], seconds: float = 180) -> T:
    """A Prefect API call, again while the server is down or restarting (every call here
    is safe to repeat: runs are created with idempotency keys)."""
    import httpx
    from prefect.exceptions import PrefectHTTPStatusError

    deadline = time.monotonic() + seconds
    while True:
        try:
            return asyncio.run(call())  # type: ignore[arg-type]
        except (httpx.HTTPError, PrefectHTTPStatusError, OSError, RuntimeError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


# --- the window ---------------------------------------------------------------------------

@contextlib.contextmanager
def _environment(directory: Path, smtp_port: int) -> Iterator[Settings]:
    values = {"PHOIHOP_DATA_DIR": str(directory),
              "PHOIHOP_DATABASE_URL": f"sqlite:///{directory / 'phoihop.db'}",
              "PHOIHOP_MAIL__PORT": str(smtp_port),
              "PHOIHOP_LEASE_SECONDS": str(LEASE),
              # the worker asks for due runs every second, not every 10 (days follow each
              # other here as soon as the last is done)
              "PREFECT_WORKER_QUERY_SECONDS": "1"}
    saved = dict(os.environ)
    os.environ.update(values)
    os.environ.pop("PHOIHOP_CONFIG", None)
    try:
        yield load_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


async def _create(runs: list[tuple[str, dict[str, Any], str, list[str], str]]) -> list[UUID]:
    """(deployment, parameters, name, tags, idempotency key) → flow runs scheduled now."""
    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled

    async with get_client() as client:
        ids = []
        for deployment, parameters, name, tags, key in runs:
            d = await client.read_deployment_by_name(deployment)
            run = await client.create_flow_run_from_deployment(
                d.id, parameters=parameters, name=name, tags=tags, idempotency_key=key,
                state=Scheduled(scheduled_time=datetime.now(UTC)))
            ids.append(run.id)
        return ids


def _states(ids: list[UUID]) -> Callable[[], Coroutine[Any, Any, dict[str, str]]]:
    async def read() -> dict[str, str]:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=200)
            return {str(r.id): r.state.type.value if r.state else "NONE" for r in runs}
    return read


def _settle(stack: Stack, ids: list[UUID], lost: set[str], seconds: float = 600
            ) -> dict[str, str]:
    """Wait until each run is final, or lost: Running/Pending with no live process for
    LOST_AFTER seconds (Prefect does not retry it, nor, without heartbeats missing for
    minutes, call it Crashed)."""
    deadline = time.monotonic() + seconds
    gone_since: dict[str, float] = {}
    while True:
        stack.keep_worker()
        states = _api(_states(ids))
        alive = stack.flow_runs_alive()
        waiting = False
        for run_id, state in states.items():
            if state in FINAL or run_id in lost:
                continue
            if state in ("RUNNING", "PENDING") and run_id not in alive:
                since = gone_since.setdefault(run_id, time.monotonic())
                if time.monotonic() - since >= LOST_AFTER:
                    lost.add(run_id)
                    continue
            else:
                gone_since.pop(run_id, None)
            waiting = True
        if not waiting and len(states) == len(ids):
            return {k: ("LOST" if k in lost else v) for k, v in states.items()}
        if time.monotonic() > deadline:
            raise TimeoutError(f"runs not settled after {seconds:.0f} s: {states}")
        time.sleep(0.5)


def _catch_up(stack: Stack, at: datetime, tag: str, lost: set[str], result: Window,
              tries: int = 6) -> list[UUID]:
    """The catch-up sweep for `at`, as a run of the `sweep` deployment, until one
    completes."""
    ids: list[UUID] = []
    for attempt in range(tries):
        result.catch_ups += 1
        key = f"catch-up:{tag}:{at.isoformat()}:{attempt}"
        ids += _api(lambda key=key: _create(  # type: ignore[misc]
            [("sweep/sweep", {"at": at.isoformat()}, f"catch-up · {at:%d/%m/%Y}",
              ["phoihop-catch-up"], key)]))
        if _settle(stack, ids[-1:], lost)[str(ids[-1])] == "COMPLETED":
            return ids
    raise RuntimeError(f"the catch-up sweep for {at:%d/%m/%Y} never completed")


def run_window(directory: Path, days: int, restarts: int = 0, seed: int = 0,
               span: float = 60.0, delay: float = 0.1,
               kinds: list[tuple[str, str]] | None = None, heartbeat: int | None = None,
               zombies_wait: float = 0.0) -> Window:
    """`days` ladder days through Prefect; `restarts` restarts of the server or the worker
    (each by SIGKILL or SIGTERM, seeded, or in the order `kinds` gives) at seeded random
    moments over the first `span` seconds (the window goes on until they all happened and
    every day is done). With `zombies_wait`, as long as that is waited at the end for the
    lost runs to be marked Crashed (heartbeats every `heartbeat` seconds)."""
    from flows.sync import planned_runs

    started = time.monotonic()
    rng = random.Random(seed)
    result = Window()
    plan = sorted(rng.uniform(0.0, span) for _ in range(restarts))
    kinds = kinds or [(rng.choice(["server", "worker"]), rng.choice(["SIGKILL", "SIGTERM"]))
                      for _ in plan]
    result.restarts = [Restart(at, target, how) for at, (target, how) in zip(plan, kinds,
                                                                           strict=True)]
    directory.mkdir(parents=True, exist_ok=True)
    with SmtpServer() as smtp, _environment(directory, smtp.port) as settings:
        smtp.sink.delay = delay  # a slow mail server: kills land mid-exchange
        app = bootstrap(settings, clock=lambda: REGISTERED)
        upgrade(app.engine)
        import_many(app, agreements())
        from prefect.events.worker import EventsWorker
        from prefect.settings import temporary_settings

        EventsWorker.drain_all(timeout=10)
        stack = Stack(settings, heartbeat)
        with temporary_settings(stack.local.client_settings()):
            try:
                stack.start()
                window_began = time.monotonic()
                errors: list[BaseException] = []
                restarter = threading.Thread(target=_restarts, args=(
                    stack, result.restarts, window_began, errors), daemon=True)
                restarter.start()
                lost: set[str] = set()
                ids = _days(stack, app, days, lost, result, planned_runs)
                result.window_seconds = time.monotonic() - window_began
                restarter.join()
                if errors:
                    raise RuntimeError(f"a restart failed: {errors[0]!r}") from errors[0]
                time.sleep(LEASE + 0.5)  # what a killed run left claimed is now free
                ids += _catch_up(stack, result.days[-1], "final", lost, result)
                states = _settle(stack, ids, lost)
                result.runs = Counter(states.values())
                result.lost = len(lost)
                until = time.monotonic() + zombies_wait
                while lost and time.monotonic() < until:
                    later = _api(_states([UUID(i) for i in lost]))
                    result.crashed_later = sum(v == "CRASHED" for v in later.values())
                    if result.crashed_later == len(lost):
                        break
                    time.sleep(2)
                result.still_lost = len(lost) - result.crashed_later
                result.worker_exits = stack.worker_exits
            finally:
                EventsWorker.drain_all(timeout=10)
                stack.stop()
        received = Counter(str(m["Message-ID"]) for m in smtp.sink.messages)
    _judge(app, result.judged, received)
    result.dump = dump(app)
    predicted = ladder_days(agreements())
    result.expected_steps = sum(n for at, n in predicted.items() if at <= result.days[-1])
    app.engine.dispose()
    result.seconds = time.monotonic() - started
    return result


def _restarts(stack: Stack, plan: list[Restart], began: float,
              errors: list[BaseException]) -> None:
    try:
        for r in plan:
            time.sleep(max(0.0, began + r.at - time.monotonic()))
            stack.restart(r)
    except BaseException as exc:  # reported by the window, which then stops
        errors.append(exc)


def _days(stack: Stack, app: App, days: int, lost: set[str], result: Window,
          planned_runs: Callable[..., Any]) -> list[UUID]:
    ids: list[UUID] = []
    now = REGISTERED
    for _day in range(days):
        planned = planned_runs(app, now + timedelta(seconds=1), HORIZON)
        if not planned:
            break
        at = min(p.at for p in planned)
        today = [p for p in planned if p.at == at]
        result.days.append(at)
        day_ids = _api(lambda today=today: _create(  # type: ignore[misc]
            [(f"{p.flow}/{p.flow}", {"agreement": p.code, "at": p.at.isoformat()},
              p.name, p.tags, p.key) for p in today]))
        ids += day_ids
        states = _settle(stack, day_ids, lost)
        if any(s != "COMPLETED" for s in states.values()):
            ids += _catch_up(stack, at, "day", lost, result)
        now = at
    return ids


def undisturbed(directory: Path, days: int, delay: float = 0.0) -> Window:
    """The same window without Prefect: each day, what its runs do (`services/`, the
    review steps), in this process, in order; then the final sweep's work."""
    from flows.sync import planned_runs
    from services import delivery
    from services import ladder as ladder_work
    from services import reviews as cycle

    started = time.monotonic()
    result = Window()
    directory.mkdir(parents=True, exist_ok=True)
    with SmtpServer() as smtp, _environment(directory, smtp.port) as settings:
        smtp.sink.delay = delay
        app = bootstrap(settings, clock=lambda: REGISTERED)
        upgrade(app.engine)
        import_many(app, agreements())
        wall = bootstrap(settings)  # sending is on the wall clock, as in the flows

        def sweep(at: datetime) -> None:
            ladder_work.fire_steps(wall, at)
            with wall.session() as s:
                for code in cycle.due_codes(s, wall, at):
                    cycle.run_due(wall, code, at)

        now = REGISTERED
        for _day in range(days):
            planned = planned_runs(app, now + timedelta(seconds=1), HORIZON)
            if not planned:
                break
            at = min(p.at for p in planned)
            result.days.append(at)
            for p in planned:
                if p.at == at and p.flow == "ladder":
                    ladder_work.fire_steps(wall, at, p.code)
                elif p.at == at:
                    cycle.run_due(wall, p.code, at)
            delivery.deliver(wall, wall.now(), "undisturbed")
            now = at
        sweep(result.days[-1])
        delivery.deliver(wall, wall.now(), "undisturbed")
        received = Counter(str(m["Message-ID"]) for m in smtp.sink.messages)
        wall.engine.dispose()
    _judge(app, result.judged, received)
    result.dump = dump(app)
    predicted = ladder_days(agreements())
    result.expected_steps = sum(n for at, n in predicted.items() if at <= result.days[-1])
    app.engine.dispose()
    result.seconds = time.monotonic() - started
    return result
