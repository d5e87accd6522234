"""The ladder against the database: which steps are due, recorded exactly once.

services.ladder.tick reads and records through this module inside one write transaction
(core.ladder decides what fires). A step is recorded by inserting its FiredStep row with
ON CONFLICT DO NOTHING: whichever transaction inserts it owns it and returns it (to be
enqueued for sending); a second, overlapping tick finds the row there and returns nothing
for it. Obligation rows are locked (PostgreSQL `FOR UPDATE`; SQLite's write lock is taken
at BEGIN IMMEDIATE), so a `done` reply committed before the tick is seen and nothing fires
after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.agreement import Agreement as CoreAgreement
from core.agreement import Ladder
from core.calendar import WorkCalendar, zone
from core.expand import Obligation as CoreObligation
from core.expand import Plan, expand
from core.ladder import fire_times, ladder_from_timing, next_fire
from core.parse import ParseOptions, load_agreement
from core.statuses import AgreementStatus, ObligationStatus
from models.sql import chunks, insert_ignore, table
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
    party: str = ""  # the obligation's party: its own contacts get its calendar feed link


@dataclass
class LoadedAgreement:
    row: Agreement
    agreement: CoreAgreement
    plan: Plan
    hosts: dict[int, str] = field(default_factory=dict)
    contacts: dict[tuple[str, str, str | None, str], int] = field(default_factory=dict)


STEP_KEY = ("obligation_id", "step")


class StoredAgreementUnreadable(RuntimeError):
    pass


def load_stored(s: Session, options: ParseOptions, row: Agreement) -> LoadedAgreement:
    """The stored source, parsed and expanded, with contact ids to resolve recipients."""
    agreement, problems = load_agreement(row.source.encode(), row.source_name or row.code,
                                         options)
    if agreement is None:  # said in the coordinator's language (setting `language`)
        lang = options.language
        raise StoredAgreementUnreadable(
            (f"{row.code}: the stored agreement no longer validates with this configuration: "
             if lang == "en" else
             f"{row.code}: chương trình đã lưu không còn hợp lệ với cấu hình hiện tại: ")
            + "; ".join(p.render(lang) for p in problems[:3]))
    plan = expand(agreement, options.calendar)
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


def due_obligations(s: Session, now: datetime, agreement_code: str | None = None
                    ) -> tuple[list[Any], dict[int, set[int]]]:
    """The open obligations with a step due at `now` (locked), and the steps each used.

    Set-wise, for a national sweep: two queries whatever the number of agreements."""
    o, a, f = table(Obligation).c, table(Agreement).c, table(FiredStep).c
    joined = table(Obligation).join(table(Agreement), a.id == o.agreement_id)
    where = [o.status == ObligationStatus.OPEN, o.next_fire <= now]
    if agreement_code is not None:
        where.append(a.code == agreement_code)
    query = (sa.select(o.id, o.key, o.agreement_id, o.party, o.kind, o.cycle, o.due,
                       o.deadline, o.last_step, a.code)
             .select_from(joined).where(*where).order_by(o.agreement_id, o.id))
    if s.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=table(Obligation))
    due_now = list(s.execute(query).all())
    used: dict[int, set[int]] = {}
    if due_now:
        for oid, step in s.execute(sa.select(f.obligation_id, f.step).select_from(
                joined.join(table(FiredStep), f.obligation_id == o.id)).where(*where)):
            used.setdefault(oid, set()).add(step)
    return due_now, used


def codes_due(s: Session, now: datetime) -> list[str]:
    """The agreements with an open obligation whose next step is due at `now`, by code."""
    o, a = table(Obligation).c, table(Agreement).c
    return list(s.execute(sa.select(a.code).distinct().select_from(
        table(Obligation).join(table(Agreement), a.id == o.agreement_id))
        .where(o.status == ObligationStatus.OPEN, o.next_fire <= now).order_by(a.code)).scalars())


def record_steps(s: Session, skipped: list[dict[str, object]], fired: list[dict[str, object]]
                 ) -> set[int]:
    """Insert the skipped and fired FiredStep rows (ON CONFLICT DO NOTHING); the
    obligations whose fired step this transaction inserted (a concurrent tick that got
    there first owns the step)."""
    if skipped:
        s.execute(insert_ignore(s, FiredStep, STEP_KEY), skipped)
    if not fired:
        return set()
    returning = insert_ignore(s, FiredStep, STEP_KEY).returning(table(FiredStep).c.obligation_id)
    return {oid for (oid,) in s.execute(returning, fired)}


def set_next_fires(s: Session, updates: list[dict[str, object]]) -> None:
    """`next_fire`, `last_step` and `updated_at` of each obligation `oid`, in one statement."""
    if updates:
        o = table(Obligation)
        s.execute(sa.update(o).where(o.c.id == sa.bindparam("oid"))
                  .values(next_fire=sa.bindparam("next_fire"),
                          last_step=sa.bindparam("last_step"),
                          updated_at=sa.bindparam("updated_at")), updates)


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


def ladder_contexts(s: Session, options: ParseOptions, ids: set[int]
                    ) -> dict[int, LadderContext]:
    """What firing needs of each agreement in `ids`: a few queries per 900 agreements."""
    out: dict[int, LadderContext] = {}
    for chunk in chunks(sorted(ids)):
        for row in s.exec(select(Agreement).where(col(Agreement.id).in_(chunk))):
            assert row.id is not None
            ladder = ladder_from_timing(row.timing) if row.timing is not None else \
                load_stored(s, options, row).agreement.ladder  # imported before timings
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
    for chunk in chunks(ids):
        for oid, step in s.execute(select(FiredStep.obligation_id, FiredStep.step)
                                   .where(col(FiredStep.obligation_id).in_(chunk))):
            out.setdefault(oid, set()).add(step)
    return out


def reschedule(s: Session, calendar: WorkCalendar, o: Obligation, agreement: CoreAgreement
               ) -> None:
    """Recompute when the obligation's next unused step fires (after a due-date change)."""
    assert o.id is not None
    spent = used_steps(s, [o.id]).get(o.id, set())
    times = fire_times(agreement.ladder, o.due, calendar, agreement.timezone)
    o.next_fire = next_fire(times, spent) if o.status == ObligationStatus.OPEN else None


