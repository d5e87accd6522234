"""The stored dossier: assembled from the database, equal to the file what-if, published
behind a read-only link on the portal; amendments and withdrawals; carry-over."""

from __future__ import annotations

import io
from datetime import date, time
from pathlib import Path

from docx import Document
from fastapi.testclient import TestClient
from sqlmodel import select

from core.calendar import local_instant
from core.dossier import figures
from core.expand import expand
from core.parse import load_agreement
from core.replies import load_replies
from models.links import revoke
from models.tables import Agreement, Link, Review
from portal.app import create_app
from reviews import html
from reviews import load as loader
from services.imports import import_agreement
from services.replies import record_reply
from services.reviews import assemble, carry_over
from tests.conftest import QT, QT_REPLIES
from tests.unit.test_review_content import AGREEMENT, CAL, MEETING_1, REPLIES, at

TZ = "Asia/Ho_Chi_Minh"
QT_CODE = "QT-KHKT-2021-2025"


def record(app, replies) -> None:
    with app.session(write=True) as s:
        for r in sorted(replies, key=lambda r: r.at):
            record_reply(s, app, obligation_key=r.obligation, status=r.status, at=r.at,
                         until=r.until, values=dict(r.values), percent=getattr(r, "percent", None),
                         reason=getattr(r, "reason", None), note=getattr(r, "note", None),
                         answered_by=getattr(r, "answered_by", None), source="test")


def quang_tri(app, clock):
    agreement, _ = load_agreement(QT.read_bytes(), str(QT))
    clock.at = local_instant(agreement.signed_on, time(0, 0), TZ)
    import_agreement(app, QT.read_bytes(), str(QT))
    plan = expand(agreement, CAL)
    replies, _ = load_replies(QT_REPLIES.read_bytes(), "r", TZ, {o.id for o in plan.obligations})
    record(app, replies)
    return plan, replies


def test_assembled_dossier_is_stored_with_the_file_figures(app, clock, tmp_path: Path):
    plan, replies = quang_tri(app, clock)
    when = local_instant(date(2022, 12, 20), time(8, 0), TZ)
    clock.at = when
    with app.session(write=True) as s:
        done = assemble(s, app, QT_CODE, 1, "final", when, tmp_path)
    expected = figures(plan, 1, when, replies, CAL)
    assert done.content["figures"] == expected
    assert expected["totals"] == {"due": 34, "on_time": 3, "late": 3, "missing": 27,
                                  "pending": 1}  # as cli.md prints it
    with app.session() as s:
        row = s.exec(select(Agreement).where(Agreement.code == QT_CODE)).one()
        review = s.exec(select(Review).where(Review.agreement_id == row.id,
                                             Review.cycle == 1)).one()
        assert review.stage == "final" and review.assembled_at == when
        assert review.dossier["figures"] == expected
        links = s.exec(select(Link).where(Link.purpose == "dossier")).all()
        assert [(x.agreement_id, x.cycle) for x in links] == [(row.id, 1)]
    doc = Document(io.BytesIO(done.paths["docx"].read_bytes()))
    assert any(p.text == "HỒ SƠ SƠ KẾT" for p in doc.paragraphs)
    assert "Sở Giáo dục và Đào tạo tỉnh Quảng Trị" in done.paths["html"].read_text()
    # Rebuilt later as a draft (a what-if): the stored stage does not move back, the link
    # is the same one.
    with app.session(write=True) as s:
        again = assemble(s, app, QT_CODE, 1, "draft", when, tmp_path / "again")
    assert again.url == done.url
    with app.session() as s:
        review = s.exec(select(Review).where(Review.cycle == 1)).one()
        assert (review.stage, review.dossier["stage"]) == ("final", "final")


def test_portal_serves_the_stored_dossier_read_only(app, clock, tmp_path: Path):
    quang_tri(app, clock)
    clock.at = local_instant(date(2022, 12, 13), time(8, 0), TZ)
    with app.session(write=True) as s:
        done = assemble(s, app, QT_CODE, 1, "draft", clock.at, tmp_path)
    assert done.url is not None and done.url.startswith(app.settings.portal_url + "/dossier/")
    token = done.url.rsplit("/", 1)[1]
    client = TestClient(create_app(app))
    page = client.get(f"/dossier/{token}")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == html.CSP
    assert page.headers["cache-control"] == "no-store"
    assert "DỰ THẢO" in page.text and "Hội LHPN tỉnh" in page.text
    assert "Liên đoàn Lao động tỉnh Quảng Trị" in page.text  # a lead, by its full name
    assert client.post(f"/dossier/{token}").status_code == 405
    refused = client.get("/dossier/not-a-token")
    assert refused.status_code == 404
    assert refused.text == client.get("/r/not-a-token").text  # one refusal for every link
    assert client.get(f"/dossier/{token}x").status_code == 404
    with app.session(write=True) as s:
        revoke(s, s.exec(select(Link).where(Link.purpose == "dossier")).one(), clock.at)
    assert client.get(f"/dossier/{token}").status_code == 404


