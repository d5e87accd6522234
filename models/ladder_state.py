"""The ladder against the database: which steps fire now, recorded exactly once.

`tick` is what the ladder and sweep flows call inside one write transaction. A step
is recorded by inserting its FiredStep row with ON CONFLICT DO NOTHING: whichever
transaction inserts it owns it and returns it (to be enqueued for sending); a second,
overlapping tick finds the row there and returns nothing for it. Obligation rows are
locked (PostgreSQL `FOR UPDATE`; SQLite's write lock is taken at BEGIN IMMEDIATE), so a
`done` reply committed before the tick is seen and nothing fires after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from config.bootstrap import App
from core.agreement import Agreement as CoreAgreement
from core.agreement import Ladder
from core.calendar import zone
from core.expand import Obligation as CoreObligation
from core.expand import Plan, expand
from core.ladder import decide, fire_times, ladder_from_timing, next_fire, reach
from core.parse import load_agreement
from models.tables import Agreement, Contact, FiredStep, Obligation, Party


@dataclass(frozen=True)
class FiredItem:
    obligation_id: int
    obligation_key: str
    agreement_code: str
    step: int
    action: str
    recipients: tuple[tuple[str, int], ...]  # (party key, contact id)
    skipped: tuple[int, ...]
    at: datetime


@dataclass
class LoadedAgreement:
    row: Agreement
    agreement: CoreAgreement
    plan: Plan
    hosts: dict[int, str] = field(default_factory=dict)
    contacts: dict[tuple[str, str, str | None, str], int] = field(default_factory=dict)


class StoredAgreementUnreadable(RuntimeError):
    pass


def load_stored(s: Session, app: App, row: Agreement) -> LoadedAgreement:
    """The stored source, parsed and expanded, with contact ids to resolve recipients."""
    agreement, problems = load_agreement(row.source.encode(), row.source_name or row.code,
                                         app.parse_options)
    if agreement is None:
        raise StoredAgreementUnreadable(
            f"{row.code}: the stored agreement no longer validates with this configuration: "
            + "; ".join(str(p) for p in problems[:3]))
    plan = expand(agreement, app.calendar)
    loaded = LoadedAgreement(row, agreement, plan, {r.cycle: r.host for r in plan.reviews})
    rows = s.exec(select(Party.key, Contact).join(Contact, col(Contact.party_id) == Party.id)
                  .where(Party.agreement_id == row.id, col(Contact.active), col(Party.active)))
    for party_key, contact in rows:
        assert contact.id is not None
        loaded.contacts[(party_key, contact.role, contact.email, contact.name)] = contact.id
    return loaded


def core_obligation(o: Obligation) -> CoreObligation:
    return CoreObligation(id=o.key, commitment=o.commitment, party=o.party, label=o.label,
                          kind=o.kind, due=o.due, deadline=o.deadline, cycle=o.cycle)


def _insert_ignore(s: Session) -> sa.Insert:
    table = FiredStep.__table__  # type: ignore[attr-defined]
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        return pg_insert(table).on_conflict_do_nothing(index_elements=["obligation_id", "step"])
    return sqlite_insert(table).on_conflict_do_nothing(index_elements=["obligation_id", "step"])


def tick(s: Session, app: App, now: datetime, agreement_code: str | None = None,
         flow_run: str | None = None) -> list[FiredItem]:
    """Fire what is due at `now`: at most one step per obligation, the rest skipped."""
    query = (select(Obligation).join(Agreement, col(Agreement.id) == Obligation.agreement_id)
             .where(Obligation.status == "open", col(Obligation.next_fire) <= now)
             .order_by(col(Obligation.agreement_id), col(Obligation.id)))
    if agreement_code is not None:
        query = query.where(Agreement.code == agreement_code)
    if s.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Obligation)
    due_now = list(s.exec(query))
    if not due_now:
        return []
    used = used_steps(s, [o.id for o in due_now if o.id is not None])
    loaded: dict[int, LoadedAgreement] = {}
    fired: list[FiredItem] = []
    for o in due_now:
        assert o.id is not None
        la = loaded.get(o.agreement_id)
        if la is None:
            row = s.get(Agreement, o.agreement_id)
            assert row is not None
            la = loaded[o.agreement_id] = load_stored(s, app, row)
        a = la.agreement
        times = fire_times(a.ladder, o.due, app.calendar, a.timezone)
        spent = used.get(o.id, set())
        decision = decide(times, spent, now)
        if decision is None:
            o.next_fire = next_fire(times, spent)
            s.add(o)
            continue
        rows = [dict(obligation_id=o.id, step=i, outcome="skipped", due_at=times[i],
                     recorded_at=now, flow_run=flow_run) for i in decision.skipped]
        if rows:
            s.execute(_insert_ignore(s), rows)
        inserted = s.execute(_insert_ignore(s).values(
            obligation_id=o.id, step=decision.step, outcome="fired", due_at=times[decision.step],
            recorded_at=now, flow_run=flow_run).returning(FiredStep.__table__.c.id)  # type: ignore[attr-defined]
        ).first()
        won = inserted is not None  # a concurrent tick that got there first owns the step
        spent = spent | {decision.step, *decision.skipped}
        o.last_step = max(o.last_step if o.last_step is not None else -1, decision.step)
        o.next_fire = next_fire(times, spent)
        o.updated_at = now
        s.add(o)
        if not won:
            continue
        step = a.ladder.steps[decision.step]
        reached = reach(a, core_obligation(o), step, la.hosts.get(o.cycle or 0))
        recipients = tuple(dict.fromkeys(
            (pid, la.contacts[key]) for pid, c in reached
            if (key := (pid, c.role, c.email, c.name)) in la.contacts))
        fired.append(FiredItem(o.id, o.key, la.row.code, decision.step, step.action, recipients,
                               decision.skipped, now))
    s.flush()
    return fired


def used_steps(s: Session, ids: Iterable[int]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    id_list = list(ids)
    for i in range(0, len(id_list), 900):
        chunk = id_list[i:i + 900]
        for oid, step in s.execute(select(FiredStep.obligation_id, FiredStep.step)
                                   .where(col(FiredStep.obligation_id).in_(chunk))):
            out.setdefault(oid, set()).add(step)
    return out


def reschedule(s: Session, app: App, o: Obligation, agreement: CoreAgreement) -> None:
    """Recompute when the obligation's next unused step fires (after a due-date change)."""
    assert o.id is not None
    spent = used_steps(s, [o.id]).get(o.id, set())
    times = fire_times(agreement.ladder, o.due, app.calendar, agreement.timezone)
    o.next_fire = next_fire(times, spent) if o.status == "open" else None


