"""Reading what is stored: counted and paged in SQL, materialised only for what is shown."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.statuses import ListedStatus, ObligationStatus, Role
from models.sql import table
from models.tables import Agreement, Contact, Obligation, Party

LISTABLE = tuple(ListedStatus)


@dataclass(frozen=True)
class ObligationRow:
    key: str
    agreement: str
    commitment: str | None
    party: str
    label: str
    kind: str
    due: object
    deadline: datetime
    status: str
    last_step: int | None
    next_fire: datetime | None
    timezone: str

    def shown_status(self, at: datetime) -> str:
        """The status `--status` filters by: an open obligation is `overdue` or `upcoming`
        at `at` (the filter `open` takes both)."""
        if self.status == ObligationStatus.OPEN:
            return ListedStatus.OVERDUE if self.deadline <= at else ListedStatus.UPCOMING
        return self.status


def _filtered(agreement: str | None, party: str | None, status: str | None,
              at: datetime) -> sa.Select[Any]:
    if status is not None and status not in LISTABLE:
        raise ValueError(f"status must be one of: {', '.join(LISTABLE)}")
    columns: list[Any] = [
        Obligation.key, Agreement.code, Obligation.commitment, Obligation.party,
        Obligation.label, Obligation.kind, Obligation.due, Obligation.deadline,
        Obligation.status, Obligation.last_step, Obligation.next_fire, Agreement.timezone]
    q = sa.select(*columns).join(Agreement, col(Agreement.id) == Obligation.agreement_id)
    if agreement:
        q = q.where(col(Agreement.code) == agreement)
    if party:
        q = q.where(col(Obligation.party) == party)
    if status == ListedStatus.OVERDUE:
        q = q.where(col(Obligation.status) == ObligationStatus.OPEN, col(Obligation.deadline) <= at)
    elif status == ListedStatus.UPCOMING:
        q = q.where(col(Obligation.status) == ObligationStatus.OPEN, col(Obligation.deadline) > at)
    elif status:
        q = q.where(col(Obligation.status) == status)
    return q


def list_obligations(s: Session, *, at: datetime, agreement: str | None = None,
                     party: str | None = None, status: str | None = None,
                     limit: int | None = 100, offset: int = 0
                     ) -> tuple[list[ObligationRow], int]:
    """A page of obligations sorted by deadline then id (`limit=None`: all of them), and
    how many match in all."""
    q = _filtered(agreement, party, status, at)
    total = s.execute(select(sa.func.count()).select_from(q.subquery())).scalar_one()
    page = s.execute(q.order_by(col(Obligation.deadline), col(Obligation.key))
                     .limit(limit).offset(offset)).all()
    return [ObligationRow(*r) for r in page], int(total)


def overdue_at(s: Session, at: datetime, limit: int = 100, offset: int = 0
               ) -> tuple[list[ObligationRow], int]:
    return list_obligations(s, at=at, status=ListedStatus.OVERDUE, limit=limit, offset=offset)


@dataclass(frozen=True)
class AgreementSummary:
    code: str
    title: str
    period_start: object
    period_end: object
    parties: int
    open: int
    overdue: int
    submitted: int
    revision: int


def agreements_summary(s: Session, at: datetime) -> list[AgreementSummary]:
    from models.tables import Party

    parties: dict[int | None, int] = {r[0]: r[1] for r in s.execute(
        select(Party.agreement_id, sa.func.count()).where(
            col(Party.active), ~col(Party.observer)).group_by(col(Party.agreement_id)))}
    is_open = col(Obligation.status) == ObligationStatus.OPEN
    counts = {r[0]: r[1:] for r in s.execute(select(
        Obligation.agreement_id,
        sa.func.sum(sa.case((is_open, 1), else_=0)),
        sa.func.sum(sa.case((sa.and_(is_open, col(Obligation.deadline) <= at), 1), else_=0)),
        sa.func.sum(sa.case((col(Obligation.status).in_(
            (ObligationStatus.SUBMITTED, ObligationStatus.ACCEPTED)), 1), else_=0)),
    ).group_by(col(Obligation.agreement_id))).all()}
    out = []
    for a in s.exec(select(Agreement).order_by(col(Agreement.code))):
        o, d, sub = counts.get(a.id, (0, 0, 0))
        out.append(AgreementSummary(a.code, a.title, a.period_start, a.period_end,
                                    parties.get(a.id or 0, 0), int(o or 0), int(d or 0),
                                    int(sub or 0), a.revision))
    return out


@dataclass(frozen=True)
class NextStep:
    agreement: str
    obligation: str
    party: str
    at: datetime
    last_step: int | None
    timezone: str


def next_steps(s: Session, after: datetime, limit: int = 20) -> list[NextStep]:
    """What the ladder will send next: open obligations by their next fire time."""
    columns: list[Any] = [Agreement.code, Obligation.key, Obligation.party,
                          Obligation.next_fire, Obligation.last_step, Agreement.timezone]
    rows = s.execute(sa.select(*columns)
                     .join(Agreement, col(Agreement.id) == Obligation.agreement_id)
                     .where(col(Obligation.status) == ObligationStatus.OPEN,
                            col(Obligation.next_fire) >= after)
                     .order_by(col(Obligation.next_fire), col(Obligation.key)).limit(limit)).all()
    return [NextStep(*r) for r in rows]


def count_next_steps(s: Session, after: datetime) -> int:
    """How many open obligations have a step still to send at or after `after`."""
    return int(s.execute(sa.select(sa.func.count()).select_from(Obligation).where(
        col(Obligation.status) == ObligationStatus.OPEN,
        col(Obligation.next_fire) >= after)).scalar_one())


def coordinators(s: Session, agreement_id: int) -> list[Any]:
    """The convener's active coordinators of an agreement (`id`, `email`, `channels`), by id:
    who decides on partners' replies and hears that a contact cannot be reached."""
    return list(s.execute(_coordinators_query(), {"agreement": agreement_id}).all())


@functools.cache
def _coordinators_query() -> sa.Select[Any]:
    c, p, a = (table(m) for m in (Contact, Party, Agreement))
    return (sa.select(c.c.id, c.c.email, c.c.channels)
            .select_from(c.join(p, p.c.id == c.c.party_id).join(a, a.c.id == p.c.agreement_id))
            .where(a.c.id == sa.bindparam("agreement"), p.c.key == a.c.convener, p.c.active,
                   c.c.role == Role.COORDINATOR, c.c.active).order_by(c.c.id))
