"""What the flows do, as plain functions over an App (testable without Prefect)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from config.bootstrap import App
from core.calendar import zone
from flows.view import ViewRow
from models.ladder_state import FiredItem, tick
from models.tables import Agreement, Obligation, Party
from notifications.outbox import SendReport, enqueue_fired, send_pending


def fire_steps(app: App, at: datetime, agreement: str | None = None,
               flow_run: str | None = None) -> list[FiredItem]:
    """Record due ladder steps and their messages in one transaction (idempotent)."""
    with app.session(write=True) as s:
        items = tick(s, app, at, agreement, flow_run)
        enqueue_fired(s, app, items, at)
    return items


def deliver(app: App, at: datetime, worker: str) -> SendReport:
    return send_pending(app, at, worker)


def active_codes(app: App) -> list[str]:
    with app.session() as s:
        return list(s.exec(select(Agreement.code).where(Agreement.status == "active")
                           .order_by(col(Agreement.code))))


def view_rows(app: App, code: str, at: datetime) -> tuple[str, list[ViewRow]]:
    """The agreement's title and one row per obligation that is not withdrawn."""
    with app.session() as s:
        a = s.exec(select(Agreement).where(Agreement.code == code)).one()
        names = {p.key: (p.short or p.name) for p in
                 s.exec(select(Party).where(Party.agreement_id == a.id))}
        obligations = s.exec(select(Obligation).where(
            Obligation.agreement_id == a.id, col(Obligation.status) != "withdrawn")
            .order_by(col(Obligation.deadline), col(Obligation.key))).all()
    today = at.astimezone(zone(a.timezone)).date()
    rows = []
    for o in obligations:
        overdue = o.status == "open" and o.deadline <= at
        rows.append(ViewRow(
            party=o.party, party_name=names.get(o.party, o.party),
            obligation=o.key.removeprefix(f"{code}/"), due=o.due,
            status="overdue" if overdue else o.status,
            days_overdue=(today - o.due).days if overdue else 0, last_step=o.last_step))
    return a.title, rows
