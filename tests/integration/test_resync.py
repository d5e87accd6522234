"""Replies move the schedule: the automation `phoihop up` creates re-syncs an agreement.

A real local Prefect server with the deployments, the automation and a worker, on the
wall clock (Thanh Hóa 2024-2030 runs today): every obligation with a step at the first
upcoming ladder run is answered, the reply event reaches Prefect, its automation runs
`sync` for that agreement, and that run is cancelled while the rest of the schedule stays
as the plan says, without anyone running sync by hand.
"""

from __future__ import annotations

import asyncio
import os
import time as clock

import pytest
from sqlmodel import select

from config.bootstrap import bootstrap
from config.settings import load_settings
from core.ladder import fire_times
from core.parse import load_agreement
from models.migrate import upgrade
from models.tables import Obligation
from services.imports import import_agreement
from services.replies import record_reply
from tests.conftest import TH, prefect_stack

TZ = "Asia/Ho_Chi_Minh"
CODE = "TH-KHKT-2024-2030"


async def _sync_runs():
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

    async with get_client() as client:
        deployment = await client.read_deployment_by_name("sync/sync")
        runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id])))
        # the daily 07:00 sync the scheduler creates is not the automation's
        return [r for r in runs if not r.auto_scheduled]


def test_a_reply_event_resyncs_its_agreement_through_the_automation(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOIHOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PHOIHOP_DATABASE_URL", f"sqlite:///{tmp_path / 'resync.db'}")
    monkeypatch.delenv("PHOIHOP_CONFIG", raising=False)
    resync_through_the_automation()


@pytest.mark.proof  # ~70 s on a slow machine, beyond the suite's budget (make proofs)
def test_the_same_on_the_scaled_shape(tmp_path, monkeypatch, pg_reason):
    """`phoihop up --api-workers 2 --workers 2` (scripts/scale-out.sh): Prefect's API in two
    processes on PostgreSQL, its services in a third, events through Redis, two workers,
    phoihop's database on PostgreSQL. The reply event must still reach the automation."""
    redis_reason = _redis_reason()
    if pg_reason or redis_reason:
        if os.environ.get("PHOIHOP_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL and Redis are required here: {pg_reason or redis_reason}")
        pytest.skip(f"needs PostgreSQL and Redis: {pg_reason or redis_reason}")
    import psycopg
    import redis

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                         autocommit=True) as conn:
        for db in ("phoihop_test_scaled_prefect", "phoihop_test_scaled"):
            conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {db}")
    redis.Redis.from_url(REDIS).flushdb()
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL",
                       "postgresql+asyncpg://postgres@127.0.0.1:5432/phoihop_test_scaled_prefect")
    monkeypatch.setenv("PHOIHOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PHOIHOP_DATABASE_URL",
                       "postgresql://postgres@127.0.0.1:5432/phoihop_test_scaled")
    monkeypatch.setenv("PHOIHOP_SYNC_CONCURRENCY", "4")
    monkeypatch.delenv("PHOIHOP_CONFIG", raising=False)
    resync_through_the_automation(api_workers=2, workers=2)


REDIS = "redis://127.0.0.1:6379/6"  # this test's own database, emptied first


def _redis_reason() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=3).ping()
        return None
    except redis.RedisError as exc:
        return str(exc).splitlines()[0]


def resync_through_the_automation(api_workers: int = 1, workers: int = 1) -> None:
    from flows.sync import planned_runs, reconcile
    from notifications.events import ReplyRecorded, reply_recorded

    settings = load_settings()
    app = bootstrap(settings)  # the wall clock: the worker's sync plans from it too
    upgrade(app.engine)
    import_agreement(app, TH.read_bytes(), str(TH))
    agreement = load_agreement(TH.read_bytes(), "th")[0]
    with prefect_stack(settings, api_workers=api_workers, redis_url=REDIS) as stack:
        for n in range(1, workers + 1):
            stack.start_worker(f"resync-worker-{n}")
        planned = planned_runs(app, app.now(), 45)
        asyncio.run(reconcile(planned, concurrency=settings.sync_concurrency))
        first = next(p for p in planned if p.flow == "ladder")
        assert _scheduled_keys() == {p.key for p in planned}

        # every obligation with a step at the first planned run is answered ...
        with app.session() as s:
            due = [o for o in s.exec(select(Obligation).where(Obligation.status == "open"))
                   if first.at in fire_times(agreement.ladder, o.due, app.calendar, TZ)]
        assert due
        with app.session(write=True) as s:
            for o in due:
                record_reply(s, app, obligation_key=o.key, status="done", at=app.now())
        # ... and the portal's event for the last one reaches Prefect
        assert reply_recorded(ReplyRecorded(o.key, CODE, o.party, 1, 1, "done"))

        deadline = clock.monotonic() + 120
        while clock.monotonic() < deadline:
            runs = asyncio.run(_sync_runs())
            if runs and all(r.state and r.state.is_final() for r in runs):
                break
            clock.sleep(1)
        assert [(r.parameters.get("agreement"), r.state.type.value) for r in runs] == [
            (CODE, "COMPLETED")]
        after = {p.key for p in planned_runs(app, app.now(), 45)}
        assert first.key not in after and after  # that day is gone, others stay
        assert _scheduled_keys() == after


def _scheduled_keys() -> set[str]:
    from prefect.client.orchestration import get_client

    from flows.sync import scheduled_runs

    async def read() -> set[str]:
        async with get_client() as client:
            return {r.idempotency_key for r in await scheduled_runs(client, agreement=CODE)
                    if r.idempotency_key}

    return asyncio.run(read())
