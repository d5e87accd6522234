"""Import: agreement files into the database, validated first, amendments keeping history.

- Every file is validated before anything is written; one problem anywhere and nothing
  is stored.
- Re-importing an identical file changes nothing.
- An amended file updates the plan: new obligations are added, changed due dates move
  (unless an extension was granted), removed obligations become `withdrawn` (restored by a
  later amendment, they take back what their replies made them); replies and fired steps
  are never touched.
- Obligations whose deadline had passed at registration are `unrecorded` (registration:
  the import, or the real date given as `registered_at` on a first import). One withdrawn
  by an amendment and restored by a later one is `unrecorded` again when its deadline had
  passed when it was first stored and no reply answers it: nobody was ever asked for it.
Obligations are written with bulk statements (Core executemany), not one ORM object each.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.agreement import Agreement as CoreAgreement
from core.calendar import WorkCalendar, end_of_day
from core.expand import Plan
from core.ladder import fire_times, next_fire, timing
from core.statuses import Decision, ObligationStatus, ReplyStatus, ReviewStage
from core.yamlnodes import Problem
from models.ladder_state import used_steps
from models.outbox import digest_key
from models.sealed import SealBroken, is_inline, is_sealed, seal, seal_all, seal_source, unseal
from models.sql import chunks
from models.sql import table as sql_table
from models.tables import (
    Agreement,
    Commitment,
    Contact,
    Obligation,
    OutboxMessage,
    Party,
    Reply,
    Review,
)


class ImportRejected(Exception):
    """The files have problems; nothing was stored."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = list(problems)


class RegistrationRefused(Exception):
    """`registered_at` cannot apply: in the future (`stored` None), or agreement `code` is
    already stored (registered at `stored`). Nothing was stored."""

    def __init__(self, code: str | None, stored: datetime | None) -> None:
        super().__init__(f"{code}: already registered at {stored}" if stored
                         else "registered_at is in the future")
        self.code, self.stored = code, stored


@dataclass
class ImportResult:
    code: str
    outcome: str  # created | amended | unchanged
    revision: int
    added: int = 0
    updated: int = 0
    withdrawn: int = 0
    unrecorded: int = 0


@dataclass(frozen=True)
class Parsed:
    """A validated agreement file and its expanded plan, ready to store."""

    name: str
    raw: bytes
    agreement: CoreAgreement
    plan: Plan


def source_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def store(s: Session, calendar: WorkCalendar, item: Parsed, now: datetime,
          registered_at: datetime | None = None, *, secret_key: bytes) -> ImportResult:
    """Store one validated file; `secret_key` seals its inline channel URLs
    (models.sealed): in its contacts' channels and where the stored file writes them."""
    a = item.agreement
    digest = source_hash(item.raw)
    row = s.exec(select(Agreement).where(Agreement.code == a.code)).first()
    if row is not None and registered_at is not None:
        raise RegistrationRefused(a.code, row.registered_at)
    if row is not None and row.source_hash == digest:
        return ImportResult(a.code, "unchanged", row.revision)
    fields: dict[str, Any] = dict(
                  title=a.title, signed_on=a.signed_on, period_start=a.start, period_end=a.end,
                  timezone=a.timezone, language=a.language, convener=a.convener,
                  supervisor=a.supervisor, supersedes=a.supersedes,
                  source=seal_source(secret_key, a.source, _inline(a)),
                  source_name=item.name, source_hash=digest, timing=timing(a.ladder),
                  updated_at=now)
    if row is None:
        row = Agreement(code=a.code, registered_at=registered_at or now, revision=1, **fields)
        outcome = "created"
    else:
        for k, v in fields.items():
            setattr(row, k, v)
        row.revision += 1
        outcome = "amended"
    s.add(row)
    s.flush()
    assert row.id is not None
    _store_parties(s, row.id, a, secret_key)
    _store_commitments(s, row.id, a)
    _store_reviews(s, row.id, item.plan)
    result = ImportResult(a.code, outcome, row.revision)
    _store_obligations(s, calendar, row.id, item, now, result, registered_at or now)
    return result


def _inline(a: CoreAgreement) -> set[str]:
    """The inline channel URLs of the file's contacts."""
    return {ch for p in (*a.parties, *a.observers) for c in p.contacts for ch in c.channels
            if is_inline(ch)}


