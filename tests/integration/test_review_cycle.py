"""A whole review cycle, as the review flow runs it: host notice, draft, final, carry-over,
each step once, its messages through a real SMTP server, the dossier link working."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import select

from models.tables import OutboxMessage, Review
from notifications.send import send_pending
from portal.app import create_app
from services.imports import import_agreement
from services.reviews import host_notice_due, run_due
from tests.integration.test_review_dossier import record
from tests.unit.test_review_content import AGREEMENT, REPLIES, at

CODE = "R-2024"


def _sent(mailer, smtp, now) -> list[tuple[str, str]]:
    before = len(smtp.sink.messages)
    send_pending(mailer, now, worker="t")
    return sorted((m["To"].addresses[0].addr_spec, str(m["Subject"]))
                  for m in smtp.sink.messages[before:])


def _stage(app) -> str:
    with app.session() as s:
        return s.exec(select(Review.stage).where(Review.cycle == 1)).one()


def test_the_review_cycle_end_to_end(mailer, smtp, clock, tmp_path: Path):
    clock.at = at("2024-01-02T00:00")
    import_agreement(mailer, AGREEMENT.replace("SUPPORT", "hkh").encode(), "r.yaml")
    record(mailer, REPLIES)
    out = tmp_path / "out"

    assert run_due(mailer, CODE, at("2025-10-23T07:59"), out) == []
    notice_at = at("2025-10-23T08:00")  # meeting 22/12/2025 − 60 days
    with mailer.session() as s:
        assert host_notice_due(s, mailer, CODE, 1, notice_at)
    [step] = run_due(mailer, CODE, notice_at, out)
    assert (step.cycle, step.step, step.messages) == (1, "host_notice", 3)
    assert run_due(mailer, CODE, notice_at, out) == []  # once
    with mailer.session() as s:
        assert not host_notice_due(s, mailer, CODE, 1, notice_at)
    assert _stage(mailer) == "host_notified"
    assert _sent(mailer, smtp, notice_at) == [
        (addr, "[R-2024] Đơn vị chủ trì sơ kết kỳ 1: họp ngày 22/12/2025")
        for addr in ("dp@hkh.example", "gd@so.example", "hoa@so.example")]
    with mailer.session() as s:
        ctx = s.exec(select(OutboxMessage.context).where(
            OutboxMessage.kind == "host_notice")).first()
    assert ctx["host"] == "Sở Giáo dục và Đào tạo tỉnh Quảng Trị"
    assert ctx["prepares"] == {"draft": "2025-12-15T08:00:00+07:00",
                               "final": "2025-12-22T08:00:00+07:00"}
    assert ctx["report_due"] == "2025-11-24"

    draft_at = at("2025-12-15T08:00")
    [step] = run_due(mailer, CODE, draft_at, out)
    assert (step.step, step.messages, step.assembled.stage) == ("draft", 3, "draft")
    assert step.assembled.paths["docx"].name == "R-2024_ky-1_du-thao.docx"
    assert _stage(mailer) == "draft"
    assert [a for a, _ in _sent(mailer, smtp, draft_at)] == [
        "dp@hkh.example", "gd@so.example", "hoa@so.example"]

    final_at = at("2025-12-22T08:00")
    [step] = run_due(mailer, CODE, final_at, out)
    assert (step.step, step.messages) == ("final", 5)
    assert step.assembled.content["summary"]["due"] == 7
    received = _sent(mailer, smtp, final_at)
    assert [a for a, _ in received] == ["dm@hkh.example", "dp@hkh.example", "gd@so.example",
                                        "hoa@so.example", "ngoc@doan.example"]
    assert {s for _, s in received} == {"[R-2024] Hồ sơ sơ kết kỳ 1 (chính thức)"}
    body = smtp.sink.messages[-1].get_body(("plain",)).get_content()
    link = re.search(r"http://127\.0\.0\.1:8600(/dossier/\S+)", body)
    assert link is not None, body
    page = TestClient(create_app(mailer)).get(link.group(1))
    assert page.status_code == 200 and "HỒ SƠ SƠ KẾT" in page.text
    assert "DỰ THẢO" not in page.text

    [step] = run_due(mailer, CODE, at("2025-12-23T08:00"), out)
    assert step.step == "close" and step.carried is not None
    assert [k.removeprefix("R-2024/") for k in step.carried.carried] == [
        "review-1/doan", "review-1/so", "tt/so/2025"]
    assert (step.carried.next["host"], step.carried.next["meeting"]) == ("hkh", "2026-12-21")
    assert _stage(mailer) == "closed"
    assert run_due(mailer, CODE, at("2025-12-24T08:00"), out) == []


def test_catching_up_after_the_meeting_builds_only_the_final(mailer, clock, tmp_path: Path):
    clock.at = at("2024-01-02T00:00")
    import_agreement(mailer, AGREEMENT.replace("SUPPORT", "hkh").encode(), "r.yaml")
    steps = run_due(mailer, CODE, at("2025-12-24T08:00"), tmp_path)
    assert [(s.cycle, s.step) for s in steps] == [(1, "final"), (1, "close")]


def test_a_cycle_met_before_registration_is_never_run(mailer, clock, tmp_path: Path):
    """Registered on 05/01/2026, after cycle 1's meeting (22/12/2025): that review happened
    on paper; only cycle 2 (meeting 21/12/2026) is phoihop's to run."""
    from services.reviews import due_codes, pending

    clock.at = at("2026-01-05T09:00")
    import_agreement(mailer, AGREEMENT.replace("SUPPORT", "hkh").encode(), "r.yaml")
    assert run_due(mailer, CODE, at("2026-01-06T08:00"), tmp_path) == []
    with mailer.session() as s:
        assert due_codes(s, mailer, at("2026-01-06T08:00")) == []
        upcoming = pending(s, mailer, at("2027-01-31T00:00"))
    assert {(p.cycle, p.step) for p in upcoming} == {
        (2, "host_notice"), (2, "draft"), (2, "final"), (2, "close")}
    steps = run_due(mailer, CODE, at("2026-12-21T08:00"), tmp_path)
    assert [(s.cycle, s.step) for s in steps] == [(2, "final")]
