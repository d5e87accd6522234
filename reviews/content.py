"""A review cycle's dossier as plain data, from the plan and the replies (pure).

Every number comes from `core.dossier` (`figures`, `cycle_states`, `state_at`): the
dossier's figures are, by construction, those of `phoihop dossier FILE --cycle K --at ISO
--json`, kept unchanged under the key "figures". Around them this module adds what a host
reads: per commitment, each report with its state and date, partners' notes, blocked
items; indicator labels and the change against the previous cycle; outstanding items;
obligations carried over from the previous cycle; the next cycle.

What only the database knows (an obligation waived, unrecorded at registration, or
withdrawn by an amendment) comes in as plain data too: `statuses` and `withdrawn`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from core.calendar import WorkCalendar, iso, zone
from core.dossier import ObligationState, cycle_states, figures, state_at
from core.expand import Obligation, Plan, ReviewCycle, review_report_due
from core.replies import Reply
from core.statuses import ObligationStatus, ReplyStatus, ReviewStage
from reviews.schedule import milestones

VERSION = 1
OPEN_STATES = ("missing", "pending")


@dataclass(frozen=True)
class ReplyDetail(Reply):
    """A reply with what partners wrote besides its status (the database's Reply row)."""

    percent: int | None = None
    reason: str | None = None
    note: str | None = None
    answered_by: str | None = None
    decision: str | None = None  # accepted | returned, by a coordinator


@dataclass(frozen=True)
class Withdrawn:
    """An obligation an amendment removed: not in the plan any more, listed apart."""

    obligation: str
    party: str
    commitment: str | None
    label: str
    kind: str
    planned_due: date
    cycle: int | None = None


def build(plan: Plan, k: int, at: datetime, replies: Sequence[Reply], cal: WorkCalendar, *,
          stage: str = ReviewStage.DRAFT, assembled_at: datetime | None = None,
          statuses: Mapping[str, str] | None = None, withdrawn: Sequence[Withdrawn] = ()
          ) -> dict[str, Any]:
    """The dossier of cycle `k` as it stands at `at` (raises core.dossier.UnknownCycle)."""
    a = plan.agreement
    fig: dict[str, Any] = figures(plan, k, at, replies, cal)
    cycle = plan.cycle(k)
    assert cycle is not None
    statuses = statuses or {}
    by_obligation = _by_obligation(replies, at)
    states = cycle_states(plan, cycle, at, replies, cal)
    history: list[dict[str, Any]] = [figures(plan, j.cycle, at, replies, cal)
                                     for j in plan.reviews if j.cycle < k]
    previous = history[-1] if history else None
    tz = a.timezone
    here = _Context(tz, by_obligation, statuses, at)
    reviews = [s for s in states if s.obligation.kind == "review"]
    out_withdrawn = [w for w in withdrawn if _in_cycle(w, cycle)]
    summary = dict(fig["totals"])
    noted = [statuses.get(s.obligation.id) for s in states]
    summary["waived"] = noted.count(ObligationStatus.WAIVED)
    summary["unrecorded"] = noted.count(ObligationStatus.UNRECORDED)
    summary["withdrawn"] = len(out_withdrawn)
    names = {p.id: {"name": p.name, "short": p.short or p.name}
             for p in (*a.parties, *a.observers)}
    return {
        "version": VERSION,
        "figures": fig,
        "stage": stage,
        "language": a.language,
        "timezone": tz,
        "at": iso(at, tz),
        "assembled_at": iso(assembled_at or at, tz),
        "agreement": {"code": a.code, "title": a.title, "convener": a.convener,
                      "signed_on": a.signed_on.isoformat(),
                      "period": [a.start.isoformat(), a.end.isoformat()]},
        "parties": names,
        "signatories": list(a.party_ids),
        "cycle": {**cycle.as_json(),
                  "milestones": milestones(a, cycle, cal).as_json(),
                  "report_due": _report_due(plan, cycle, cal)},
        "summary": summary,
        "commitments": [_commitment(plan, c.id, states, here) for c in a.commitments],
        "review_reports": [here.report(s) for s in reviews],
        "review_notes": [n for s in reviews for n in here.notes(s.obligation)],
        "review_blocked": [b for s in reviews if (b := here.blocked(s.obligation))],
        "indicators": _indicators(plan, fig, previous),
        "ratios": _ratios(plan, fig, previous),
        "history": _history(plan, [*history, fig]),
        "outstanding": [here.outstanding(s) for s in sorted(
            states, key=lambda s: (s.deadline, s.obligation.id))
            if s.state in OPEN_STATES and statuses.get(s.obligation.id) != ObligationStatus.WAIVED],
        "carried_over": _carried_over(plan, k, at, replies, cal, here),
        "withdrawn": [{"obligation": w.obligation, "party": w.party, "label": w.label,
                       "commitment": w.commitment, "planned_due": w.planned_due.isoformat()}
                      for w in out_withdrawn],
        "next": _next(plan, fig, cal),
    }


def _by_obligation(replies: Sequence[Reply], at: datetime) -> dict[str, list[Reply]]:
    """Each obligation's replies visible at `at`, in time order (input order breaks ties)."""
    out: dict[str, list[tuple[datetime, int, Reply]]] = {}
    for i, r in enumerate(replies):
        if r.at <= at:
            out.setdefault(r.obligation, []).append((r.at, i, r))
    return {k: [r for _t, _i, r in sorted(v, key=lambda x: (x[0], x[1]))] for k, v in out.items()}


@dataclass
class _Context:
    tz: str
    replies: dict[str, list[Reply]]
    statuses: Mapping[str, str]
    at: datetime

    def report(self, s: ObligationState) -> dict[str, Any]:
        o = s.obligation
        seen = self.replies.get(o.id, [])
        last = seen[-1] if seen else None
        decided = [r for r in seen if getattr(r, "decision", None)]
        return {"obligation": o.id, "party": o.party, "label": o.label, "kind": o.kind,
                "commitment": o.commitment, "due": o.due.isoformat(),
                "deadline": iso(s.deadline, self.tz),
                "extended_to": (self.due_of(s.deadline).isoformat()
                                if s.deadline != o.deadline else None),
                "state": s.state,
                "done_at": iso(s.done_at, self.tz) if s.done_at else None,
                "latest": last.status if last else None,
                "percent": getattr(last, "percent", None) if last else None,
                "decision": getattr(decided[-1], "decision", None) if decided else None,
                "status": self.statuses.get(o.id)}

    def due_of(self, deadline: datetime) -> date:
        """The due day whose deadline (the next day's 00:00 local) this is."""
        return deadline.astimezone(zone(self.tz)).date() - timedelta(days=1)

    def notes(self, o: Obligation) -> list[dict[str, Any]]:
        return [{"obligation": o.id, "party": o.party, "label": o.label,
                 "at": iso(r.at, self.tz), "status": r.status,
                 "answered_by": getattr(r, "answered_by", None), "text": note}
                for r in self.replies.get(o.id, []) if (note := getattr(r, "note", None))]

    def blocked(self, o: Obligation) -> dict[str, Any] | None:
        seen = self.replies.get(o.id, [])
        if not seen or seen[-1].status != ReplyStatus.BLOCKED:
            return None
        r = seen[-1]
        return {"obligation": o.id, "party": o.party, "label": o.label,
                "at": iso(r.at, self.tz), "reason": getattr(r, "reason", None),
                "note": getattr(r, "note", None),
                "answered_by": getattr(r, "answered_by", None)}

    def outstanding(self, s: ObligationState) -> dict[str, Any]:
        o = s.obligation
        overdue = (self.at.astimezone(zone(self.tz)).date() - self.due_of(s.deadline)).days
        return {"obligation": o.id, "party": o.party, "commitment": o.commitment,
                "label": o.label, "kind": o.kind, "due": o.due.isoformat(),
                "deadline": iso(s.deadline, self.tz), "state": s.state,
                "days_overdue": max(overdue, 0) if s.state == "missing" else 0,
                "latest": self.replies[o.id][-1].status if self.replies.get(o.id) else None,
                "status": self.statuses.get(o.id)}


def _commitment(plan: Plan, commitment_id: str, states: Sequence[ObligationState],
                here: _Context) -> dict[str, Any]:
    c = plan.agreement.commitment(commitment_id)
    assert c is not None
    mine = [s for s in states if s.obligation.commitment == commitment_id]
    return {"id": c.id, "title": c.title, "lead": c.lead, "support": list(c.support),
            "reports": [here.report(s) for s in mine],
            "notes": [n for s in mine for n in here.notes(s.obligation)],
            "blocked": [b for s in mine if (b := here.blocked(s.obligation))]}


def _in_cycle(w: Withdrawn, cycle: ReviewCycle) -> bool:
    if w.kind == "review":
        return w.cycle == cycle.cycle
    return cycle.start <= w.planned_due <= cycle.end


def _report_due(plan: Plan, cycle: ReviewCycle, cal: WorkCalendar) -> str | None:
    return None if cycle.skipped else review_report_due(plan.agreement, cycle, cal).isoformat()


def _labels(plan: Plan) -> dict[tuple[str, str], tuple[str, str]]:
    return {(c.id, i.id): (i.label, i.kind) for c in plan.agreement.commitments
            for i in c.indicators}


def _change(now: object, before: object) -> float | int | None:
    if not isinstance(now, int | float) or not isinstance(before, int | float):
        return None
    return round(now - before, 4)


def _indicators(plan: Plan, fig: dict[str, Any], previous: dict[str, Any] | None
                ) -> list[dict[str, Any]]:
    labels = _labels(plan)
    before = {(i["commitment"], i["indicator"]): i["total"]
              for i in (previous or {}).get("indicators", [])}
    out = []
    for i in fig["indicators"]:
        key = (i["commitment"], i["indicator"])
        label, kind = labels[key]
        prev = before.get(key)
        out.append({**i, "label": label, "kind": kind, "previous": prev,
                    "change": _change(i["total"], prev)})
    return out


def _ratios(plan: Plan, fig: dict[str, Any], previous: dict[str, Any] | None
            ) -> list[dict[str, Any]]:
    labels = _labels(plan)
    before = {(r["commitment"], r["indicator"]): r["value"]
              for r in (previous or {}).get("ratios", [])}
    return [{**r, "label": labels[(r["commitment"], r["indicator"])][0],
             "of_label": labels[(r["commitment"], r["of"])][0],
             "previous": before.get((r["commitment"], r["indicator"])),
             "change": _change(r["value"], before.get((r["commitment"], r["indicator"])))}
            for r in fig["ratios"]]


def _rate(totals: Mapping[str, int]) -> float | None:
    base = totals["on_time"] + totals["late"] + totals["missing"]
    return None if base == 0 else round(totals["on_time"] / base, 4)


def _history(plan: Plan, figs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per cycle up to this one: the overall on-time rate and each indicator's total."""
    labels = _labels(plan)
    indicators: dict[tuple[str, str], list[object]] = {}
    for n, f in enumerate(figs):
        for i in f["indicators"]:
            indicators.setdefault((i["commitment"], i["indicator"]), [None] * len(figs))[n] = \
                i["total"]
    return {"cycles": [f["cycle"] for f in figs],
            "on_time_rate": [_rate(f["totals"]) for f in figs],
            "indicators": [{"commitment": c, "indicator": i, "label": labels[(c, i)][0],
                            "kind": labels[(c, i)][1], "totals": totals}
                           for (c, i), totals in indicators.items()]}


def _carried_over(plan: Plan, k: int, at: datetime, replies: Sequence[Reply],
                  cal: WorkCalendar, here: _Context) -> list[dict[str, Any]]:
    """Obligations of the previous cycle still open at its meeting, with their state now."""
    prev = plan.cycle(k - 1)
    if prev is None:
        return []
    a = plan.agreement
    closed_at = min(at, milestones(a, prev, cal).final)
    out = []
    for s in cycle_states(plan, prev, closed_at, replies, cal):
        if s.state not in OPEN_STATES \
                or here.statuses.get(s.obligation.id) == ObligationStatus.WAIVED:
            continue
        o = s.obligation
        now = state_at(o, here.replies.get(o.id, []), at, cal, a.due_adjust, a.timezone)
        out.append({"obligation": o.id, "party": o.party, "commitment": o.commitment,
                    "label": o.label, "kind": o.kind, "cycle": prev.cycle,
                    "due": o.due.isoformat(), "state_then": s.state, "state_now": now.state,
                    "done_at": iso(now.done_at, a.timezone) if now.done_at else None})
    return out


def _next(plan: Plan, fig: dict[str, Any], cal: WorkCalendar) -> dict[str, Any] | None:
    nxt = fig["next"]
    if nxt is None:
        return None
    cycle = plan.cycle(nxt["cycle"])
    assert cycle is not None
    return {**nxt, "covers": [cycle.start.isoformat(), cycle.end.isoformat()],
            "final": cycle.final, "report_due": _report_due(plan, cycle, cal)}