def _store_parties(s: Session, agreement_id: int, a: CoreAgreement, secret_key: bytes
                   ) -> None:
    existing = {p.key: p for p in s.exec(select(Party).where(Party.agreement_id == agreement_id))}
    wanted = [(p, False) for p in a.parties] + [(p, True) for p in a.observers]
    if not existing:  # a new agreement: bulk statements, no ORM object per row
        ids = s.execute(sa.insert(Party).returning(col(Party.id), sort_by_parameter_order=True),
                        [dict(agreement_id=agreement_id, key=p.id, name=p.name, short=p.short,
                              observer=observer, active=True) for p, observer in wanted]
                        ).scalars().all()
        contacts = [dict(party_id=pid, name=c.name, role=c.role, email=c.email, phone=c.phone,
                         channels=seal_all(secret_key, c.channels), active=True)
                    for pid, (p, _o) in zip(ids, wanted, strict=True) for c in p.contacts]
        if contacts:
            s.execute(sa.insert(Contact), contacts)
        return
    for party, observer in wanted:
        row = existing.pop(party.id, None) or Party(agreement_id=agreement_id, key=party.id,
                                                   name=party.name)
        row.name, row.short, row.observer, row.active = party.name, party.short, observer, True
        s.add(row)
        s.flush()
        assert row.id is not None
        _store_contacts(s, row.id, party, secret_key)
    for gone in existing.values():
        gone.active = False
        s.add(gone)


def _store_contacts(s: Session, party_id: int, party: Any, secret_key: bytes) -> None:
    """Contacts are matched by identity; changed ones are new rows, old ones deactivated.

    Channels compare sealed (sealing is deterministic): a contact stored before channels
    were sealed is recognised, and its channels are sealed now."""
    stored = list(s.exec(select(Contact).where(Contact.party_id == party_id)))
    for old in stored:
        sealed = seal_all(secret_key, old.channels)
        if old.channels != sealed:  # stored before channels were sealed: sealed now
            old.channels = sealed
            s.add(old)
    by_identity = {(c.name, c.role, c.email, tuple(c.channels)): c for c in stored}
    keep: set[int] = set()
    for c in party.contacts:
        channels = seal_all(secret_key, c.channels)
        match = by_identity.get((c.name, c.role, c.email, tuple(channels)))
        if match is None:
            match = Contact(party_id=party_id, name=c.name, role=c.role, email=c.email,
                            phone=c.phone, channels=channels)
        match.phone, match.active = c.phone, True
        s.add(match)
        s.flush()
        assert match.id is not None
        keep.add(match.id)
    for old in stored:
        if old.id not in keep and old.active:
            old.active = False
            s.add(old)


def _store_commitments(s: Session, agreement_id: int, a: CoreAgreement) -> None:
    existing = {c.key: c for c in
                s.exec(select(Commitment).where(Commitment.agreement_id == agreement_id))}
    def fields(c: Any) -> dict[str, Any]:
        return dict(title=c.title, lead=c.lead, support=list(c.support), active=True,
                    indicators=[{"id": i.id, "label": i.label, "kind": i.kind,
                                 "at_most": i.at_most} for i in c.indicators])

    if not existing:
        s.execute(sa.insert(Commitment), [dict(agreement_id=agreement_id, key=c.id, **fields(c))
                                          for c in a.commitments])
        return
    for c in a.commitments:
        row = existing.pop(c.id, None) or Commitment(agreement_id=agreement_id, key=c.id,
                                                    title=c.title, lead=c.lead)
        for name, value in fields(c).items():
            setattr(row, name, value)
        s.add(row)
    for gone in existing.values():
        gone.active = False
        s.add(gone)


def _store_reviews(s: Session, agreement_id: int, plan: Plan) -> None:
    existing = {r.cycle: r for r in
                s.exec(select(Review).where(Review.agreement_id == agreement_id))}
    if not existing:
        s.execute(sa.insert(Review), [dict(
            agreement_id=agreement_id, cycle=c.cycle, covers_start=c.start, covers_end=c.end,
            meeting=c.meeting, host=c.host, final=c.final, skipped=c.skipped,
            stage=ReviewStage.PLANNED)
            for c in plan.reviews])
        return
    for cycle in plan.reviews:
        row = existing.get(cycle.cycle) or Review(
            agreement_id=agreement_id, cycle=cycle.cycle, covers_start=cycle.start,
            covers_end=cycle.end, meeting=cycle.meeting, host=cycle.host)
        row.covers_start, row.covers_end, row.meeting = cycle.start, cycle.end, cycle.meeting
        row.host, row.final, row.skipped = cycle.host, cycle.final, cycle.skipped
        s.add(row)