def test_link_without_a_stored_dossier_is_refused(app, clock):
    quang_tri(app, clock)
    from services.reviews import dossier_link

    with app.session(write=True) as s:
        row = loader.agreement_row(s, QT_CODE)
        token = dossier_link(s, app, row.id, 2, date(2024, 12, 20), TZ, clock.at).token
    assert TestClient(create_app(app)).get(f"/dossier/{token}").status_code == 404


def test_amendment_mid_cycle_and_withdrawal(app, clock, tmp_path: Path):
    """`doan` joins commitment `tt` by an amendment on 01/06/2025 (its 2024 report was
    already overdue: unrecorded), then a second amendment on 01/09/2025 takes it out again
    (its obligations are withdrawn). Each time the stored figures equal the figures of the
    file in force with the same replies."""
    base = AGREEMENT.replace("SUPPORT", "hkh").encode()
    joined = AGREEMENT.replace("SUPPORT", "hkh, doan").encode()
    clock.at = local_instant(date(2024, 1, 2), time(0, 0), TZ)
    import_agreement(app, base, "r.yaml")
    record(app, REPLIES[:3])
    clock.at = local_instant(date(2025, 6, 1), time(9, 0), TZ)
    import_agreement(app, joined, "r.yaml")
    record(app, REPLIES[3:])

    def stored(when):
        with app.session() as s:
            return loader.build(s, app.parse_options, "R-2024", 1, when)[1]

    def file_figures(raw: bytes, when):
        agreement, _ = load_agreement(raw, "r.yaml")
        return figures(expand(agreement, CAL), 1, when, REPLIES, CAL)

    mid = stored(MEETING_1)
    assert mid["figures"] == file_figures(joined, MEETING_1)
    doan = next(p for p in mid["figures"]["parties"] if p["party"] == "doan")
    # tt/doan/2024 (unrecorded), tt/doan/2025 and review-1/doan: all missing at the meeting.
    assert (doan["due"], doan["missing"]) == (3, 3)
    assert (mid["summary"]["due"], mid["summary"]["unrecorded"]) == (9, 1)

    clock.at = local_instant(date(2025, 9, 1), time(9, 0), TZ)
    import_agreement(app, base, "r.yaml")
    after = stored(MEETING_1)
    assert after["figures"] == file_figures(base, MEETING_1)
    assert after["summary"]["due"] == 7 and after["summary"]["withdrawn"] == 2
    assert sorted(w["obligation"] for w in after["withdrawn"]) == [
        "R-2024/tt/doan/2024", "R-2024/tt/doan/2025"]
    with app.session(write=True) as s:
        done = assemble(s, app, "R-2024", 1, "final", MEETING_1, tmp_path)
    doc = Document(io.BytesIO(done.paths["docx"].read_bytes()))
    assert "Đã rút bỏ" in [p.text for p in doc.paragraphs if p.style.name == "Heading 2"]


def test_carry_over_closes_the_cycle_and_names_the_next_host(app, clock):
    clock.at = local_instant(date(2024, 1, 2), time(0, 0), TZ)
    import_agreement(app, AGREEMENT.replace("SUPPORT", "hkh").encode(), "r.yaml")
    record(app, REPLIES)
    later = at("2025-12-23T08:00")
    with app.session(write=True) as s:
        result = carry_over(s, app, "R-2024", 1, later)
    assert [k.removeprefix("R-2024/") for k in result.carried] == [
        "review-1/doan", "review-1/so", "tt/so/2025"]
    assert (result.next["cycle"], result.next["host"], result.next["meeting"]) == (
        2, "hkh", "2026-12-21")
    with app.session() as s:
        assert s.exec(select(Review.stage).where(Review.cycle == 1)).one() == "closed"
        # The next cycle's dossier lists them, with their state now.
        nxt = loader.build(s, app.parse_options, "R-2024", 2, at("2026-12-21T08:00"))[1]
    assert [o["obligation"] for o in nxt["carried_over"]] == result.carried
