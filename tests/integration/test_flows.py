"""Flows under one Prefect test harness: ladder runs fire what `simulate` fires, once."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, date, datetime, time

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
from models.tables import FiredStep, OutboxMessage
from services.imports import import_agreement
from services.replies import record_reply
from tests.conftest import QT, QT_REPLIES
from tests.smtp_sink import SmtpServer

TZ = "Asia/Ho_Chi_Minh"


@pytest.fixture
def harness(prefect_harness):
    return prefect_harness


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
    from flows.review import review
    from flows.sync import sync

    registered = local_instant(date(2022, 5, 18), time(0, 0), TZ)
    app = _app(registered)
    import_agreement(app, QT.read_bytes(), str(QT))
    ladder.to_deployment(name="ladder").apply()
    review.to_deployment(name="review").apply()
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
    # the review milestone in the horizon: the draft dossier of cycle 1 (meeting 20/12/2022,
    # hosted by so-gddt), a run of the review deployment at the ladder's send_at
    drafts = [r for r in found if r.idempotency_key and r.idempotency_key.startswith(
        "review:QT-KHKT-2021-2025:2022-12-13T08:00")]
    assert len(drafts) == 1 and drafts[0].name == "QT-KHKT-2021-2025 · 13/12/2022"
    assert {"party:so-gddt", "party:hkh-qt"} <= set(drafts[0].tags)
    assert drafts[0].parameters == {"agreement": "QT-KHKT-2021-2025",
                                    "at": "2022-12-13T08:00:00+07:00"}

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


def test_review_flow_runs_due_steps_once_and_publishes_the_dossier(harness, env):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    from flows.ladder import sweep
    from flows.review import review
    from models.tables import Review
    from reviews.markdown import dossier_key, table_key

    code = "QT-KHKT-2021-2025"
    app = _app(local_instant(date(2022, 5, 18), time(0, 0), TZ))
    import_agreement(app, QT.read_bytes(), str(QT))
    # the session's Prefect server may hold artifacts of this key from another test (the
    # same agreement, test_isolation): only this test's are counted
    started = datetime.now(UTC)

    # the draft's milestone (meeting 20/12/2022 − 7 days); the host notice was never sent,
    # so it goes first
    draft_at = local_instant(date(2022, 12, 13), time(8, 0), TZ).isoformat()
    assert review(agreement=code, at=draft_at) == ["1:host_notice", "1:draft"]
    with app.session() as s:
        kinds = sorted(s.exec(select(OutboxMessage.kind)).all())
        assert s.exec(select(Review.stage).where(Review.cycle == 1)).one() == "draft"
    assert {"host_notice", "dossier"} <= set(kinds)
    assert review(agreement=code, at=draft_at) == []  # the same run again: nothing more
    with app.session() as s:
        assert sorted(s.exec(select(OutboxMessage.kind)).all()) == kinds
    subjects = {str(m["Subject"]) for m in env.sink.messages}
    assert "[QT-KHKT-2021-2025] Hồ sơ sơ kết kỳ 1 (dự thảo)" in subjects

    # nothing ran on the meeting day nor after it: the daily sweep catches up the final
    # dossier and the carry-over, once
    sweep(at=local_instant(date(2022, 12, 27), time(7, 15), TZ).isoformat())
    with app.session() as s:
        assert s.exec(select(Review.stage).where(Review.cycle == 1)).one() == "closed"
    assert "[QT-KHKT-2021-2025] Hồ sơ sơ kết kỳ 1 (chính thức)" in {
        str(m["Subject"]) for m in env.sink.messages}

    async def artifacts(key: str):
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
                sort=ArtifactSort.CREATED_DESC)
        return [a for a in found if a.created is not None and a.created >= started]

    versions = asyncio.run(artifacts(dossier_key(code, 1)))
    assert [a.type for a in versions] == ["markdown", "markdown"]  # draft, then final
    assert "DỰ THẢO" in versions[1].description and "DỰ THẢO" not in versions[0].description
    assert "HỒ SƠ SƠ KẾT" in versions[0].description
    parties = asyncio.run(artifacts(table_key(code, 1, "parties")))
    assert parties and parties[0].type == "table"