def _store_obligations(s: Session, cal: WorkCalendar, agreement_id: int, item: Parsed,
                       now: datetime,
                       result: ImportResult, registered: datetime) -> None:
    """`registered`: the instant new obligations are measured against (`unrecorded` when
    their deadline is at or before it): the import, or the real registration."""
    a = item.agreement
    table = sql_table(Obligation)
    existing = {r.key: r for r in s.execute(
        sa.select(*_cols(Obligation.key, Obligation.id, Obligation.planned_due,
                         Obligation.status, Obligation.due, Obligation.created_at))
        .where(col(Obligation.agreement_id) == agreement_id)).all()}
    used = used_steps(s, [r.id for r in existing.values()]) if existing else {}
    extended = _extended(s, [r.id for r in existing.values()]) if existing else set()
    withdrawn = [r for r in existing.values() if r.status == ObligationStatus.WITHDRAWN]
    answered = _answered(s, [r.id for r in withdrawn])
    # an obligation stored by the first import counts from the agreement's registration
    # (which `registered_at` may set before the import itself)
    _registered: dict[int, datetime] = {}
    if withdrawn:
        registered_at = s.execute(sa.select(col(Agreement.registered_at)).where(
            col(Agreement.id) == agreement_id)).scalar_one()
        first_stored = min(r.created_at for r in existing.values())
        _registered = {r.id: registered_at for r in withdrawn
                       if _same_instant(r.created_at, first_stored)}
    new_rows: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for o in item.plan.obligations:
        old = existing.pop(o.id, None)
        if old is None:
            unrecorded = o.deadline <= registered
            result.added += 1
            result.unrecorded += unrecorded
            new_rows.append(dict(
                key=o.id, agreement_id=agreement_id, commitment=o.commitment, party=o.party,
                label=o.label, kind=o.kind, cycle=o.cycle, planned_due=o.due, due=o.due,
                deadline=o.deadline,
                status=ObligationStatus.UNRECORDED if unrecorded else ObligationStatus.OPEN,
                next_fire=None if unrecorded else
                next_fire(fire_times(a.ladder, o.due, cal, a.timezone), ()),
                last_step=None, created_at=now, updated_at=now))
            continue
        status = old.status
        if old.status == ObligationStatus.WITHDRAWN:
            # restored: what its replies made it; else what it was when first stored
            # (unrecorded if its deadline had passed then: nobody was ever asked for it)
            first = _registered.get(old.id, old.created_at)
            status = answered.get(old.id, ObligationStatus.UNRECORDED if o.deadline <= first
                                    else ObligationStatus.OPEN)
        if old.planned_due == o.due and old.status != ObligationStatus.WITHDRAWN:
            continue
        due = old.due if old.id in extended else o.due
        times = fire_times(a.ladder, due, cal, a.timezone)
        updates.append(dict(
            b_id=old.id, planned_due=o.due, due=due,
            deadline=o.deadline if due == o.due else end_of_day(due, a.timezone),
            status=status, updated_at=now,
            next_fire=(next_fire(times, used.get(old.id, set()))
                       if status == ObligationStatus.OPEN else None)))
        result.updated += 1
    for gone in existing.values():
        if gone.status != ObligationStatus.WITHDRAWN:
            updates.append(dict(b_id=gone.id, planned_due=gone.planned_due, due=gone.due,
                                deadline=end_of_day(gone.due, a.timezone),
                                status=ObligationStatus.WITHDRAWN, next_fire=None,
                                updated_at=now))
            result.withdrawn += 1
    if new_rows:
        s.execute(sa.insert(table), new_rows)
    if updates:
        s.execute(sa.update(table).where(table.c.id == sa.bindparam("b_id")).values(
            planned_due=sa.bindparam("planned_due"), due=sa.bindparam("due"),
            deadline=sa.bindparam("deadline"), status=sa.bindparam("status"),
            next_fire=sa.bindparam("next_fire"), updated_at=sa.bindparam("updated_at")),
            updates)