def upcoming_fire_times(s: Session, options: ParseOptions, now: datetime, horizon_days: int,
                        agreement_code: str | None = None
                        ) -> dict[str, dict[datetime, set[str]]]:
    """Per active agreement, the instants from `now` to the end of local today +
    `horizon_days` at which an open obligation has an unused ladder step, with the
    parties concerned (steps fire at the ladder's `send_at`: one instant per day).

    A few set-wise queries for all agreements at once: an obligation whose next step is
    beyond the horizon has none inside it, and an agreement's ladder timing is stored at
    import (`Agreement.timing`), so no stored file is parsed again.
    """
    o, a, f = table(Obligation).c, table(Agreement).c, table(FiredStep).c
    bound = now + timedelta(days=horizon_days + 2)
    where = [a.status == AgreementStatus.ACTIVE, o.status == ObligationStatus.OPEN,
             o.next_fire.is_not(None), o.next_fire < bound]
    if agreement_code is not None:
        where.append(a.code == agreement_code)
    joined = table(Obligation).join(table(Agreement), a.id == o.agreement_id)
    rows = s.execute(sa.select(o.id, o.party, o.due, a.code).select_from(joined)
                     .where(*where)).all()
    used: dict[int, set[int]] = {}
    for oid, step in s.execute(sa.select(f.obligation_id, f.step).select_from(
            joined.join(table(FiredStep), f.obligation_id == o.id)).where(*where)):
        used.setdefault(oid, set()).add(step)
    ladders: dict[str, tuple[Ladder, str]] = {}
    codes = {r.code for r in rows}
    for code, timing, tz, row_id in s.execute(
            sa.select(a.code, a.timing, a.timezone, a.id).where(
                a.code.in_(codes) if len(codes) < 900 else a.status == AgreementStatus.ACTIVE)):
        if timing is None:  # imported before timings were stored
            row = s.get(Agreement, row_id)
            assert row is not None
            ladders[code] = (load_stored(s, options, row).agreement.ladder, tz)
        else:
            ladders[code] = (ladder_from_timing(timing), tz)
    out: dict[str, dict[datetime, set[str]]] = {}
    for oid, party, due, code in rows:
        ladder, tz = ladders[code]
        today = now.astimezone(zone(tz)).date()
        hi = datetime.combine(today, datetime.min.time(), tzinfo=zone(tz)) + timedelta(
            days=horizon_days + 1)
        spent = used.get(oid, set())
        for i, t in enumerate(fire_times(ladder, due, options.calendar, tz)):
            if i not in spent and now <= t < hi:
                out.setdefault(code, {}).setdefault(t, set()).add(party)
    return {code: dict(sorted(times.items())) for code, times in sorted(out.items())}
