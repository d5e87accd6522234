"""Rules of agreement-format.md and cli.md, each on a small agreement computed by hand.

Dates are checked against the `holidays` VN calendar: Tết 2025 is 27/01–01/02 (with
28/01 the Lunar New Year's Eve), 20/12/2025 is a Saturday.
"""

from __future__ import annotations

from datetime import date, datetime

from core.calendar import WorkCalendar, parse_instant
from core.dossier import figures
from core.expand import expand
from core.ladder import simulate
from core.parse import load_agreement
from core.replies import Reply

CAL = WorkCalendar()
TZ = "Asia/Ho_Chi_Minh"


def agreement(body: str, *, signed: str = "2024-05-10", start: str = "2024-05-10",
              end: str = "2025-02-20", extra: str = ""):
    text = f"""\
version: 1
code: R-1
title: Quy tắc
signed_on: {signed}
period: {{start: {start}, end: {end}}}
convener: a
{extra}parties:
  - id: a
    name: Hội A
    contacts:
      - {{name: Điều phối, role: coordinator, email: c@a.example}}
      - {{name: Đầu mối A, role: focal, email: f@a.example}}
  - id: b
    name: Sở B
    contacts:
      - {{name: Đầu mối B, role: focal, email: f@b.example}}
      - {{name: Giám đốc B, role: head, email: h@b.example}}
commitments:
{body}"""
    a, problems = load_agreement(text.encode(), "r.yaml")
    assert problems == [], problems
    assert a is not None
    return a


def reports(a):
    return [o for o in expand(a, CAL).obligations if o.kind == "report"]


def test_quarters_from_whole_slots_and_kept_after_period():
    a = agreement("""  - id: q
    title: Q
    lead: b
    reports:
      - {every: quarter, due: "+10d"}
""")
    got = [(o.label, o.due.isoformat()) for o in reports(a)]
    # Q2 2024 intersects a period starting 10/05; 2025-Q1 counts from 31/03 though the
    # period ends 20/02, and its due date (10/04) after the period end is kept.
    assert got == [("2024-Q2", "2024-07-10"), ("2024-Q3", "2024-10-10"),
                   ("2024-Q4", "2025-01-10"), ("2025-Q1", "2025-04-10")]


def test_months_and_due_before_signing_dropped():
    a = agreement("""  - id: m
    title: M
    lead: b
    reports:
      - {every: month, due: "+0d"}
""", signed="2024-07-15", start="2024-05-10", end="2024-09-30")
    got = [(o.label, o.due.isoformat()) for o in reports(a)]
    # May and June are due before signing; 31/08/2024 is a Saturday → Monday 02/09 is
    # National Day and 03/09 too → Wednesday 04/09.
    assert got == [("2024-07", "2024-07-31"), ("2024-08", "2024-09-04"),
                   ("2024-09", "2024-09-30")]


def _tet(adjust: str) -> str:
    a = agreement("""  - id: y
    title: Y
    lead: b
    reports:
      - {every: year, due: "01-28"}
""", start="2025-01-01", end="2025-12-31", signed="2025-01-02",
                  extra=f"due_adjust: {adjust}\n")
    return reports(a)[0].due.isoformat()


def test_due_adjust_across_tet():
    assert _tet("next") == "2025-02-03"
    assert _tet("previous") == "2025-01-24"
    assert _tet("none") == "2025-01-28"


def test_deadline_in_the_agreement_time_zone():
    a = agreement("""  - id: y
    title: Y
    lead: b
    reports:
      - {every: year, due: "12-15"}
""", extra="timezone: Europe/Berlin\n")
    o = reports(a)[0]
    assert o.as_json(a.timezone)["deadline"] == "2024-12-17T00:00:00+01:00"  # 15/12 Sunday