def _same_instant(a: datetime, b: datetime) -> bool:
    return abs((a - b).total_seconds()) < 1


def _cols(*columns: Any) -> list[Any]:
    return list(columns)


def _extended(s: Session, ids: list[int]) -> set[int]:
    out: set[int] = set()
    for chunk in chunks(ids):
        out.update(s.execute(select(Reply.obligation_id).where(
            col(Reply.obligation_id).in_(chunk),
            Reply.status == ReplyStatus.EXTENSION)).scalars())
    return out


# What a coordinator's decision on a `done` reply makes its obligation (none yet: submitted).
AFTER_DECISION = {Decision.ACCEPTED: ObligationStatus.ACCEPTED,
                  Decision.RETURNED: ObligationStatus.OPEN}


def _answered(s: Session, ids: list[int]) -> dict[int, str]:
    """The status a withdrawn obligation's replies give it back when an amendment restores
    it: its latest `done` reply accepted, or submitted (returned: open, left out)."""
    out: dict[int, str] = {}
    for chunk in chunks(ids):
        for oid, decision in s.execute(select(Reply.obligation_id, Reply.decision).where(
                col(Reply.obligation_id).in_(chunk), Reply.status == ReplyStatus.DONE)
                .order_by(col(Reply.version))):
            out[oid] = AFTER_DECISION.get(decision, ObligationStatus.SUBMITTED)
    return {oid: status for oid, status in out.items() if status != ObligationStatus.OPEN}


@dataclass
class Sealed:
    """What `seal_stored` sealed (rows changed), and the sealed channels it could not open
    (sealed under another secret key: they stay as they are)."""

    contacts: int = 0
    agreements: int = 0
    messages: int = 0
    unopened: int = 0

    @property
    def rows(self) -> int:
        return self.contacts + self.agreements + self.messages


def seal_stored(s: Session, secret_key: bytes) -> Sealed:
    """Seal the inline channel URLs stored before they were sealed (models.sealed):
    contacts' channels, the agreement files that write them, the outbox rows addressed to
    them (their digest keys too). Idempotent; what is sealed already is left as it is."""
    done = Sealed()
    inline: dict[int, set[str]] = {}  # agreement id → its contacts' inline URLs
    query = select(Contact, Party.agreement_id).join(Party, col(Party.id) == Contact.party_id)
    for contact, agreement_id in s.exec(query.where(
            sa.cast(col(Contact.channels), sa.Text).like("%://%"))):
        for ch in contact.channels:
            if not is_inline(ch):
                continue
            try:
                inline.setdefault(agreement_id, set()).add(unseal(secret_key, ch))
            except SealBroken:
                done.unopened += 1
        sealed = seal_all(secret_key, contact.channels)
        if sealed != contact.channels:
            contact.channels = sealed
            s.add(contact)
            done.contacts += 1
    for agreement_id, urls in sorted(inline.items()):
        row = s.get(Agreement, agreement_id)
        if row is not None and (text := seal_source(secret_key, row.source, urls)) != row.source:
            row.source = text
            s.add(row)
            done.agreements += 1
    o = sql_table(OutboxMessage)
    updates = []
    for row_id, channel, recipient, digest in s.execute(
            sa.select(o.c.id, o.c.channel, o.c.recipient, o.c.digest_key).where(
                o.c.channel != "email", o.c.recipient.like("%://%"))):
        if is_sealed(recipient):
            continue
        sealed_to = seal(secret_key, recipient)
        suffix = f"#{channel}#{recipient}"
        if digest and digest.endswith(suffix):  # written with the URL in it
            digest = digest_key(digest[:-len(suffix)], channel, sealed_to)
        updates.append(dict(b_id=row_id, b_recipient=sealed_to, b_digest=digest))
    if updates:
        s.execute(sa.update(o).where(o.c.id == sa.bindparam("b_id")).values(
            recipient=sa.bindparam("b_recipient"), digest_key=sa.bindparam("b_digest")),
            updates)
    done.messages = len(updates)
    return done
