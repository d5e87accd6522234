"""Prefect's own services on PostgreSQL: the scheduler creates the daily sweep's and sync's
cron runs, with Prefect's database on the PostgreSQL server (the SQLite shape is driven
through `phoihop up` in tests/e2e/test_up_stack.py). A scheduler that fails every loop
(SQLAlchemy 2.1 beside Prefect 3.8) fails here twice: no runs, and ERRORs in its log."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime

import pytest

from config.settings import Settings
from tests.conftest import prefect_stack

DB = "phoihop_test_prefect_services"


async def _upcoming(deployment: str) -> list[datetime]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    async with get_client() as client:
        runs = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))))
    now = datetime.now(UTC)
    return sorted(r.expected_start_time for r in runs
                  if r.expected_start_time and r.expected_start_time > now)


def test_the_scheduler_creates_cron_runs_with_prefect_on_postgresql(tmp_path, monkeypatch,
                                                                     pg_reason):
    if pg_reason:
        if os.environ.get("PHOIHOP_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here but does not answer: {pg_reason}")
        pytest.skip(f"no PostgreSQL server: {pg_reason}")
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                         autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL",
                       f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DB}")
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'p.db'}")
    with prefect_stack(settings):
        deadline = time.monotonic() + 90
        found: dict[str, list[datetime]] = {}
        while time.monotonic() < deadline:
            found = {d: asyncio.run(_upcoming(d)) for d in ("sweep", "sync")}
            if all(found.values()):
                break
            time.sleep(2)
        assert all(found.values()), f"Prefect's scheduler created no cron run: {found}"
        from zoneinfo import ZoneInfo

        hanoi = ZoneInfo("Asia/Ho_Chi_Minh")
        assert f"{found['sweep'][0].astimezone(hanoi):%H:%M}" == "07:15"
        assert f"{found['sync'][0].astimezone(hanoi):%H:%M}" == "07:00"
    # prefect_stack has checked Prefect's server log for ERROR lines on the way out
