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
from typing import Any

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
from core.ladder import (
    audience,
    decide,
    fire_times,
    ladder_from_timing,
    next_fire,
    reach_with,
)
from core.parse import load_agreement
from models.tables import Agreement, Contact, FiredStep, Obligation, Party, Review


@dataclass(frozen=True)
class Recipient:
    party: str  # the party's id in the agreement file
    contact_id: int
    audience: str  # which rung's wording: focal | head | coordinator | supervisor | host


@dataclass(frozen=True)
class FiredItem:
    obligation_id: int
    obligation_key: str
    agreement_code: str
    step: int
    action: str
    recipients: tuple[Recipient, ...]
    skipped: tuple[int, ...]
    at: datetime
    agreement_id: int = 0
    deadline: datetime | None = None


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
    if agreement is None:  # said in the coordinator's language (setting `language`)
        lang = app.settings.language
        raise StoredAgreementUnreadable(
            (f"{row.code}: the stored agreement no longer validates with this configuration: "
             if lang == "en" else
             f"{row.code}: chương trình đã lưu không còn hợp lệ với cấu hình hiện tại: ")
            + "; ".join(p.render(lang) for p in problems[:3]))
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
    """Fire what is due at `now`: at most one step per obligation, the rest skipped.

    Set-wise, for a national sweep: the due obligations, their used steps, the agreements'
    ladder timings, contacts and review hosts are read in a few queries; the steps are
    inserted in two batches and the obligations updated in one."""
    o = Obligation.__table__.c  # type: ignore[attr-defined]
    a = Agreement.__table__.c  # type: ignore[attr-defined]
    f = FiredStep.__table__.c  # type: ignore[attr-defined]
    joined = Obligation.__table__.join(  # type: ignore[attr-defined]
        Agreement.__table__, a.id == o.agreement_id)  # type: ignore[attr-defined]
    where = [o.status == "open", o.next_fire <= now]
    if agreement_code is not None:
        where.append(a.code == agreement_code)
    query = (sa.select(o.id, o.key, o.agreement_id, o.party, o.kind, o.cycle, o.due,
                       o.deadline, o.last_step, a.code)
             .select_from(joined).where(*where).order_by(o.agreement_id, o.id))
    if s.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Obligation.__table__)  # type: ignore[attr-defined]
    due_now = s.execute(query).all()
    if not due_now:
        return []
    used: dict[int, set[int]] = {}
    for oid, step in s.execute(sa.select(f.obligation_id, f.step).select_from(
            joined.join(FiredStep.__table__, f.obligation_id == o.id))  # type: ignore[attr-defined]
            .where(*where)):
        used.setdefault(oid, set()).add(step)
    agreements = _ladder_context(s, app, {r.agreement_id for r in due_now})
    skipped_rows: list[dict[str, object]] = []
    fired_rows: list[dict[str, object]] = []
    updates: list[dict[str, object]] = []
    candidates: dict[int, tuple[Any, int, tuple[int, ...]]] = {}
    for r in due_now:
        ctx = agreements[r.agreement_id]
        times = fire_times(ctx.ladder, r.due, app.calendar, ctx.timezone)
        spent = used.get(r.id, set())
        decision = decide(times, spent, now)
        if decision is None:
            updates.append({"oid": r.id, "next_fire": next_fire(times, spent),
                            "last_step": r.last_step, "updated_at": now})
            continue
        skipped_rows += [dict(obligation_id=r.id, step=i, outcome="skipped", due_at=times[i],
                              recorded_at=now, flow_run=flow_run) for i in decision.skipped]
        fired_rows.append(dict(obligation_id=r.id, step=decision.step, outcome="fired",
                               due_at=times[decision.step], recorded_at=now,
                               flow_run=flow_run))
        spent = spent | {decision.step, *decision.skipped}
        updates.append({"oid": r.id, "next_fire": next_fire(times, spent), "updated_at": now,
                        "last_step": max(r.last_step if r.last_step is not None else -1,
                                         decision.step)})
        candidates[r.id] = (r, decision.step, decision.skipped)
    if skipped_rows:
        s.execute(_insert_ignore(s), skipped_rows)
    # a concurrent tick that got there first owns the step: only rows we inserted fire
    won = {oid for (oid,) in s.execute(_insert_ignore(s).returning(f.obligation_id),
                                       fired_rows)} if fired_rows else set()
    if updates:
        s.execute(sa.update(Obligation.__table__)  # type: ignore[attr-defined]
                  .where(o.id == sa.bindparam("oid"))
                  .values(next_fire=sa.bindparam("next_fire"),
                          last_step=sa.bindparam("last_step"),
                          updated_at=sa.bindparam("updated_at")), updates)
    fired: list[FiredItem] = []
    for oid, (r, step_index, skipped) in candidates.items():
        if oid not in won:
            continue
        ctx = agreements[r.agreement_id]
        step = ctx.ladder.steps[step_index]
        reached = reach_with(step.to, r.party, r.kind, ctx.convener, ctx.supervisor,
                             ctx.hosts.get(r.cycle or 0), ctx.contacts_of)
        recipients = tuple(dict.fromkeys(
            Recipient(pid, cid, audience(role, pid, r.party, ctx.convener, ctx.supervisor))
            for pid, (cid, role) in reached))
        fired.append(FiredItem(oid, r.key, r.code, step_index, step.action, recipients,
                               skipped, now, r.agreement_id, r.deadline))
    return fired


@dataclass
class LadderContext:
    """What firing needs of one stored agreement, read without parsing its file."""

    ladder: Ladder
    timezone: str
    convener: str
    supervisor: str | None
    hosts: dict[int, str] = field(default_factory=dict)  # review cycle → host party
    contacts: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def contacts_of(self, party: str, role: str | None) -> list[tuple[int, str]]:
        return [(cid, r) for (p, r), ids in self.contacts.items()
                if p == party and (role is None or r == role) for cid in ids]


def _ladder_context(s: Session, app: App, ids: set[int]) -> dict[int, LadderContext]:
    out: dict[int, LadderContext] = {}
    id_list = sorted(ids)
    for i in range(0, len(id_list), 900):
        chunk = id_list[i:i + 900]
        for row in s.exec(select(Agreement).where(col(Agreement.id).in_(chunk))):
            assert row.id is not None
            ladder = ladder_from_timing(row.timing) if row.timing is not None else \
                load_stored(s, app, row).agreement.ladder  # imported before timings
            out[row.id] = LadderContext(ladder, row.timezone, row.convener, row.supervisor)
        for agreement_id, cycle, host in s.execute(
                sa.select(Review.agreement_id, Review.cycle, Review.host)  # type: ignore[call-overload]
                .where(col(Review.agreement_id).in_(chunk))):
            out[agreement_id].hosts[cycle] = host
        for agreement_id, party, cid, role in s.execute(
                sa.select(Party.agreement_id, Party.key, Contact.id, Contact.role)  # type: ignore[call-overload]
                .join(Contact, col(Contact.party_id) == Party.id)
                .where(col(Party.agreement_id).in_(chunk), col(Party.active),
                       col(Contact.active)).order_by(col(Contact.id))):
            out[agreement_id].contacts.setdefault((party, role), []).append(cid)
    return out


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
