"""Import, re-import, amendment, listing — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import col, func, select

from models.queries import list_obligations
from models.store import ImportRejected
from models.tables import Agreement, FiredStep, Obligation, Party, Reply
from services.imports import import_agreement, import_many
from services.replies import record_reply
from tests.conftest import QT, TH

BASE = """\
version: 1
code: AM-1
title: Thử sửa đổi
signed_on: 2024-01-02
period: {start: 2024-01-01, end: 2025-12-31}
convener: hkh
parties:
  - id: hkh
    name: Hội Khuyến học
    contacts:
      - {name: Điều phối, role: coordinator, email: c@hkh.example}
      - {name: Đầu mối, role: focal, email: f@hkh.example}
  - id: so
    name: Sở Giáo dục
    contacts:
      - {name: Đầu mối Sở, role: focal, email: f@so.example}
commitments:
  - id: a
    title: Việc A
    lead: so
    reports:
      - {every: year, due: "12-15"}
  - id: b
    title: Việc B
    lead: hkh
    reports:
      - {every: half-year, due: "+15d"}
"""


def _count(app, model, *where) -> int:
    with app.session() as s:
        return s.exec(select(func.count()).select_from(model).where(*where)).one()


def test_import_examples_and_reimport_is_a_no_op(app):
    first = import_many(app, [(str(QT), QT.read_bytes()), (str(TH), TH.read_bytes())])
    assert [r.outcome for r in first] == ["created", "created"]
    assert first[0].added == 165 and first[1].added == 64
    with app.session() as s:
        before = s.exec(select(Agreement.code, Agreement.revision, Agreement.updated_at)
                        .order_by(Agreement.code)).all()
    again = import_agreement(app, QT.read_bytes(), str(QT))
    assert again.outcome == "unchanged" and again.revision == 1
    with app.session() as s:
        after = s.exec(select(Agreement.code, Agreement.revision, Agreement.updated_at)
                       .order_by(Agreement.code)).all()
    assert before == after
    assert _count(app, Obligation) == 165 + 64


def test_invalid_file_changes_nothing(app):
    import_agreement(app, BASE.encode(), "am.yaml")
    broken = BASE.replace("lead: so", "lead: nobody")
    with pytest.raises(ImportRejected) as info:
        import_many(app, [("ok.yaml", TH.read_bytes()), ("am.yaml", broken.encode())])
    assert any("nobody" in str(p) and p.file == "am.yaml" for p in info.value.problems)
    with app.session() as s:
        assert s.exec(select(Agreement.code)).all() == ["AM-1"]


def test_amendment_keeps_history_and_withdraws(app, clock):
    clock.at = datetime(2024, 1, 2, tzinfo=UTC)
    import_agreement(app, BASE.encode(), "am.yaml")
    with app.session(write=True) as s:
        record_reply(s, app, obligation_key="AM-1/b/hkh/2024-H1", status="in_progress",
                     percent=40, at=datetime(2024, 6, 1, tzinfo=UTC))
        oid = s.exec(select(Obligation.id).where(Obligation.key == "AM-1/a/so/2024")).one()
        s.add(FiredStep(obligation_id=oid, step=0, outcome="fired",
                        due_at=datetime(2024, 11, 15, 1, tzinfo=UTC),
                        recorded_at=datetime(2024, 11, 15, 1, tzinfo=UTC)))
    amended = BASE.split("commitments:")[0] + """\
  - id: doan
    name: Tỉnh Đoàn
    contacts:
      - {name: Đầu mối Đoàn, role: focal, email: f@doan.example}
commitments:
  - id: a
    title: Việc A
    lead: so
    support: [doan]
    reports:
      - {every: year, due: "12-20", from: all}
"""
    result = import_agreement(app, amended.encode(), "am.yaml")
    assert result.outcome == "amended" and result.revision == 2
    with app.session() as s:
        statuses = dict(s.exec(select(Obligation.key, Obligation.status)).all())
        moved = s.exec(select(Obligation).where(Obligation.key == "AM-1/a/so/2024")).one()
        parties = s.exec(select(Party.key).where(col(Party.active))).all()
    assert statuses["AM-1/b/hkh/2024-H1"] == "withdrawn"
    assert statuses["AM-1/a/doan/2024"] == "open"
    assert str(moved.due) == "2024-12-20" and moved.status == "open"
    assert sorted(parties) == ["doan", "hkh", "so"]
    assert _count(app, Reply) == 1 and _count(app, FiredStep) == 1


def test_unrecorded_when_registered_after_deadline(app, clock):
    clock.at = datetime(2025, 1, 10, tzinfo=UTC)
    result = import_agreement(app, BASE.encode(), "am.yaml")
    # a/so/2024 (due Mon 16/12/2024) and b/hkh/2024-H1 (due 15/07/2024) had passed;
    # b/hkh/2024-H2 is due 15/01/2025, after registration.
    assert result.unrecorded == 2
    with app.session() as s:
        rows, total = list_obligations(s, at=clock.at, status="unrecorded")
        nxt = s.exec(select(Obligation.next_fire).where(
            Obligation.key == "AM-1/a/so/2024")).one()
    assert total == 2 and {r.key for r in rows} == {"AM-1/a/so/2024", "AM-1/b/hkh/2024-H1"}
    assert nxt is None


def test_listing_filters(app, clock):
    clock.at = datetime(2022, 5, 18, tzinfo=UTC)
    import_many(app, [(str(QT), QT.read_bytes())])
    at = datetime(2022, 12, 20, 1, tzinfo=UTC)
    with app.session() as s:
        rows, total = list_obligations(s, at=at, party="so-gddt", status="overdue")
        _, all_open = list_obligations(s, at=at, status="open")
    # the 2022-H1 report (due 15/07), review-1 (due 21/11) and the 2022 report (due 15/12)
    assert total == 3
    assert {r.label for r in rows} == {"2022-H1", "review-1", "2022"}
    assert all_open == 165


def test_coordinator_decisions_on_a_submitted_reply(app, clock):
    from services.replies import ReplyRefused, decide_reply

    clock.at = datetime(2024, 1, 2, tzinfo=UTC)
    import_agreement(app, BASE.encode(), "am.yaml")
    key = "AM-1/a/so/2024"
    with app.session(write=True) as s:
        first = record_reply(s, app, obligation_key=key, status="done",
                             at=datetime(2024, 12, 1, tzinfo=UTC))
        decide_reply(s, app, first.id, "returned", "Thiếu số liệu quý 4",
                     datetime(2024, 12, 2, tzinfo=UTC))
    with app.session() as s:
        o = s.exec(select(Obligation).where(Obligation.key == key)).one()
    assert o.status == "open" and o.next_fire is not None  # the ladder resumes
    with app.session(write=True) as s:
        second = record_reply(s, app, obligation_key=key, status="done",
                              at=datetime(2024, 12, 3, tzinfo=UTC))
        decide_reply(s, app, second.id, "accepted", None, datetime(2024, 12, 4, tzinfo=UTC))
    with app.session() as s:
        o = s.exec(select(Obligation).where(Obligation.key == key)).one()
        versions = s.exec(select(Reply.version, Reply.decision).where(
            Reply.obligation_id == o.id).order_by(Reply.version)).all()
    assert o.status == "accepted" and o.next_fire is None
    assert versions == [(1, "returned"), (2, "accepted")]
    with pytest.raises(ReplyRefused), app.session(write=True) as s:
        record_reply(s, app, obligation_key=key, status="in_progress", percent=10,
                     at=datetime(2024, 12, 5, tzinfo=UTC))
