"""The dossier's content from plain data, against figures computed by hand.

Agreement R-2024 (below): period 01/01/2024–30/06/2026, so cycle 1 covers 2024–2025
(meeting Sat 20/12/2025 → Mon 22/12/2025) and the final cycle 2 is the short half-year
01/01/2026–30/06/2026 (meeting Sun 20/12/2026 → Mon 21/12/2026). Commitment `tt` owes a
yearly report on 15/12 from `so` and `hkh` (2024: Sun → Mon 16/12/2024; 2025: Mon
15/12/2025; 2026's report falls after the period's end and belongs to no cycle). Review
reports are due 30 days before the meeting: 22/11/2025 (Sat) → Mon 24/11/2025, and
21/11/2026 (Sat) → Mon 23/11/2026, from every signatory (hkh, so, doan).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from core.calendar import WorkCalendar
from core.dossier import UnknownCycle, figures
from core.expand import expand
from core.parse import load_agreement
from reviews.content import ReplyDetail, Withdrawn, build
from reviews.schedule import due_steps, milestones, stage_for

ICT = timezone(timedelta(hours=7))
CAL = WorkCalendar()
AGREEMENT = """\
version: 1
code: R-2024
title: Chương trình phối hợp thử nghiệm sơ kết
signed_on: 2024-01-02
period: {start: 2024-01-01, end: 2026-06-30}
convener: hkh
parties:
  - id: hkh
    name: Hội Khuyến học tỉnh Quảng Trị
    short: HKH tỉnh
    contacts:
      - {name: Điều phối viên, role: coordinator, email: dp@hkh.example}
      - {name: Đầu mối HKH, role: focal, email: dm@hkh.example}
  - id: so
    name: Sở Giáo dục và Đào tạo tỉnh Quảng Trị
    short: Sở GD&ĐT
    contacts:
      - {name: Lê Thị Hoa, role: focal, email: hoa@so.example}
      - {name: Giám đốc, role: head, email: gd@so.example}
  - id: doan
    name: Tỉnh Đoàn Quảng Trị
    contacts:
      - {name: Hồ Thị Ngọc, role: focal, email: ngoc@doan.example}
commitments:
  - id: tt
    title: Tuyên truyền về xã hội học tập
    lead: so
    support: [SUPPORT]
    reports:
      - {every: year, due: "12-15", from: all}
    indicators:
      - {id: dang-ky, label: Số đơn vị đăng ký, kind: count}
      - {id: dat, label: Số đơn vị đạt, kind: count, at_most: dang-ky}
      - {id: ty-le, label: Tỷ lệ hộ học tập, kind: percent}
  - id: kt
    title: Kiểm tra, đánh giá
    lead: hkh
reviews:
  rotation: [so, doan]