def test_review_cycles_every_three_years_short_final():
    a = agreement("""  - id: y
    title: Y
    lead: b
    reports:
      - {every: year, due: "12-15"}
""", start="2021-01-01", end="2025-12-31", signed="2021-03-01",
                  extra="reviews: {every_years: 3}\n")
    cycles = [r.as_json() for r in expand(a, CAL).reviews]
    assert cycles == [
        {"cycle": 1, "covers": ["2021-01-01", "2023-12-31"], "meeting": "2023-12-20",
         "host": "b", "final": False, "skipped": False},
        {"cycle": 2, "covers": ["2024-01-01", "2025-12-31"], "meeting": "2025-12-22",
         "host": "a", "final": True, "skipped": False},
    ]


def test_skipped_cycle_keeps_its_number_and_report_due_in_working_days():
    a = agreement("""  - id: y
    title: Y
    lead: b
    reports:
      - {every: year, due: "12-15"}
""", start="2021-01-01", end="2025-12-31", signed="2022-06-01",
                  extra="reviews: {every_years: 1, rotation: [a, b], report_due: -10bd}\n")
    plan = expand(a, CAL)
    assert [(r.cycle, r.host, r.skipped, r.final) for r in plan.reviews] == [
        (1, "a", True, False), (2, "b", False, False), (3, "a", False, False),
        (4, "b", False, False), (5, "a", False, True)]
    review = [o for o in plan.obligations if o.kind == "review"]
    assert {o.label for o in review} == {"review-2", "review-3", "review-4", "review-5"}
    # meeting Tue 20/12/2022; ten working days before it is Tue 06/12/2022
    assert {o.due.isoformat() for o in review if o.cycle == 2} == {"2022-12-06"}


LADDER = """escalation:
  steps:
    - {at: -2d, action: remind, to: [focal]}
    - {at: 0d, action: remind, to: [focal, supervisor]}
    - {at: +1bd, action: escalate, to: [head, convener.coordinator, host]}
"""


def _ladder_agreement():
    return agreement("""  - id: y
    title: Y
    lead: b
    reports:
      - {every: once, due: 2024-12-16}
""", extra=LADDER)


def test_tie_goes_to_the_higher_step_and_missing_roles_are_left_out():
    a = _ladder_agreement()
    plan = expand(a, CAL)
    sim = simulate(plan, CAL, date(2024, 12, 20)).as_json(a.timezone)
    events = [e for e in sim["events"] if e["obligation"] == "R-1/y/b/once"]
    # due Monday 16/12: -2d is Saturday → moves to Monday, tying with step 1; step 1 fires,
    # step 0 is skipped. No supervisor: step 1 reaches the focal only. +1bd is Tuesday.
    assert events == [
        {"at": "2024-12-16T08:00:00+07:00", "obligation": "R-1/y/b/once", "step": 1,
         "action": "remind", "to": ["b.focal"], "skipped": [0]},
        {"at": "2024-12-17T08:00:00+07:00", "obligation": "R-1/y/b/once", "step": 2,
         "action": "escalate", "to": ["a.coordinator", "b.head"], "skipped": []},
    ]


def test_reply_at_ten_does_not_change_that_days_eight_oclock_tick():
    a = _ladder_agreement()
    plan = expand(a, CAL)
    done = Reply("R-1/y/b/once", parse_instant("2024-12-16T10:00:00+07:00", TZ), "done")
    sim = simulate(plan, CAL, date(2024, 12, 20), replies=[done])
    assert [(e.obligation, e.step) for e in sim.events
            if e.obligation == "R-1/y/b/once"] == [("R-1/y/b/once", 1)]


