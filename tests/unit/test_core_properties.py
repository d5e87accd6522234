"""Invariants of the pure core over generated agreements (hypothesis)."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.calendar import WorkCalendar, local_instant
from core.expand import expand
from core.ladder import fire_times, simulate
from core.parse import load_agreement
from core.replies import Reply

CAL = WorkCalendar()


@st.composite
def agreements(draw):
    start = draw(st.dates(min_value=date(2020, 1, 1), max_value=date(2026, 12, 31)))
    length = draw(st.integers(min_value=30, max_value=4 * 365))
    end = start + timedelta(days=length)
    signed = start + timedelta(days=draw(st.integers(min_value=0, max_value=length)))
    adjust = draw(st.sampled_from(["next", "previous", "none"]))
    duties = []
    for every in draw(st.lists(st.sampled_from(["year", "half-year", "quarter", "month",
                                                "once"]), min_size=1, max_size=4, unique=True)):
        if every == "once":
            due = (start + timedelta(days=draw(st.integers(0, length + 60)))).isoformat()
        elif every == "year" and draw(st.booleans()):
            due = f'"{draw(st.integers(1, 12)):02d}-{draw(st.integers(1, 28)):02d}"'
        else:
            due = f'"+{draw(st.integers(0, 40))}d"'
        duties.append(f"      - {{every: {every}, due: {due}, from: all}}")
    every_years = draw(st.integers(1, 3))
    text = f"""\
version: 1
code: P-1
title: Thuộc tính
signed_on: {signed}
period: {{start: {start}, end: {end}}}
convener: a
due_adjust: {adjust}
reviews: {{every_years: {every_years}}}
parties:
  - id: a
    name: A
    contacts:
      - {{name: C, role: coordinator, email: c@a.example}}
      - {{name: F, role: focal, email: f@a.example}}
  - id: b
    name: B
    contacts:
      - {{name: F, role: focal, email: f@b.example}}
commitments:
  - id: x
    title: X
    lead: b
    support: [a]
    reports:
""" + "\n".join(duties) + "\n"
    agreement, problems = load_agreement(text.encode(), "p.yaml")
    assert problems == [], (problems, text)
    return agreement


SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(agreements())
def test_ids_unique_sorted_and_due_on_working_days(a):
    plan = expand(a, CAL)
    ids = [o.id for o in plan.obligations]
    assert len(ids) == len(set(ids))
    assert [(o.due, o.id) for o in plan.obligations] == sorted((o.due, o.id)
                                                               for o in plan.obligations)
    for o in plan.obligations:
        assert o.due >= a.signed_on
        if a.due_adjust != "none":
            assert CAL.is_working_day(o.due)


@SETTINGS
@given(agreements(), st.data())
def test_ladder_invariants(a, data):
    plan = expand(a, CAL)
    if not plan.obligations:
        return
    until = a.end + timedelta(days=120)
    done = data.draw(st.sampled_from(plan.obligations))
    done_at = local_instant(done.due - timedelta(days=3), a.ladder.send_at, a.timezone)
    sim = simulate(plan, CAL, until, replies=[Reply(done.id, done_at, "done")])
    per_tick = Counter((e.at, e.obligation) for e in sim.events)
    assert max(per_tick.values(), default=1) == 1  # one step per obligation per tick
    steps = Counter((e.obligation, e.step) for e in sim.events)
    assert max(steps.values(), default=1) == 1  # each step fires at most once
    used: dict[str, set[int]] = {}
    by_id = {o.id: o for o in plan.obligations}
    for e in sim.events:
        assert not (set(e.skipped) | {e.step}) & used.get(e.obligation, set())
        used.setdefault(e.obligation, set()).update({e.step, *e.skipped})
        if e.obligation == done.id:
            assert e.at <= done_at  # nothing after the `done` reply
        assert e.at.time() == a.ladder.send_at  # ticks are at send_at, local time
        times = fire_times(a.ladder, by_id[e.obligation].due, CAL, a.timezone)
        assert times[e.step] <= e.at  # never early
        if times[e.step] == e.at:  # a fresh step (not caught up) falls on a working day
            assert CAL.is_working_day(e.at.date())