"""


def plan(support: str = "hkh"):
    agreement, problems = load_agreement(AGREEMENT.replace("SUPPORT", support).encode(),
                                         "r.yaml")
    assert agreement is not None, problems
    return expand(agreement, CAL)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ICT)


def done(obligation: str, when: str, **kw) -> ReplyDetail:
    return ReplyDetail(obligation=f"R-2024/{obligation}", at=at(when), status="done", **kw)


REPLIES = [
    done("tt/so/2024", "2024-12-10T09:00", values={"dang-ky": 100, "dat": 80, "ty-le": 50},
         note="Đã tổ chức <b>12</b> lớp ``` [link](http://x.example)", answered_by="Lê Thị Hoa"),
    ReplyDetail(obligation="R-2024/tt/hkh/2024", at=at("2024-12-12T10:00"), status="extension",
                until=date(2024, 12, 31)),
    done("tt/hkh/2024", "2024-12-30T16:00", values={"dang-ky": 40, "dat": 40, "ty-le": 70}),
    ReplyDetail(obligation="R-2024/tt/so/2025", at=at("2025-12-10T08:00"), status="blocked",
                reason="Thiếu kinh phí; đề xuất lùi sang quý I/2026", note="Xin ý kiến HKH"),
    done("tt/hkh/2025", "2025-12-17T09:00", values={"dang-ky": 60, "dat": 30, "ty-le": 90}),
    done("review-1/hkh", "2025-11-20T09:00"),
    ReplyDetail(obligation="R-2024/review-1/doan", at=at("2025-11-20T09:00"),
                status="in_progress", percent=40),
]
MEETING_1 = at("2025-12-22T08:00")


def test_the_plan_is_what_the_docstring_says():
    p = plan()
    assert [(r.cycle, r.start, r.end, r.meeting, r.host, r.final) for r in p.reviews] == [
        (1, date(2024, 1, 1), date(2025, 12, 31), date(2025, 12, 22), "so", False),
        (2, date(2026, 1, 1), date(2026, 6, 30), date(2026, 12, 21), "hkh", True)]
    dues = {o.id.removeprefix("R-2024/"): o.due for o in p.obligations}
    assert dues["tt/so/2024"] == date(2024, 12, 16)
    assert dues["review-1/doan"] == date(2025, 11, 24)
    assert dues["review-2/doan"] == date(2026, 11, 23)


def test_cycle_1_figures_by_hand():
    c = build(plan(), 1, MEETING_1, REPLIES, CAL, stage="final")
    # due: 4 reports (so, hkh × 2024, 2025) + 3 review reports.
    # on time: tt/so/2024; tt/hkh/2024 (extended to 31/12, done 30/12); review-1/hkh.
    # late: tt/hkh/2025 (17/12 after the 16/12 00:00 deadline).
    # missing: tt/so/2025 (blocked is no submission), review-1/so, review-1/doan.
    assert c["summary"] == {"due": 7, "on_time": 3, "late": 1, "missing": 3, "pending": 0,
                            "waived": 0, "unrecorded": 0, "withdrawn": 0}
    rates = {p["party"]: (p["due"], p["on_time_rate"]) for p in c["figures"]["parties"]}
    assert rates == {"doan": (1, 0.0), "hkh": (3, 0.6667), "so": (3, 0.3333)}
    totals = {i["indicator"]: (i["total"], i["by_party"]) for i in c["indicators"]}
    assert totals == {"dang-ky": (200, {"hkh": 100, "so": 100}),
                      "dat": (150, {"hkh": 70, "so": 80}),
                      "ty-le": (70.0, {"hkh": 80.0, "so": 50.0})}  # mean of 50, 70, 90
    assert [(r["indicator"], r["of"], r["value"]) for r in c["ratios"]] == [
        ("dat", "dang-ky", 0.75)]
    assert c["next"] == {"cycle": 2, "host": "hkh", "meeting": "2026-12-21",
                         "covers": ["2026-01-01", "2026-06-30"], "final": True,
                         "report_due": "2026-11-23"}


def test_figures_are_exactly_core_figures():
    p = plan()
    for k, when in ((1, MEETING_1), (1, at("2024-06-01T00:00")), (2, at("2026-12-21T08:00"))):
        assert build(p, k, when, REPLIES, CAL)["figures"] == figures(p, k, when, REPLIES, CAL)


def test_detail_per_commitment():
    c = build(plan(), 1, MEETING_1, REPLIES, CAL)
    tt = c["commitments"][0]
    assert (tt["id"], tt["lead"], tt["support"]) == ("tt", "so", ["hkh"])
    reports = {r["obligation"].removeprefix("R-2024/"): r for r in tt["reports"]}
    assert list(reports) == ["tt/hkh/2024", "tt/so/2024", "tt/hkh/2025", "tt/so/2025"]
    assert reports["tt/hkh/2024"]["extended_to"] == "2024-12-31"
    assert reports["tt/hkh/2024"]["state"] == "on_time"
    assert reports["tt/hkh/2024"]["done_at"] == "2024-12-30T16:00:00+07:00"
    assert reports["tt/so/2024"]["extended_to"] is None
    assert (reports["tt/so/2025"]["state"], reports["tt/so/2025"]["latest"]) == (
        "missing", "blocked")
    assert tt["notes"] == [{"obligation": "R-2024/tt/so/2024", "party": "so", "label": "2024",
                            "at": "2024-12-10T09:00:00+07:00", "status": "done",
                            "answered_by": "Lê Thị Hoa",
                            "text": "Đã tổ chức <b>12</b> lớp ``` [link](http://x.example)"},
                           {"obligation": "R-2024/tt/so/2025", "party": "so", "label": "2025",
                            "at": "2025-12-10T08:00:00+07:00", "status": "blocked",
                            "answered_by": None, "text": "Xin ý kiến HKH"}]
    assert [(b["party"], b["reason"], b["note"]) for b in tt["blocked"]] == [
        ("so", "Thiếu kinh phí; đề xuất lùi sang quý I/2026", "Xin ý kiến HKH")]
    kt = c["commitments"][1]
    assert (kt["reports"], kt["notes"], kt["blocked"]) == ([], [], [])
    doan = next(r for r in c["review_reports"] if r["party"] == "doan")
    assert (doan["state"], doan["latest"], doan["percent"]) == ("missing", "in_progress", 40)


def test_outstanding_and_waived():
    statuses = {"R-2024/review-1/doan": "waived"}
    c = build(plan(), 1, MEETING_1, REPLIES, CAL, statuses=statuses)
    assert c["summary"]["waived"] == 1
    assert c["figures"]["totals"]["missing"] == 3  # waived still counts as the file says
    # sorted by deadline: review-1/so (due 24/11, 28 days before 22/12), tt/so/2025 (15/12).
    assert [(o["obligation"].removeprefix("R-2024/"), o["state"], o["days_overdue"],
             o["latest"]) for o in c["outstanding"]] == [
        ("review-1/so", "missing", 28, None), ("tt/so/2025", "missing", 7, "blocked")]


def test_a_cycle_with_no_replies_at_all():
    c = build(plan(), 1, MEETING_1, [], CAL)
    assert c["summary"] == {"due": 7, "on_time": 0, "late": 0, "missing": 7, "pending": 0,
                            "waived": 0, "unrecorded": 0, "withdrawn": 0}
    assert {p["party"]: p["on_time_rate"] for p in c["figures"]["parties"]} == {
        "doan": 0.0, "hkh": 0.0, "so": 0.0}
    assert all(i["total"] is None and i["by_party"] == {} for i in c["indicators"])
    assert c["ratios"][0]["value"] is None
    assert all(not cm["notes"] and not cm["blocked"] for cm in c["commitments"])
    early = build(plan(), 1, at("2024-06-01T00:00"), [], CAL)
    assert early["summary"]["pending"] == 7
    assert {p["party"]: p["on_time_rate"] for p in early["figures"]["parties"]} == {
        "doan": None, "hkh": None, "so": None}
    assert early["outstanding"][0]["days_overdue"] == 0


def test_the_short_final_cycle_and_carry_over():
    late_reply = done("tt/so/2025", "2026-01-10T10:00")
    when = at("2026-12-21T08:00")
    c = build(plan(), 2, when, [*REPLIES, late_reply], CAL, stage="final")
    assert (c["cycle"]["final"], c["cycle"]["covers"]) == (True, ["2026-01-01", "2026-06-30"])
    # Only the three review reports: the 2026 report falls due after the period's end.
    assert c["summary"] == {"due": 3, "on_time": 0, "late": 0, "missing": 3, "pending": 0,
                            "waived": 0, "unrecorded": 0, "withdrawn": 0}
    assert all(not cm["reports"] for cm in c["commitments"])
    assert c["next"] is None and c["figures"]["next"] is None
    # Carried over: what was open at cycle 1's meeting (22/12/2025 08:00), with its state now.
    assert [(o["obligation"].removeprefix("R-2024/"), o["state_then"], o["state_now"],
             o["done_at"]) for o in c["carried_over"]] == [
        ("review-1/doan", "missing", "missing", None),
        ("review-1/so", "missing", "missing", None),
        ("tt/so/2025", "missing", "late", "2026-01-10T10:00:00+07:00")]
    # Indicators over the cycles: cycle 1's totals as they stand now, then this cycle's.
    dang_ky = next(i for i in c["history"]["indicators"] if i["indicator"] == "dang-ky")
    assert (c["history"]["cycles"], dang_ky["totals"]) == ([1, 2], [200, None])
    # cycle 1 now: on time 3, late 2 (tt/so/2025 arrived on 10/01/2026), missing 2.
    assert c["history"]["on_time_rate"] == [round(3 / 7, 4), 0.0]
    first = next(i for i in c["indicators"] if i["indicator"] == "dang-ky")
    assert (first["total"], first["previous"], first["change"]) == (None, 200, None)


def test_change_against_the_previous_cycle():
    p = plan()
    # A report due in the final cycle: an agreement ending 31/12/2026 instead.
    longer = AGREEMENT.replace("end: 2026-06-30", "end: 2026-12-31").replace("SUPPORT", "hkh")
    agreement, _ = load_agreement(longer.encode(), "r.yaml")
    assert agreement is not None
    p = expand(agreement, CAL)
    replies = [*REPLIES, done("tt/so/2026", "2026-12-01T09:00",
                              values={"dang-ky": 260, "dat": 195, "ty-le": 64.5})]
    c = build(p, 2, at("2026-12-21T08:00"), replies, CAL)
    ind = {i["indicator"]: (i["total"], i["previous"], i["change"]) for i in c["indicators"]}
    assert ind == {"dang-ky": (260, 200, 60), "dat": (195, 150, 45),
                   "ty-le": (64.5, 70.0, -5.5)}
    assert [(r["value"], r["previous"], r["change"]) for r in c["ratios"]] == [
        (0.75, 0.75, 0.0)]


def test_withdrawn_obligations_are_listed_apart():
    gone = [Withdrawn("R-2024/tt/doan/2025", "doan", "tt", "2025", "report", date(2025, 12, 15)),
            Withdrawn("R-2024/review-2/xa", "xa", None, "review-2", "review", date(2026, 11, 23),
                      cycle=2)]
    one = build(plan(), 1, MEETING_1, REPLIES, CAL, withdrawn=gone)
    two = build(plan(), 2, at("2026-12-21T08:00"), REPLIES, CAL, withdrawn=gone)
    assert one["summary"]["withdrawn"] == 1 and one["summary"]["due"] == 7
    assert [w["obligation"] for w in one["withdrawn"]] == ["R-2024/tt/doan/2025"]
    assert [w["obligation"] for w in two["withdrawn"]] == ["R-2024/review-2/xa"]


def test_a_party_added_by_an_amendment_mid_cycle():
    """`doan` joins `tt` by an amendment imported in 2025: its 2024 report had already
    passed its deadline (unrecorded: nobody asked for it). The figures stay those of the
    amended file, as `phoihop dossier` prints them; the dossier says which were unrecorded."""
    amended = plan(support="hkh, doan")
    statuses = {"R-2024/tt/doan/2024": "unrecorded"}
    c = build(amended, 1, MEETING_1, REPLIES, CAL, statuses=statuses)
    assert c["figures"] == figures(amended, 1, MEETING_1, REPLIES, CAL)
    doan = next(p for p in c["figures"]["parties"] if p["party"] == "doan")
    assert (doan["due"], doan["missing"], doan["on_time_rate"]) == (3, 3, 0.0)
    assert c["summary"]["due"] == 9 and c["summary"]["unrecorded"] == 1
    row = next(r for r in c["commitments"][0]["reports"]
               if r["obligation"] == "R-2024/tt/doan/2024")
    assert row["status"] == "unrecorded"


def test_unknown_cycle():
    with pytest.raises(UnknownCycle, match="has no review cycle 3"):
        build(plan(), 3, MEETING_1, [], CAL)


def test_milestones_and_steps():
    p = plan()
    m = milestones(p.agreement, p.cycle(1), CAL)
    assert m.as_json() == {"host_notice": "2025-10-23T08:00:00+07:00",
                           "draft": "2025-12-15T08:00:00+07:00",
                           "final": "2025-12-22T08:00:00+07:00",
                           "close": "2025-12-23T08:00:00+07:00"}
    cycle = p.cycle(1)
    assert due_steps(p.agreement, cycle, CAL, "planned", at("2025-10-23T07:59")) == []
    assert due_steps(p.agreement, cycle, CAL, "planned", at("2025-10-23T08:00")) == [
        "host_notice"]
    assert due_steps(p.agreement, cycle, CAL, "host_notified", at("2025-12-16T08:00")) == [
        "draft"]
    assert due_steps(p.agreement, cycle, CAL, "draft", at("2025-12-16T08:00")) == []
    # Catching up after the meeting: the final dossier and the close, no notice nor draft.
    assert due_steps(p.agreement, cycle, CAL, "planned", at("2025-12-24T08:00")) == [
        "final", "close"]
    assert due_steps(p.agreement, cycle, CAL, "closed", at("2026-12-24T08:00")) == []
    assert stage_for(p.agreement, cycle, CAL, at("2025-12-22T07:59")) == "draft"
    assert stage_for(p.agreement, cycle, CAL, MEETING_1) == "final"
