"""The scaled shape heals itself (issue 20), run as an operator runs it: `scripts/scale-out.sh`
(`phoihop up --api-workers 2 --workers 2 --portal-workers 2`: Prefect's API in two processes
on PostgreSQL, its services in a third, events through Redis, phoihop on PostgreSQL).

- A worker killed (-9, with its flow-run process) mid-run is started again by `up`, which
  says so; the other worker goes on; runs created after the kill complete.
- `up` is restarted inside the heartbeat window: the missed-heartbeat automation is kept,
  not re-created, so the killed run still ends `Crashed`.
- A healthy run of more than 4 heartbeats (30 s each, Prefect's least) is never marked
  `Crashed`, and no run that already ended is acted on ("Failed to set state: Run is
  already in terminal state" in no log).
- Two installs with other database names, Redis databases and ports run side by side.

Minutes each: `make proofs`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fault_restarts import descendants
from tests.smtp_sink import SmtpServer, free_port

ROOT = Path(__file__).resolve().parents[2]
CODE = "QT-KHKT-2021-2025"
HEARTBEAT = 30  # Prefect's least
CRASHED_AFTER = 4 * HEARTBEAT  # the least allowed: a run silent 120 s is marked Crashed
SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
ACL_USER, ACL_PASSWORD = "phoihop_test_prefect", "a-long-random-test-password"


def _reason(pg_reason: str | None) -> None:
    import redis

    try:
        redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=3).ping()
        redis_reason = None
    except redis.RedisError as exc:
        redis_reason = str(exc).splitlines()[0]
    if pg_reason or redis_reason:
        if os.environ.get("PHOIHOP_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL and Redis are required here: {pg_reason or redis_reason}")
        pytest.skip(f"needs PostgreSQL and Redis: {pg_reason or redis_reason}")


def _fresh(*databases: str, redis_db: int) -> None:
    import psycopg
    import redis

    with psycopg.connect(SERVER, autocommit=True) as conn:
        for db in databases:
            conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    redis.Redis.from_url(f"redis://127.0.0.1:6379/{redis_db}").flushdb()


class Shape:
    """scripts/scale-out.sh as a child, its console read line by line."""

    def __init__(self, data: Path, db: str, redis_db: int, **extra: str) -> None:
        self.port, self.portal = free_port(), free_port()
        self.data = data / f"scale-out-{db}"
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("PHOIHOP_", "PREFECT_"))}
        self.env |= {"PHOIHOP_DATA_DIR": str(data), "PHOIHOP_DB": db,
                     "PREFECT_DB": f"{db}_prefect",
                     "PHOIHOP_REDIS_URL": f"redis://127.0.0.1:6379/{redis_db}",
                     "PHOIHOP_PREFECT_PORT": str(self.port),
                     "PHOIHOP_PORTAL_PORT": str(self.portal),
                     "PHOIHOP_PORTAL_URL": f"http://127.0.0.1:{self.portal}",
                     "PHOIHOP_LANGUAGE": "en", "COLUMNS": "250", **extra}
        self.lines: list[str] = []
        self.proc: subprocess.Popen[str] | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> None:
        self.lines = []  # a new console (`up` again)
        self.proc = subprocess.Popen([str(ROOT / "scripts" / "scale-out.sh")], env=self.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True, cwd=ROOT)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, seconds: float, after: int = 0) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for line in self.lines[after:]:
                if text in line:
                    return line
            assert self.proc and self.proc.poll() is None, "\n".join(self.lines[-30:])
            time.sleep(0.5)
        raise AssertionError(f"no {text!r} within {seconds:.0f} s:\n"
                             + "\n".join(self.lines[-30:]))

    def workers(self) -> dict[str, int]:
        """name → pid of the Prefect workers `up` runs now."""
        assert self.proc
        found = {}
        for pid in descendants(self.proc.pid):
            try:
                args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"worker" in args and b"--name" in args:
                found[args[args.index(b"--name") + 1].decode()] = pid
        return found

    def stop(self) -> None:
        if self.proc is None:
            return
        below = descendants(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=90)
        for pid in [self.proc.pid, *below]:  # whatever did not stop: the test must not leak
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.proc = None


def _flow_run_of(pid: int) -> set[str]:
    from tests.fault_restarts import _flow_run_processes

    return _flow_run_processes(descendants(pid))


def _kill_machine(pid: int) -> None:
    for victim in [pid, *descendants(pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)


def _api(shape: Shape, call: Any) -> Any:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: shape.api}):
        return asyncio.run(call())


def _ladder_run(shape: Shape, at: str, code: str = CODE) -> Any:
    async def create() -> Any:
        from prefect.client.orchestration import get_client
        from prefect.states import Scheduled

        async with get_client() as client:
            deployment = await client.read_deployment_by_name("ladder/ladder")
            run = await client.create_flow_run_from_deployment(
                deployment.id, parameters={"agreement": code, "at": at},
                state=Scheduled(scheduled_time=datetime.now().astimezone()),
                name=f"{code} · {at[:10]}", tags=["phoihop", f"agreement:{code}"])
            return run.id

    return _api(shape, create)


def _states(shape: Shape, run_id: Any) -> list[tuple[str, datetime]]:
    """The run's states, oldest first."""
    async def read() -> list[tuple[str, datetime]]:
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            states = await client.read_flow_run_states(run_id)
            return sorted((s.type.value, s.timestamp) for s in states)

    return sorted(_api(shape, read), key=lambda s: s[1])


