"""What the dossier needs, read from the database as plain data.

The stored agreement's plan as last imported (withdrawn obligations are not in it: they
come apart, as `Withdrawn`), every recorded reply in the order it was recorded
(returned ones included: history stands), and the statuses only the database knows
(waived, unrecorded). `content.build` on these gives the same figures as `phoihop dossier`
on the agreement file and the equivalent replies file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.expand import Plan
from core.parse import ParseOptions
from core.statuses import ObligationStatus, ReviewStage
from models.ladder_state import LoadedAgreement, load_stored
from models.links import LinkRefused, resolve
from models.sql import table
from models.tables import Agreement, Obligation, Reply, Review
from reviews import content
from reviews.content import ReplyDetail, Withdrawn
from reviews.schedule import stage_for

NOTED_STATUSES = (ObligationStatus.WAIVED, ObligationStatus.UNRECORDED, ObligationStatus.WITHDRAWN)


class UnknownAgreement(LookupError):
    pass


@dataclass
class Inputs:
    loaded: LoadedAgreement
    replies: list[ReplyDetail]
    statuses: dict[str, str]
    withdrawn: list[Withdrawn]

    @property
    def row(self) -> Agreement:
        return self.loaded.row

    @property
    def plan(self) -> Plan:
        return self.loaded.plan


def agreement_row(s: Session, code: str) -> Agreement:
    row = s.exec(select(Agreement).where(Agreement.code == code)).first()
    if row is None or row.id is None:
        raise UnknownAgreement(f"no stored agreement {code!r} (see: phoihop agreements)")
    return row


def replies_of(s: Session, agreement_id: int) -> list[ReplyDetail]:
    """Columns, not ORM objects: a national run reads hundreds of thousands of replies."""
    r, o = table(Reply).c, table(Obligation).c
    rows = s.execute(sa.select(o.key, r.recorded_at, r.status, r.until, r["values"], r.percent,
                               r.reason, r.note, r.answered_by, r.decision)
                     .join_from(table(Obligation), table(Reply), r.obligation_id == o.id)
                     .where(o.agreement_id == agreement_id)
                     .order_by(r.recorded_at, r.id)).all()
    return [ReplyDetail(obligation=key, at=at, status=status, until=until,
                        values=dict(values or {}), percent=percent, reason=reason, note=note,
                        answered_by=answered_by, decision=decision)
            for key, at, status, until, values, percent, reason, note, answered_by, decision
            in rows]


def inputs(s: Session, options: ParseOptions, code: str) -> Inputs:
    row = agreement_row(s, code)
    assert row.id is not None
    loaded = load_stored(s, options, row)
    statuses: dict[str, str] = {}
    withdrawn: list[Withdrawn] = []
    for o in s.exec(select(Obligation).where(Obligation.agreement_id == row.id,
                                            col(Obligation.status).in_(NOTED_STATUSES))):
        statuses[o.key] = o.status
        if o.status == ObligationStatus.WITHDRAWN:
            withdrawn.append(Withdrawn(o.key, o.party, o.commitment, o.label, o.kind,
                                       o.planned_due, o.cycle))
    return Inputs(loaded, replies_of(s, row.id), statuses, withdrawn)


def build(s: Session, options: ParseOptions, code: str, cycle: int, at: datetime,
          stage: str | None = None, assembled_at: datetime | None = None
          ) -> tuple[Inputs, dict[str, Any]]:
    """The dossier content of a stored agreement's cycle as it stands at `at` (read only).

    `stage` defaults to what the date says: the final dossier from the meeting on.
    Raises UnknownAgreement, core.dossier.UnknownCycle, StoredAgreementUnreadable."""
    got = inputs(s, options, code)
    plan = got.plan
    if stage is None:
        review = plan.cycle(cycle)
        stage = stage_for(plan.agreement, review, options.calendar, at) if review \
            else ReviewStage.DRAFT
    data = content.build(plan, cycle, at, got.replies, options.calendar, stage=stage,
                         assembled_at=assembled_at, statuses=got.statuses,
                         withdrawn=got.withdrawn)
    return got, data


def review_row(s: Session, agreement_id: int, cycle: int) -> Review | None:
    return s.exec(select(Review).where(Review.agreement_id == agreement_id,
                                       Review.cycle == cycle)).first()


def stored_dossier(s: Session, token: str, now: datetime) -> dict[str, Any]:
    """The stored dossier a live dossier link names, or LinkRefused (reads only).

    A dossier link (purpose "dossier") is bound to an agreement and a cycle; a cycle
    with no stored dossier yet is refused as a bad link is."""
    link = resolve(s, token, now, ("dossier",))
    if link.agreement_id is None or link.cycle is None:
        raise LinkRefused
    review = review_row(s, link.agreement_id, link.cycle)
    if review is None or not review.dossier or s.get(Agreement, link.agreement_id) is None:
        raise LinkRefused
    return dict(review.dossier)