def upcoming_fire_times(s: Session, app: App, now: datetime, horizon_days: int,
                        agreement_code: str | None = None
                        ) -> dict[str, dict[datetime, set[str]]]:
    """Per active agreement, the instants from `now` to the end of local today +
    `horizon_days` at which an open obligation has an unused ladder step, with the
    parties concerned (steps fire at the ladder's `send_at`: one instant per day).

    A few set-wise queries for all agreements at once: an obligation whose next step is
    beyond the horizon has none inside it, and an agreement's ladder timing is stored at
    import (`Agreement.timing`), so no stored file is parsed again.
    """
    o = Obligation.__table__.c  # type: ignore[attr-defined]
    a = Agreement.__table__.c  # type: ignore[attr-defined]
    f = FiredStep.__table__.c  # type: ignore[attr-defined]
    bound = now + timedelta(days=horizon_days + 2)
    where = [a.status == "active", o.status == "open", o.next_fire.is_not(None),
             o.next_fire < bound]
    if agreement_code is not None:
        where.append(a.code == agreement_code)
    joined = Obligation.__table__.join(  # type: ignore[attr-defined]
        Agreement.__table__, a.id == o.agreement_id)  # type: ignore[attr-defined]
    rows = s.execute(sa.select(o.id, o.party, o.due, a.code).select_from(joined)
                     .where(*where)).all()
    used: dict[int, set[int]] = {}
    for oid, step in s.execute(sa.select(f.obligation_id, f.step).select_from(
            joined.join(FiredStep.__table__, f.obligation_id == o.id))  # type: ignore[attr-defined]
            .where(*where)):
        used.setdefault(oid, set()).add(step)
    ladders: dict[str, tuple[Ladder, str]] = {}
    codes = {r.code for r in rows}
    for code, timing, tz, row_id in s.execute(
            sa.select(a.code, a.timing, a.timezone, a.id).where(
                a.code.in_(codes) if len(codes) < 900 else a.status == "active")):
        if timing is None:  # imported before timings were stored
            row = s.get(Agreement, row_id)
            assert row is not None
            ladders[code] = (load_stored(s, app, row).agreement.ladder, tz)
        else:
            ladders[code] = (ladder_from_timing(timing), tz)
    out: dict[str, dict[datetime, set[str]]] = {}
    for oid, party, due, code in rows:
        ladder, tz = ladders[code]
        today = now.astimezone(zone(tz)).date()
        hi = datetime.combine(today, datetime.min.time(), tzinfo=zone(tz)) + timedelta(
            days=horizon_days + 1)
        spent = used.get(oid, set())
        for i, t in enumerate(fire_times(ladder, due, app.calendar, tz)):
            if i not in spent and now <= t < hi:
                out.setdefault(code, {}).setdefault(t, set()).add(party)
    return {code: dict(sorted(times.items())) for code, times in sorted(out.items())}