def _wait_state(shape: Shape, run_id: Any, want: set[str], seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while True:
        states = _states(shape, run_id)
        if states and states[-1][0] in want:
            return states[-1][0]
        assert time.monotonic() < deadline, f"{run_id}: {states[-1:]} after {seconds:.0f} s"
        time.sleep(2)


def _imported(db: str, data: Path, variant: int = 0) -> tuple[str, datetime]:
    """The Quảng Trị agreement imported on its registration day (2022), after `up` started:
    its start-up sweep (on the wall clock, 2026) would have fired and sent every step.
    Returns its code and first ladder day."""
    from benchmarks.reliability import REGISTERED, agreements, ladder_days
    from config.bootstrap import bootstrap
    from config.settings import Settings
    from models.migrate import upgrade
    from services.imports import import_many

    app = bootstrap(Settings(database_url=f"postgresql://postgres@127.0.0.1:5432/{db}",
                             data_dir=data), clock=lambda: REGISTERED)
    upgrade(app.engine)
    [file] = agreements()[variant:variant + 1]
    import_many(app, [file])
    app.engine.dispose()
    code = re.search(r"([A-Z]+-KHKT-2021-2025)", file[1].decode()).group(1)
    return code, min(ladder_days([file]))


def _start_up_sweep_done(shape: Shape, seconds: float = 400) -> None:
    async def sweeps() -> list[Any]:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

        async with get_client() as client:
            deployment = await client.read_deployment_by_name("sweep/sweep")
            return await client.read_flow_runs(flow_run_filter=FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id])))

    deadline = time.monotonic() + seconds
    def started(runs: list[Any]) -> list[Any]:  # not the daily sweeps scheduled ahead
        return [r for r in runs if r.name in ("Start-up sweep", "Quét khi khởi động")]

    while not ((runs := started(_api(shape, sweeps))) and all(r.state.is_final()
                                                              for r in runs)):
        assert time.monotonic() < deadline, "the start-up sweep did not end"
        time.sleep(1)


def _zombie_actions(shape: Shape) -> list[str]:
    """What the missed-heartbeat automation did, from Prefect's own events: one
    `prefect.automation.action.executed` per run it marked, `...failed` when it tried to
    mark a run that had ended ("Failed to set state: Run is already in terminal state")."""
    from datetime import timedelta

    from flows.local import ZOMBIES

    async def read() -> list[str]:
        from prefect.client.orchestration import get_client
        from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter

        async with get_client() as client:
            page = await client.read_events(EventFilter(
                event=EventNameFilter(prefix=["prefect.automation.action"]),
                occurred=EventOccurredFilter(since=datetime.now().astimezone()
                                             - timedelta(hours=1))), limit=50)
            return [e.event for e in page.events
                    if e.resource.get("prefect.resource.name") == ZOMBIES]

    return sorted(_api(shape, read))


def _terminal_state_failures(shape: Shape) -> list[str]:
    return [line for log in ("prefect-services.log", "prefect-server.log")
            if (shape.data / log).exists()
            for line in (shape.data / log).read_text(errors="replace").splitlines()
            if "already in terminal state" in line or "Failed to set state" in line]


