"""Expansion: an agreement becomes obligations and review cycles (what `plan` prints)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from core.agreement import Agreement, ReportDuty
from core.calendar import WorkCalendar, add_years, end_of_day, iso

QUARTERS = ((1, 3), (4, 6), (7, 9), (10, 12))


@dataclass(frozen=True)
class Obligation:
    id: str
    commitment: str | None
    party: str
    label: str
    kind: str  # "report" | "review"
    due: date
    deadline: datetime
    cycle: int | None = None  # for review reports

    def as_json(self, tz: str) -> dict[str, object]:
        return {
            "id": self.id, "commitment": self.commitment, "party": self.party,
            "label": self.label, "kind": self.kind, "due": self.due.isoformat(),
            "deadline": iso(self.deadline, tz),
        }


@dataclass(frozen=True)
class ReviewCycle:
    cycle: int
    start: date
    end: date
    meeting: date
    host: str
    final: bool
    skipped: bool

    def as_json(self) -> dict[str, object]:
        return {
            "cycle": self.cycle, "covers": [self.start.isoformat(), self.end.isoformat()],
            "meeting": self.meeting.isoformat(), "host": self.host,
            "final": self.final, "skipped": self.skipped,
        }


@dataclass(frozen=True)
class Plan:
    agreement: Agreement
    obligations: tuple[Obligation, ...]
    reviews: tuple[ReviewCycle, ...]

    def as_json(self) -> dict[str, object]:
        tz = self.agreement.timezone
        return {
            "agreement": self.agreement.code,
            "obligations": [o.as_json(tz) for o in self.obligations],
            "reviews": [r.as_json() for r in self.reviews],
        }

    def cycle(self, k: int) -> ReviewCycle | None:
        return next((r for r in self.reviews if r.cycle == k), None)


def slots(every: str, start: date, end: date) -> Iterator[tuple[str, date, date]]:
    """(label, first day, last day) of each calendar slot that intersects [start, end]."""
    if every == "once":
        yield "once", start, end
        return
    for year in range(start.year, end.year + 1):
        if every == "year":
            spans = [(str(year), date(year, 1, 1), date(year, 12, 31))]
        elif every == "half-year":
            spans = [(f"{year}-H1", date(year, 1, 1), date(year, 6, 30)),
                     (f"{year}-H2", date(year, 7, 1), date(year, 12, 31))]
        elif every == "quarter":
            spans = [(f"{year}-Q{q}", date(year, m1, 1), _month_end(year, m2))
                     for q, (m1, m2) in enumerate(QUARTERS, 1)]
        elif every == "month":
            spans = [(f"{year}-{m:02d}", date(year, m, 1), _month_end(year, m))
                     for m in range(1, 13)]
        else:
            raise ValueError(f"unknown frequency {every!r}")
        for label, first, last in spans:
            if first <= end and last >= start:
                yield label, first, last


def _month_end(year: int, month: int) -> date:
    nxt = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return nxt - timedelta(days=1)


def planned_due(duty: ReportDuty, slot_year: int, slot_last: date) -> date:
    """The due date of one slot, before `due_adjust`."""
    if duty.due.startswith("+"):
        return slot_last + timedelta(days=int(duty.due[1:-1]))
    if duty.every == "once":
        return date.fromisoformat(duty.due)
    month, day = (int(x) for x in duty.due.split("-"))
    return date(slot_year, month, day)


def review_cycles(a: Agreement, cal: WorkCalendar) -> list[ReviewCycle]:
    policy = a.reviews
    month, day = (int(x) for x in policy.due.split("-"))
    out: list[ReviewCycle] = []
    k = 1
    while True:
        first = add_years(a.start, (k - 1) * policy.every_years)
        if first > a.end:
            break
        last = min(add_years(a.start, k * policy.every_years) - timedelta(days=1), a.end)
        meeting = cal.adjust(date(last.year, month, day), a.due_adjust)
        final = last == a.end
        if final:
            host = policy.final_host or a.convener
        else:
            host = policy.rotation[(k - 1) % len(policy.rotation)]
        out.append(ReviewCycle(cycle=k, start=first, end=last, meeting=meeting, host=host,
                               final=final, skipped=meeting < a.signed_on))
        if final:
            break
        k += 1
    return out


def review_report_due(a: Agreement, cycle: ReviewCycle, cal: WorkCalendar) -> date:
    return cal.adjust(cal.shift(cycle.meeting, a.reviews.report_due), a.due_adjust)


@lru_cache(maxsize=16)
def expand(a: Agreement, cal: WorkCalendar) -> Plan:
    """Every obligation the agreement creates, sorted by due date then id, and its reviews.

    Plans are immutable, so the last few are cached (validation and import both expand).
    """
    obligations: list[Obligation] = []
    tz = a.timezone
    for c in a.commitments:
        for duty in c.reports:
            for label, _first, last in slots(duty.every, a.start, a.end):
                due = cal.adjust(planned_due(duty, last.year, last), a.due_adjust)
                if due < a.signed_on:
                    continue
                deadline = end_of_day(due, tz)
                for party in duty.owed_by:
                    obligations.append(Obligation(
                        id=f"{a.code}/{c.id}/{party}/{label}", commitment=c.id, party=party,
                        label=label, kind="report", due=due, deadline=deadline))
    cycles = review_cycles(a, cal)
    for cycle in cycles:
        if cycle.skipped:
            continue
        due = review_report_due(a, cycle, cal)
        if due < a.signed_on:
            continue
        deadline = end_of_day(due, tz)
        for signatory in a.parties:
            obligations.append(Obligation(
                id=f"{a.code}/review-{cycle.cycle}/{signatory.id}", commitment=None,
                party=signatory.id, label=f"review-{cycle.cycle}", kind="review", due=due,
                deadline=deadline, cycle=cycle.cycle))
    obligations.sort(key=lambda o: (o.due, o.id))
    return Plan(agreement=a, obligations=tuple(obligations), reviews=tuple(cycles))
