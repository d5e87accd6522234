"""One agreement's failure never stops another's: a poisoned agreement beside a clean one.

The poison is a stored agreement that no longer reads (its stored source corrupted, its
ladder timing gone: what a damaged row, or a configuration that dropped what the file
named, does). Its ladder and review fail; the clean agreement's steps fire, its review
goes on, and the convener's coordinators of the poisoned one get one message through
the outbox. On SQLite and PostgreSQL (`mailer`), and through a real sweep flow run.
"""

from __future__ import annotations

from datetime import date, time

import sqlalchemy as sa
from sqlmodel import select

from core.calendar import local_instant
from models.tables import Agreement, FiredStep, Obligation, OutboxMessage, Review
from notifications.send import send_pending
from services import isolation
from services import ladder as ladder_work
from services import reviews as cycle
from services import reviews as review_work
from services.imports import import_agreement
from tests.conftest import QT

TZ = "Asia/Ho_Chi_Minh"
CLEAN = "QT-KHKT-2021-2025"
POISONED = "QT-POISONED"


def _two_agreements(app, clock) -> None:
    clock.at = local_instant(date(2022, 5, 18), time(0, 0), TZ)
    raw = QT.read_bytes()
    import_agreement(app, raw, str(QT))
    import_agreement(app, raw.replace(CLEAN.encode(), POISONED.encode()), "poisoned.yaml")
    with app.session(write=True) as s:
        s.execute(sa.update(Agreement.__table__).where(  # type: ignore[attr-defined]
            Agreement.__table__.c.code == POISONED).values(  # type: ignore[attr-defined]
            source="code: [unterminated", timing=None))


def _fired(app, code: str) -> int:
    with app.session() as s:
        return len(s.exec(select(FiredStep.id).join(Obligation).join(Agreement).where(
            Agreement.code == code, FiredStep.outcome == "fired")).all())


def test_a_poisoned_agreement_never_stops_a_clean_one(mailer, smtp, clock):
    app = mailer
    _two_agreements(app, clock)
    at = local_instant(date(2022, 12, 27), time(7, 15), TZ)
    clock.at = at

    items, failures = ladder_work.fire_steps_each(app, at)
    assert {i.agreement_code for i in items} == {CLEAN}
    assert [(f.code, f.work) for f in failures] == [(POISONED, "ladder")]
    assert "StoredAgreementUnreadable" in failures[0].error
    assert _fired(app, CLEAN) == len(items) > 0 and _fired(app, POISONED) == 0

    with app.session() as s:
        due = cycle.due_codes(s, app, at)
    assert due == [CLEAN, POISONED]
    done, review_failures = review_work.review_each(app, due, at)
    assert [d.step for d in done[CLEAN]] == ["final", "close"]
    assert [(f.code, f.work) for f in review_failures] == [(POISONED, "review")]
    with app.session() as s:
        stages = dict(s.execute(sa.select(Agreement.code, Review.stage).join(
            Review, Review.agreement_id == Agreement.id).where(Review.cycle == 1)).all())
    assert stages == {CLEAN: "closed", POISONED: "planned"}

    assert isolation.report_failures(app, failures + review_failures, at) == 2
    assert isolation.report_failures(app, failures + review_failures, at) == 0  # once a day
    report = send_pending(app, at, "test")
    assert report.dead == 0 and report.sent > 0
    subjects = [str(m["Subject"]) for m in smtp.sink.messages]
    assert f"Lỗi khi xử lý chương trình {POISONED}: nhắc việc" in subjects
    assert f"Lỗi khi xử lý chương trình {POISONED}: đánh giá" in subjects
    with app.session() as s:
        failure_rows = s.exec(select(OutboxMessage).where(OutboxMessage.kind == "failure")).all()
    assert {r.state for r in failure_rows} == {"sent"} and len(failure_rows) == 2


