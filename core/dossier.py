"""Figures of a review cycle's dossier: counts per party, indicator totals and ratios.

Exactly the rules of `phoihop dossier` in `cli.md`; the review flow shows the
same figures because it calls this same function with what the database holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core.calendar import WorkCalendar, end_of_day, iso
from core.expand import Obligation, Plan, ReviewCycle
from core.ladder import extended_due
from core.replies import Reply
from core.statuses import ReplyStatus

STATES = ("on_time", "late", "missing", "pending")


class UnknownCycle(ValueError):
    pass


@dataclass(frozen=True)
class ObligationState:
    obligation: Obligation
    state: str  # on_time | late | missing | pending
    deadline: datetime  # after any extension that counts
    done_at: datetime | None
    values: dict[str, int | float | str]


def cycle_obligations(plan: Plan, cycle: ReviewCycle) -> list[Obligation]:
    """Reports whose planned due date lies within the cycle, and its review reports."""
    return [o for o in plan.obligations
            if (o.kind == "report" and cycle.start <= o.due <= cycle.end)
            or (o.kind == "review" and o.cycle == cycle.cycle)]


def state_at(o: Obligation, replies: Sequence[Reply], at: datetime, cal: WorkCalendar,
             due_adjust: str, tz: str) -> ObligationState:
    """One obligation's state at `at`; `replies` are its own, in file order."""
    ordered = sorted(enumerate(replies), key=lambda ir: (ir[1].at, ir[0]))
    visible = [r for _i, r in ordered if r.at <= at]
    done = next((r for r in visible if r.status == ReplyStatus.DONE), None)
    deadline = o.deadline
    for r in visible:  # extensions up to the done reply (file order breaks ties of time)
        if r is done:
            break
        if r.status == ReplyStatus.EXTENSION and r.until is not None:
            deadline = end_of_day(extended_due(r.until, cal, due_adjust), tz)
    if done is not None:
        state = "on_time" if done.at < deadline else "late"
    else:
        state = "missing" if deadline <= at else "pending"
    with_values = [r for r in visible if r.values]
    values = dict(with_values[-1].values) if with_values else {}
    return ObligationState(o, state, deadline, done.at if done else None, values)


def _rate(on_time: int, late: int, missing: int) -> float | None:
    base = on_time + late + missing
    return None if base == 0 else round(on_time / base, 4)


def _mean(xs: list[float]) -> float:
    return round(sum(xs) / len(xs), 4)


def figures(plan: Plan, k: int, at: datetime, replies: Sequence[Reply], cal: WorkCalendar
            ) -> dict[str, object]:
    """The dossier of cycle `k` as `phoihop dossier --json` prints it."""
    a = plan.agreement
    cycle = plan.cycle(k)
    if cycle is None:
        known = ", ".join(str(r.cycle) for r in plan.reviews)
        raise UnknownCycle(f"agreement {a.code} has no review cycle {k} (cycles: {known})")
    states = cycle_states(plan, cycle, at, replies, cal)

    counts = {pid: dict.fromkeys(("due", *STATES), 0) for pid in a.party_ids}
    totals = dict.fromkeys(("due", *STATES), 0)
    for s in states:
        for bucket in (counts.setdefault(s.obligation.party, dict.fromkeys(("due", *STATES), 0)),
                       totals):
            bucket["due"] += 1
            bucket[s.state] += 1
    parties = [{"party": pid, **c, "on_time_rate": _rate(c["on_time"], c["late"], c["missing"])}
               for pid, c in sorted(counts.items())]

    indicators, ratios = indicator_figures(plan, states)
    nxt = next((r for r in plan.reviews if r.cycle > k and not r.skipped), None)
    return {
        "agreement": a.code, "cycle": k,
        "covers": [cycle.start.isoformat(), cycle.end.isoformat()],
        "meeting": cycle.meeting.isoformat(), "host": cycle.host, "final": cycle.final,
        "at": iso(at, a.timezone),
        "totals": totals,
        "parties": parties,
        "indicators": indicators,
        "ratios": ratios,
        "next": ({"cycle": nxt.cycle, "host": nxt.host, "meeting": nxt.meeting.isoformat()}
                 if nxt else None),
    }


def cycle_states(plan: Plan, cycle: ReviewCycle, at: datetime, replies: Sequence[Reply],
                 cal: WorkCalendar) -> list[ObligationState]:
    a = plan.agreement
    by_obligation: dict[str, list[Reply]] = {}
    for r in replies:
        by_obligation.setdefault(r.obligation, []).append(r)
    return [state_at(o, by_obligation.get(o.id, []), at, cal, a.due_adjust, a.timezone)
            for o in cycle_obligations(plan, cycle)]


def indicator_figures(plan: Plan, states: Sequence[ObligationState]
                      ) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    a = plan.agreement
    indicators: list[dict[str, object]] = []
    totals: dict[tuple[str, str], float | int | None] = {}
    for c in sorted(a.commitments, key=lambda c: c.id):
        reports = [s for s in states
                   if s.obligation.kind == "report" and s.obligation.commitment == c.id]
        for ind in c.indicators:
            if ind.kind == "text":
                continue
            per_party: dict[str, list[float]] = {}
            for s in reports:
                v = s.values.get(ind.id)
                if isinstance(v, int | float) and not isinstance(v, bool):
                    per_party.setdefault(s.obligation.party, []).append(v)
            every = [v for vs in per_party.values() for v in vs]
            total: float | int | None
            if not every:
                total, by_party = None, {}
            elif ind.kind == "percent":
                total = _mean(every)
                by_party = {pid: _mean(vs) for pid, vs in sorted(per_party.items())}
            else:
                total = sum(every)
                by_party = {pid: sum(vs) for pid, vs in sorted(per_party.items())}
            totals[(c.id, ind.id)] = total
            indicators.append({"commitment": c.id, "indicator": ind.id, "total": total,
                               "by_party": by_party})
    ratios: list[dict[str, object]] = []
    for c in sorted(a.commitments, key=lambda c: c.id):
        for ind in c.indicators:
            if ind.at_most is None:
                continue
            num, den = totals.get((c.id, ind.id)), totals.get((c.id, ind.at_most))
            value = None if num is None or not den else round(num / den, 4)
            ratios.append({"commitment": c.id, "indicator": ind.id, "of": ind.at_most,
                           "value": value})
    return indicators, ratios