@pytest.mark.proof  # about 7 minutes: two starts of the scaled shape, 4 heartbeats, waits
def test_the_scaled_shape_heals_itself(tmp_path, pg_reason):
    _reason(pg_reason)
    db = "phoihop_test_heal"
    _fresh(db, f"{db}_prefect", redis_db=7)
    with SmtpServer() as smtp:
        # a ladder day's requests go out as one digest: the mail server takes 140 s to
        # accept it, so a run that sends lasts more than 4 heartbeats, longer than the
        # missed-heartbeat threshold (the killed run's
        # claims keep their lease meanwhile: later runs do not send them)
        smtp.sink.delay = 140.0
        shape = Shape(tmp_path, db, redis_db=7, PHOIHOP_HEARTBEAT_SECONDS=str(HEARTBEAT),
                      PHOIHOP_CRASHED_AFTER_SECONDS=str(CRASHED_AFTER),
                      PREFECT_WORKER_QUERY_SECONDS="1",
                      PHOIHOP_MAIL__PORT=str(smtp.port), PHOIHOP_MAIL__TIMEOUT_SECONDS="300",
                      PHOIHOP_SEND_DEADLINE_SECONDS="300", PHOIHOP_LEASE_SECONDS="900")
        shape.data.mkdir(parents=True)
        try:
            shape.start()
            shape.wait_for("Ctrl-C", 240)
            _start_up_sweep_done(shape)
            _imported(db, shape.data)
            workers = shape.workers()
            assert set(workers) == {"phoihop-worker-1", "phoihop-worker-2"}, workers

            # a run that sends, and the worker running it killed with it
            killed = _ladder_run(shape, "2022-06-15T08:00:00+07:00")  # the ten H1 requests
            deadline = time.monotonic() + 120
            while not (holder := [n for n, pid in workers.items()
                                  if str(killed) in _flow_run_of(pid)]):
                assert time.monotonic() < deadline, "no worker took the run"
                time.sleep(0.5)
            [victim] = holder
            [other] = set(workers) - {victim}
            _wait_state(shape, killed, {"RUNNING"}, 60)
            time.sleep(HEARTBEAT / 2)  # it sends (the mail server holds it)
            seen = len(shape.lines)
            _kill_machine(workers[victim])
            killed_at = time.monotonic()
            # runs created now (ladder days with nothing to send): the other worker asks
            # every second, the replacement needs seconds to start
            after = [_ladder_run(shape, f"2022-06-{d}T08:00:00+07:00") for d in (16, 17, 18)]
            said = shape.wait_for(f"{victim} stopped (exit -9); restarting in 1 s", 30, seen)
            assert "exit 1 within 10 min" in said
            deadline = time.monotonic() + 30
            while shape.workers().get(victim) in (None, workers[victim]):
                assert time.monotonic() < deadline, "the killed worker was not replaced"
                time.sleep(0.5)
            assert shape.workers()[other] == workers[other]  # the other one untouched
            assert shape.proc and shape.proc.poll() is None  # nothing else stopped
            assert _states(shape, killed)[-1][0] == "RUNNING"  # Prefect does not know yet
            assert not smtp.sink.messages  # it died sending

            for run in after:
                assert _wait_state(shape, run, {"COMPLETED", "FAILED", "CRASHED"}, 90) == \
                    "COMPLETED"
            took = {name: sum(str(r) in (shape.data / f"{name}.log").read_text(errors="replace")
                              for r in after) for name in workers}
            assert sum(took.values()) == len(after) and took[other] >= 1, took
            assert shape.workers()[other] == workers[other]

            # `up` stopped while the killed run's timer runs (it is still Running), and
            # started again: its automations are kept, and so is that timer
            assert _states(shape, killed)[-1][0] == "RUNNING"
            shape.stop()
            restarted_after = time.monotonic() - killed_at
            assert restarted_after < CRASHED_AFTER, f"stopped {restarted_after:.0f} s after"
            smtp.sink.delay = 0.0  # its start-up sweep catches Quảng Trị up: quickly
            shape.start()
            shape.wait_for("Ctrl-C", 240)
            back_after = time.monotonic() - killed_at

            # a healthy run of more than 4 heartbeats, while the killed one is marked: the
            # first ladder day of a variant imported now (the sweep would have done it)
            _start_up_sweep_done(shape)
            smtp.sink.delay = 140.0
            code, day = _imported(db, shape.data, variant=1)
            sent = len(smtp.sink.messages)
            long_run = _ladder_run(shape, day.isoformat(), code)
            final = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
            crashed_after = None
            deadline = time.monotonic() + 600
            while True:
                if len(smtp.sink.messages) > sent:
                    smtp.sink.delay = 0.0  # its first message took 140 s: the rest at once
                if crashed_after is None and _states(shape, killed)[-1][0] in final:
                    crashed_after = time.monotonic() - killed_at
                if crashed_after is not None and _states(shape, long_run)[-1][0] in final:
                    break
                assert time.monotonic() < deadline, (_states(shape, killed)[-1],
                                                     _states(shape, long_run)[-1])
                time.sleep(2)
            assert _states(shape, killed)[-1][0] == "CRASHED"
            assert crashed_after < CRASHED_AFTER + 120
            assert _states(shape, long_run)[-1][0] == "COMPLETED"
            states = _states(shape, long_run)
            began = next(t for s, t in states if s == "RUNNING")
            lasted = (states[-1][1] - began).total_seconds()
            assert lasted > CRASHED_AFTER, f"the long run lasted only {lasted:.0f} s"
            assert "CRASHED" not in {s for s, _ in states}, states

            # no run that had ended is acted on, after its timer would have run out
            time.sleep(CRASHED_AFTER + 20)
            assert _states(shape, long_run)[-1][0] == "COMPLETED"
            assert _terminal_state_failures(shape) == []
            assert _zombie_actions(shape) == ["prefect.automation.action.executed",
                                              "prefect.automation.action.triggered"]
            print(f"\nheal: {victim} killed and replaced, {took} took the {len(after)} "
                  f"later runs; up "
                  f"stopped {restarted_after:.0f} s and back {back_after:.0f} s after the kill;"
                  f" killed run Crashed {crashed_after:.0f} s after the kill; the long run "
                  f"lasted {lasted:.0f} s ({lasted / HEARTBEAT:.1f} heartbeats), Completed")
        finally:
            shape.stop()