def test_the_sweep_flow_goes_on_and_says_who_failed(prefect_harness, tmp_path, monkeypatch):
    """A real sweep run (Prefect test server): Failed, naming the poisoned agreement, an
    artifact listing it, the clean agreement's review closed and its mail sent."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from config.bootstrap import bootstrap
    from config.settings import load_settings
    from flows.ladder import sweep
    from models.migrate import upgrade
    from tests.conftest import FixedClock
    from tests.smtp_sink import SmtpServer

    with SmtpServer() as smtp:
        monkeypatch.setenv("PHOIHOP_DATA_DIR", str(tmp_path))
        monkeypatch.setenv("PHOIHOP_DATABASE_URL", f"sqlite:///{tmp_path / 'flows.db'}")
        monkeypatch.setenv("PHOIHOP_MAIL__PORT", str(smtp.port))
        monkeypatch.delenv("PHOIHOP_CONFIG", raising=False)
        clock = FixedClock(local_instant(date(2022, 5, 18), time(0, 0), TZ))
        app = bootstrap(load_settings(), clock=clock)
        upgrade(app.engine)
        _two_agreements(app, clock)
        state = sweep(at=local_instant(date(2022, 12, 27), time(7, 15), TZ).isoformat(),
                      return_state=True)
        assert state.is_failed(), state
        assert POISONED in (state.message or "") and CLEAN not in (state.message or "")
        with app.session() as s:
            stages = dict(s.execute(sa.select(Agreement.code, Review.stage).join(
                Review, Review.agreement_id == Agreement.id).where(Review.cycle == 1)).all())
        assert stages == {CLEAN: "closed", POISONED: "planned"}
        assert _fired(app, CLEAN) > 0 and _fired(app, POISONED) == 0
        subjects = {str(m["Subject"]) for m in smtp.sink.messages}
        assert f"[{CLEAN}] Hồ sơ sơ kết kỳ 1 (chính thức)" in subjects
        assert f"Lỗi khi xử lý chương trình {POISONED}: nhắc việc" in subjects

        async def failures_artifact():
            async with get_client() as client:
                return await client.read_artifacts(
                    artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["failures"])))

        found = asyncio.run(failures_artifact())
        assert found and POISONED in str(found[0].data) and CLEAN not in str(found[0].data)

        # the review flow of the poisoned agreement alone: Failed, saying why
        from flows.review import review

        alone = review(agreement=POISONED, at=local_instant(date(2022, 12, 27), time(8, 0),
                                                             TZ).isoformat(), return_state=True)
        assert alone.is_failed() and "StoredAgreementUnreadable" in (alone.message or "")
        app.engine.dispose()


def test_a_run_whose_sends_all_failed_is_not_completed(prefect_harness, tmp_path, monkeypatch):
    """The mail server unreachable (a loopback port nothing listens on): the ladder run
    ends Failed saying 0 sent and how many wait, not "Completed: sent 1". The server
    back, the next run delivers them and is Completed."""
    from config.bootstrap import bootstrap
    from config.settings import load_settings
    from flows.ladder import ladder
    from models.migrate import upgrade
    from tests.conftest import FixedClock
    from tests.smtp_sink import SmtpServer, free_port

    monkeypatch.setenv("PHOIHOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PHOIHOP_DATABASE_URL", f"sqlite:///{tmp_path / 'flows.db'}")
    monkeypatch.setenv("PHOIHOP_MAIL__PORT", str(free_port()))
    monkeypatch.setenv("PHOIHOP_SEND_DEADLINE_SECONDS", "3")
    monkeypatch.delenv("PHOIHOP_CONFIG", raising=False)
    clock = FixedClock(local_instant(date(2022, 5, 18), time(0, 0), TZ))
    app = bootstrap(load_settings(), clock=clock)
    upgrade(app.engine)
    import_agreement(app, QT.read_bytes(), str(QT))
    at = local_instant(date(2022, 12, 27), time(7, 15), TZ).isoformat()
    state = ladder(agreement=CLEAN, at=at, return_state=True)
    assert state.is_failed(), state
    assert "không gửi được thư nào" in state.message and "Thư đã gửi: 0," in state.message
    with app.session() as s:
        rows = s.exec(select(OutboxMessage.state)).all()
    assert rows and set(rows) == {"retry_wait"}  # waiting, none given up, none sent
    assert f"(còn chờ trong hộp thư đi: {len(rows)})" in state.message

    with SmtpServer() as smtp:
        monkeypatch.setenv("PHOIHOP_MAIL__PORT", str(smtp.port))
        with app.session(write=True) as s:  # due now rather than after the backoff
            s.execute(sa.update(OutboxMessage.__table__).values(  # type: ignore[attr-defined]
                next_attempt_at=clock.at))
        again = ladder(agreement=CLEAN, at=at, return_state=True)
        assert again.is_completed(), again
        with app.session() as s:
            assert set(s.exec(select(OutboxMessage.state)).all()) == {"sent"}
        assert len(smtp.sink.messages) > 0
    app.engine.dispose()