def test_catch_up_fires_latest_and_unrecorded_at_equal_deadline():
    a = _ladder_agreement()
    plan = expand(a, CAL)
    late = parse_instant("2024-12-17T00:00:00+07:00", TZ)  # exactly the deadline
    sim = simulate(plan, CAL, date(2024, 12, 20), registered_at=late)
    assert "R-1/y/b/once" in sim.unrecorded
    early = parse_instant("2024-12-16T09:00:00+07:00", TZ)
    sim = simulate(plan, CAL, date(2024, 12, 20), registered_at=early)
    ev = [e for e in sim.events if e.obligation == "R-1/y/b/once"]
    # steps 0 and 1 (16/12 08:00) passed unfired before registration at 09:00: the first
    # tick (17/12 08:00) fires step 2 and records both as skipped
    assert [(e.step, e.skipped) for e in ev] == [(2, (0, 1))]
    assert ev[0].at == datetime.fromisoformat("2024-12-17T08:00:00+07:00")


def test_weekend_catch_up_tick_and_extension_retimes_unfired_steps():
    a = _ladder_agreement()
    plan = expand(a, CAL)
    sat = parse_instant("2024-12-14T00:00:00+07:00", TZ)  # registered on a Saturday
    ext = Reply("R-1/y/b/once", parse_instant("2024-12-14T09:00:00+07:00", TZ), "extension",
                until=date(2024, 12, 21))  # a Saturday → next working day Monday 23/12
    sim = simulate(plan, CAL, date(2024, 12, 31), registered_at=sat, replies=[ext])
    ev = [(e.at.isoformat(), e.step, e.skipped) for e in sim.events
          if e.obligation == "R-1/y/b/once"]
    assert ev == [("2024-12-23T08:00:00+07:00", 1, (0,)),
                  ("2024-12-24T08:00:00+07:00", 2, ())]


def test_dossier_extension_and_exact_deadline():
    a = agreement("""  - id: y
    title: Y
    lead: b
    support: [a]
    reports:
      - {every: year, due: "12-16", from: all}
    indicators:
      - {id: reg, label: Đăng ký, kind: count}
      - {id: ok, label: Đạt, kind: count, at_most: reg}
      - {id: rate, label: Tỷ lệ, kind: percent}
      - {id: note, label: Ghi chú, kind: text}
""", start="2024-01-01", end="2025-12-31", signed="2024-01-02")
    plan = expand(a, CAL)
    at = parse_instant("2024-12-20T08:00:00+07:00", TZ)
    replies = [
        # b: exactly at the deadline → late
        Reply("R-1/y/b/2024", parse_instant("2024-12-17T00:00:00+07:00", TZ), "done",
              values={"reg": 10, "ok": 4, "rate": 40, "note": "x"}),
        # a: extension at the same instant as its done reply, listed first → counts
        Reply("R-1/y/a/2024", parse_instant("2024-12-18T09:00:00+07:00", TZ), "extension",
              until=date(2024, 12, 19)),
        Reply("R-1/y/a/2024", parse_instant("2024-12-18T09:00:00+07:00", TZ), "done",
              values={"reg": 0, "rate": 55.5}),
    ]
    d = figures(plan, 1, at, replies, CAL)
    # cycle 1 covers 2024-2025: both years' reports (2 parties) and two review reports
    assert d["totals"] == {"due": 6, "on_time": 1, "late": 1, "missing": 0, "pending": 4}
    assert [p["on_time_rate"] for p in d["parties"]] == [1.0, 0.0]
    assert d["indicators"] == [
        {"commitment": "y", "indicator": "reg", "total": 10, "by_party": {"a": 0, "b": 10}},
        {"commitment": "y", "indicator": "ok", "total": 4, "by_party": {"b": 4}},
        {"commitment": "y", "indicator": "rate", "total": 47.75,
         "by_party": {"a": 55.5, "b": 40.0}},
    ]
    assert d["ratios"] == [{"commitment": "y", "indicator": "ok", "of": "reg", "value": 0.4}]
    assert d["next"] is None and d["final"] is True
    # listed after the done reply, the same extension does not count: late
    d2 = figures(plan, 1, at, [replies[0], replies[2], replies[1]], CAL)
    assert d2["totals"]["on_time"] == 0 and d2["totals"]["late"] == 2
