"""A Prefect worker killed (-9) in the middle of a ladder run; the next run finishes the work.

The real thing: a local Prefect server, the `ladder` deployment in a process work pool,
a worker process that runs it, a slow SMTP server on loopback. Prefect does not retry a
crashed run by itself; the next run (here: one created for the same agreement a little
later, as the daily sweep would be) takes over. Nothing is lost, nothing fired twice, and
a duplicate e-mail can only come from a row that went through `unknown`, with the same
Message-ID.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time as clock
from collections import Counter
from datetime import date, datetime, time, timedelta

import pytest
from sqlmodel import select

from config.bootstrap import bootstrap
from config.settings import load_settings
from core.calendar import local_instant
from models.migrate import upgrade
from models.tables import FiredStep, OutboxMessage
from services.imports import import_agreement
from tests.conftest import QT, prefect_stack
from tests.fault_restarts import descendants as _descendants
from tests.smtp_sink import SmtpServer

# ~45 s: in `make proofs` (the suite's budget; docs/reliability.md row 6)
pytestmark = pytest.mark.proof

TZ = "Asia/Ho_Chi_Minh"
CODE = "QT-KHKT-2021-2025"


def _wait(check, seconds: float, what: str):
    deadline = clock.monotonic() + seconds
    while clock.monotonic() < deadline:
        got = check()
        if got:
            return got
        clock.sleep(0.2)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


def _kill_machine(pid: int) -> None:
    """kill -9 a worker and every process it started, as when its machine dies."""
    for victim in [pid, *_descendants(pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)


async def _run_ladder(at: datetime, scheduled: datetime | None = None) -> object:
    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled

    async with get_client() as client:
        deployment = await client.read_deployment_by_name("ladder/ladder")
        return await client.create_flow_run_from_deployment(
            deployment.id, parameters={"agreement": CODE, "at": at.isoformat()},
            state=Scheduled(scheduled_time=scheduled or datetime.now().astimezone()),
            name=f"{CODE} · {at:%d/%m/%Y}", tags=["phoihop", f"agreement:{CODE}"])


async def _logs(run_id) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    async with get_client() as client:
        logs = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
        return [log.message for log in logs]


async def _state(run_id) -> str:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        run = await client.read_flow_run(run_id)
        return run.state.type.value if run.state else "NONE"


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(tmp_path, monkeypatch):
    from config.settings import Settings

    with SmtpServer() as smtp:
        smtp.sink.delay = 0.4  # ten messages take ≥ 4 s: the kill lands in the middle
        for k, v in {"PHOIHOP_DATA_DIR": str(tmp_path),
                     "PHOIHOP_DATABASE_URL": f"sqlite:///{tmp_path / 'crash.db'}",
                     "PHOIHOP_MAIL__PORT": str(smtp.port),
                     "PHOIHOP_LEASE_SECONDS": "3"}.items():
            monkeypatch.setenv(k, v)
        monkeypatch.delenv("PHOIHOP_CONFIG", raising=False)
        settings = load_settings()
        assert isinstance(settings, Settings)
        registered = local_instant(date(2022, 5, 18), time(0, 0), TZ)
        app = bootstrap(settings, clock=lambda: registered)
        upgrade(app.engine)
        import_agreement(app, QT.read_bytes(), str(QT))
        with prefect_stack(settings) as stack:
            stack.start_worker("crash-worker-1")
            at = local_instant(date(2022, 6, 15), time(8, 0), TZ)  # the ten H1 requests
            first = asyncio.run(_run_ladder(at))
            _wait(lambda: len(smtp.sink.messages) >= 2, 180, "the run to start sending")
            worker = stack.processes[-1]
            assert _descendants(worker.pid)  # the flow run's own process
            _kill_machine(worker.pid)
            worker.wait(timeout=10)
            sent_when_killed = len(smtp.sink.messages)
            clock.sleep(1.0)
            assert len(smtp.sink.messages) <= sent_when_killed + 1  # nothing runs any more
            assert asyncio.run(_state(first.id)) == "RUNNING"  # Prefect does not know yet
            with app.session() as s:
                states = Counter(s.exec(select(OutboxMessage.state)).all())
            assert sum(states.values()) == 10 and states["sent"] < 10, states

            # the next run, after the claims' lease (senders claim on the wall clock): it
            # takes over what was left
            clock.sleep(3.5)
            stack.start_worker("crash-worker-2")
            later = at + timedelta(minutes=5)
            second = asyncio.run(_run_ladder(later))
            _wait(lambda: asyncio.run(_state(second.id)) == "COMPLETED", 180,
                  "the second run to complete")

            # a worker paused for days, then resumed: a run three days past its time is
            # skipped (and says so); the catch-up sweep does its work, once
            reminders = at + timedelta(days=23)  # 08/07/2022: the ten −7-day reminders
            stale = asyncio.run(_run_ladder(
                reminders, scheduled=datetime.now().astimezone() - timedelta(days=3)))
            _wait(lambda: asyncio.run(_state(stale.id)) == "COMPLETED", 180,
                  "the late run to complete")
            with app.session() as s:
                assert not s.exec(select(FiredStep).where(FiredStep.step == 1)).all()
            _wait(lambda: any("Bỏ qua lần chạy" in line for line in asyncio.run(_logs(stale.id))),
                  30, "the late run's log line saying it was skipped")
            from flows.ladder import sweep

            assert sweep(at=reminders.isoformat()) == 10
            assert sweep(at=reminders.isoformat()) == 0
        with app.session() as s:
            rows = s.exec(select(OutboxMessage)).all()
            fired = s.exec(select(FiredStep)).all()
        assert len(fired) == 20 and {f.outcome for f in fired} == {"fired"}
        assert len(rows) == 20 and {r.state for r in rows} == {"sent"}
        received = Counter(m["Message-ID"] for m in smtp.sink.messages)
        assert set(received) == {r.message_id for r in rows}  # nothing lost
        duplicated = {mid for mid, n in received.items() if n > 1}
        went_unknown = {r.message_id for r in rows if r.attempts > 1}
        assert duplicated <= went_unknown  # a duplicate only from a row sent twice
