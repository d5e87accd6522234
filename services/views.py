"""The coordinators' view of an agreement: one row per obligation, as the Prefect
artifacts show it (flows/view.py renders it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import col, select

from core.calendar import zone
from core.statuses import AgreementStatus, ListedStatus, ObligationStatus
from models.tables import Agreement, Obligation, Party
from services.ports import Shell


@dataclass(frozen=True)
class ViewRow:
    party: str
    party_name: str
    obligation: str
    due: date
    status: str
    days_overdue: int
    last_step: int | None


def active_codes(shell: Shell) -> list[str]:
    """The active agreements, by code."""
    with shell.session() as s:
        return list(s.exec(select(Agreement.code).where(Agreement.status == AgreementStatus.ACTIVE)
                           .order_by(col(Agreement.code))))


def view_rows(shell: Shell, code: str, at: datetime) -> tuple[str, list[ViewRow]]:
    """The agreement's title and one row per obligation that is not withdrawn."""
    with shell.session() as s:
        a = s.exec(select(Agreement).where(Agreement.code == code)).one()
        names = {p.key: (p.short or p.name) for p in
                 s.exec(select(Party).where(Party.agreement_id == a.id))}
        obligations = s.exec(select(Obligation).where(
            Obligation.agreement_id == a.id, col(Obligation.status) != ObligationStatus.WITHDRAWN)
            .order_by(col(Obligation.deadline), col(Obligation.key))).all()
    today = at.astimezone(zone(a.timezone)).date()
    rows = []
    for o in obligations:
        overdue = o.status == ObligationStatus.OPEN and o.deadline <= at
        rows.append(ViewRow(
            party=o.party, party_name=names.get(o.party, o.party),
            obligation=o.key.removeprefix(f"{code}/"), due=o.due,
            status=ListedStatus.OVERDUE if overdue else o.status,
            days_overdue=(today - o.due).days if overdue else 0, last_step=o.last_step))
    return a.title, rows