@pytest.mark.proof  # about 2 minutes: two scaled shapes starting at once on 2 cores
def test_two_installs_with_other_names_run_side_by_side(tmp_path, pg_reason):
    import urllib.error
    import urllib.request

    import psycopg
    import redis

    _reason(pg_reason)
    names = ("phoihop_test_side_a", "phoihop_test_side_b")
    for i, db in enumerate(names):
        _fresh(db, f"{db}_prefect", redis_db=8 + i)
    # the second one through the Redis ACL user of docs/deploy.md (a test user here)
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    [rule] = re.findall(r"^user prefect on >\S+ (.*)$", doc, re.M)
    admin = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    admin.execute_command("ACL", "SETUSER", ACL_USER, "reset", "on", f">{ACL_PASSWORD}",
                          *rule.split())
    shapes = [Shape(tmp_path, names[0], redis_db=8),
              Shape(tmp_path, names[1], redis_db=9, PHOIHOP_REDIS_URL=(
                  f"redis://{ACL_USER}:{ACL_PASSWORD}@127.0.0.1:6379/9"))]
    try:
        limited = redis.Redis.from_url(f"redis://{ACL_USER}:{ACL_PASSWORD}@127.0.0.1:6379/9")
        with pytest.raises(redis.exceptions.NoPermissionError):
            limited.config_get("requirepass")  # an admin command: refused
        for shape in shapes:
            shape.start()
        for shape in shapes:
            shape.wait_for("Ctrl-C", 300)
        for shape, db in zip(shapes, names, strict=True):
            assert len(shape.workers()) == 2
            with urllib.request.urlopen(f"{shape.api}/health", timeout=10) as r:
                assert r.status == 200
            deadline = time.monotonic() + 120  # `up` does not wait for the portal
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{shape.portal}/r/x", timeout=10)
                except urllib.error.HTTPError as exc:
                    assert exc.code in (400, 403, 404, 410)  # the portal's refusal
                    break
                except OSError:
                    assert time.monotonic() < deadline, "the portal never answered"
                    time.sleep(1)
            with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{db}_prefect") as conn:
                pools = conn.execute("select name from work_pool").fetchall()
                ports = conn.execute("select count(*) from deployment").fetchone()
            assert pools == [("phoihop",)] and ports == (4,)
            assert (shape.data / "prefect-server.log").exists()
        assert shapes[0].data != shapes[1].data
        # each install's events went through its own Redis database, the second as the
        # ACL user
        for n in (8, 9):
            assert redis.Redis.from_url(f"redis://127.0.0.1:6379/{n}").dbsize() > 0, n
        print(f"\nside by side: {[s.port for s in shapes]} on {list(names)}")
    finally:
        for shape in shapes:
            shape.stop()
        admin.execute_command("ACL", "DELUSER", ACL_USER)
