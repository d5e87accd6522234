"""Flows under one Prefect test harness: ladder runs fire what `simulate` fires, once."""

from __future__ import annotations

import asyncio
import os
from datetime import date, time

import pytest
from sqlmodel import func, select

from config.bootstrap import bootstrap
from config.settings import load_settings
from core.calendar import local_instant
from core.expand import expand
from core.ladder import simulate
from core.parse import load_agreement
from core.replies import load_replies
from models.migrate import upgrade
from models.replies import record_reply
from models.store import import_agreement
from models.tables import FiredStep, OutboxMessage
from tests.conftest import QT, QT_REPLIES
from tests.smtp_sink import SmtpServer

TZ = "Asia/Ho_Chi_Minh"


@pytest.fixture(scope="module")
def harness():
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
                             PREFECT_SERVER_ANALYTICS_ENABLED: False}), \
            prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture
def env(tmp_path, monkeypatch):
    with SmtpServer() as smtp:
        monkeypatch.setenv("PHOIHOP_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("PHOIHOP_DATABASE_URL", f"sqlite:///{tmp_path / 'flows.db'}")
        monkeypatch.setenv("PHOIHOP_MAIL__PORT", str(smtp.port))
        monkeypatch.delenv("PHOIHOP_CONFIG", raising=False)
        yield smtp


def _app(clock_at):
    app = bootstrap(load_settings(), clock=lambda: clock_at)
    upgrade(app.engine)
    return app


def test_ladder_runs_fire_what_simulate_fires_and_never_twice(harness, env):
    from flows.ladder import ladder

    agreement, _ = load_agreement(QT.read_bytes(), str(QT))
    registered = local_instant(agreement.signed_on, time(0, 0), TZ)
    app = _app(registered)
    import_agreement(app, QT.read_bytes(), str(QT))
    plan = expand(agreement, app.calendar)
    replies, _ = load_replies(QT_REPLIES.read_bytes(), "r", TZ, {o.id for o in plan.obligations})
    until = date(2022, 12, 31)
    expected = simulate(plan, app.calendar, until, registered, replies)
    days = sorted({e.at for e in expected.events})
    pending = sorted(replies, key=lambda r: r.at)
    for at in days:
        with app.session(write=True) as s:
            while pending and pending[0].at <= at:
                r = pending.pop(0)
                record_reply(s, app, obligation_key=r.obligation, status=r.status, at=r.at,
                             until=r.until, values=dict(r.values), source="test")
        ladder(agreement=agreement.code, at=at.isoformat())
    with app.session() as s:
        fired = s.exec(select(FiredStep.step).where(FiredStep.outcome == "fired")).all()
        sent_before = s.exec(select(func.count()).select_from(OutboxMessage)).one()
    assert len(fired) == len(expected.events)
    assert len(env.sink.messages) > 0
    messages_before = len(env.sink.messages)

    # re-running a run (same agreement, same time) records and sends nothing more
    ladder(agreement=agreement.code, at=days[-1].isoformat())
    with app.session() as s:
        assert s.exec(select(func.count()).select_from(OutboxMessage)).one() == sent_before
    assert len(env.sink.messages) == messages_before


def test_sync_creates_scheduled_runs_once_and_cancels_stale(harness, env):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.client.schemas.sorting import FlowRunSort

    from flows.ladder import ladder
    from flows.sync import sync

    registered = local_instant(date(2022, 5, 18), time(0, 0), TZ)
    app = _app(registered)
    import_agreement(app, QT.read_bytes(), str(QT))
    ladder.to_deployment(name="ladder").apply()
    at = local_instant(date(2022, 11, 1), time(7, 0), TZ).isoformat()
    first = asyncio.run(sync(at=at, horizon_days=45))
    assert first["created"] > 0 and first["cancelled"] == 0
    again = asyncio.run(sync(at=at, horizon_days=45))
    assert again["created"] == 0 and again["kept"] == first["created"]

    async def runs():
        async with get_client() as client:
            return await client.read_flow_runs(flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=["agreement:QT-KHKT-2021-2025"])),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=200)

    found = asyncio.run(runs())
    names = {r.name for r in found}
    assert "QT-KHKT-2021-2025 · 15/11/2022" in names
    one = next(r for r in found if r.name == "QT-KHKT-2021-2025 · 15/11/2022")
    assert "party:so-tttt" in one.tags and one.state.type.value == "SCHEDULED"

    # every party answers: the 15/11 requests are no longer needed, sync cancels that run
    with app.session(write=True) as s:
        for key in [o.id for o in expand(load_agreement(QT.read_bytes(), "q")[0],
                                         app.calendar).obligations
                    if o.due == date(2022, 12, 15)]:
            record_reply(s, app, obligation_key=key, status="done",
                         at=local_instant(date(2022, 11, 1), time(6, 0), TZ))
    third = asyncio.run(sync(at=at, horizon_days=45))
    assert third["cancelled"] >= 1
    found = asyncio.run(runs())
    assert next(r for r in found if r.name == "QT-KHKT-2021-2025 · 15/11/2022"
                ).state.type.value == "CANCELLED"
    assert os.environ["PHOIHOP_DATABASE_URL"].startswith("sqlite")
