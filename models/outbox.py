"""The outbox's rows: every message recorded before it is sent, once per key.

States: pending → claimed (with a lease) → sent | retry_wait | dead, and `unknown` for a
claimed row whose lease ran out with no recorded result (the sender died between the
mail server's acceptance and our record). An `unknown` row is sent again once with the
same deterministic Message-ID, so a duplicate collapses in mail clients; it is counted.

This module only writes and moves rows; composing a message is notifications.compose,
the send loop notifications.send. Rows for one recipient in one tick share a
`digest_key` and go out as one message.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.calendar import end_of_day
from core.statuses import SENDABLE_STATES, UNDELIVERED_STATES, OutboxState
from models.ladder_state import FiredItem
from models.links import issue_feeds, issue_many
from models.sql import chunks, insert_ignore, table
from models.tables import Agreement, Contact, OutboxMessage

CLAIM_LOCK = 0x70686F69686F70  # PostgreSQL advisory lock key of outbox claims ("phoihop")
KEY = ("key",)


def message_id(keys: Iterable[str]) -> str:
    digest = hashlib.sha256("|".join(sorted(keys)).encode()).hexdigest()[:32]
    return f"<{digest}@phoihop>"


def rows_for(contact: Any, key: str, digest: str, base: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per address: the e-mail, and each Apprise channel (as the contact stores
    it: a name, or an inline URL sealed, models.sealed)."""
    targets: list[tuple[str, str, str]] = []
    if contact.email:
        targets.append(("email", contact.email, key))
    targets += [("apprise", ch, f"{key}#ch{i}") for i, ch in enumerate(contact.channels)]
    return [dict(base, key=k, channel=channel, recipient=recipient,
                 message_id=message_id([k]), digest_key=digest_key(digest, channel, recipient))
            for channel, recipient, k in targets]


def digest_key(digest: str, channel: str, recipient: str) -> str:
    """What groups a tick's rows into one message: the same digest to the same address.
    A channel is named by a hash of its stored value (an e-mail by its address), so no
    channel URL, even sealed, is repeated in the key."""
    if channel != "email":
        recipient = hashlib.sha256(recipient.encode()).hexdigest()[:32]
    return f"{digest}#{channel}#{recipient}"


def fired_rows(s: Session, secret_key: bytes, link_days: int, items: Sequence[FiredItem],
               now: datetime) -> list[dict[str, Any]]:
    """The rows of fired ladder steps: one message per recipient, each with its reply link
    (a live one reused; valid `link_days` after the obligation's deadline).

    Set-wise: the contacts are read and the reply links issued for all items at once."""
    wanted = {(item.obligation_id, r.contact_id) for item in items for r in item.recipients}
    if not wanted:
        return []
    contacts = by_id(s, Contact, {cid for _oid, cid in wanted})
    deadline = {item.obligation_id: item.deadline for item in items
                if item.deadline is not None}
    days = timedelta(days=link_days)
    links = issue_many(s, secret_key, purpose="reply", now=now, wanted={
        (oid, cid): deadline[oid] + days for oid, cid in wanted
        if cid in contacts and oid in deadline})
    feeds = _feeds(s, secret_key, days, items, contacts, now)
    rows: list[dict[str, Any]] = []
    for item in items:
        for r in item.recipients:
            contact, link_id = contacts.get(r.contact_id), links.get(
                (item.obligation_id, r.contact_id))
            if contact is None or link_id is None:
                continue
            feed = feeds.get((item.agreement_id, contact.party_id, r.contact_id)) \
                if r.party == item.party else None
            base = dict(kind=item.action, agreement_id=item.agreement_id,
                        obligation_id=item.obligation_id, step=item.step,
                        contact_id=r.contact_id, state=OutboxState.PENDING, attempts=0,
                        next_attempt_at=now, created_at=now, subject="", body_text="",
                        context={"type": "ladder", "action": item.action,
                                 "audience": r.audience, "link_id": link_id,
                                 "at": item.at.isoformat(),
                                 **({"feed_link_id": feed} if feed else {})})
            rows += rows_for(contact, f"{item.obligation_key}#{item.step}#{r.contact_id}",
                             f"{item.at.isoformat()}", base)
    return rows


def _feeds(s: Session, secret_key: bytes, days: timedelta, items: Sequence[FiredItem],
           contacts: dict[int, Any], now: datetime) -> dict[tuple[int, int, int], int]:
    """The calendar feed link of each (agreement, contact of the obligation's own party)
    the items reach: reused while live, else new; valid `days` after the agreement's
    period ends (services.calendar, docs/calendar.md)."""
    wanted = {(item.agreement_id, contacts[r.contact_id].party_id, r.contact_id)
              for item in items for r in item.recipients
              if item.party and r.party == item.party and r.contact_id in contacts}
    if not wanted:
        return {}
    a = table(Agreement).c
    ends = {aid: end_of_day(period_end, tz) + days for aid, period_end, tz in s.execute(
        sa.select(a.id, a.period_end, a.timezone).where(
            a.id.in_(sorted({aid for aid, _pid, _cid in wanted}))))}
    return issue_feeds(s, secret_key, now=now, wanted={
        key: ends[key[0]] for key in wanted if key[0] in ends})


def by_id(s: Session, model: Any, ids: set[int]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for chunk in chunks(sorted(ids)):
        out.update((row.id, row) for row in s.exec(select(model).where(
            col(model.id).in_(chunk))))
    return out


def enqueue_message(s: Session, key: str, kind: str, contact: Contact,
                    context: dict[str, Any], now: datetime, digest: str | None = None,
                    obligation_id: int | None = None) -> bool:
    """Record one message of another kind (host notice, dossier ready) to one contact.

    `context` is what the template needs (no secrets, no tokens: a link is named by its
    `link_id`). Returns whether it was new (the same key twice records it once). Rows
    given the same `digest` that are due together go out as one message.
    """
    code = context.get("agreement_code")
    agreement = s.exec(select(Agreement).where(Agreement.code == code)).first() if code else None
    return bool(insert_messages(s, message_rows(
        key, kind, contact, context, now, digest,
        agreement_id=agreement.id if agreement else None, obligation_id=obligation_id)))


def message_rows(key: str, kind: str, contact: Any, context: dict[str, Any], now: datetime,
                 digest: str | None = None, *, agreement_id: int | None,
                 obligation_id: int | None = None) -> list[dict[str, Any]]:
    """The outbox rows of `enqueue_message` (one per address of `contact`: anything with
    `id`, `email` and `channels`), for a caller that knows the agreement's id and records
    several messages in one `insert_messages`."""
    base = dict(kind=kind, agreement_id=agreement_id, obligation_id=obligation_id, step=None,
                contact_id=contact.id, state=OutboxState.PENDING, attempts=0,
                next_attempt_at=now, created_at=now, subject="", body_text="",
                context={**context, "type": kind})
    return rows_for(contact, key, digest or f"{kind}#{key}", base)


def insert_messages(s: Session, rows: list[dict[str, Any]]) -> int:
    """Record outbox rows in one statement, a key already there skipped; rows added."""
    if not rows:
        return 0
    returning = insert_ignore(s, OutboxMessage, KEY).returning(table(OutboxMessage).c.id)
    return len(s.execute(returning, rows).all())


def expire_leases(s: Session, now: datetime) -> int:
    t = table(OutboxMessage)
    result = s.execute(sa.update(t).where(
        t.c.state == OutboxState.CLAIMED, t.c.lease_until < now).values(
        state=OutboxState.UNKNOWN,
        last_error="lease expired with no recorded result: delivery unknown",
        next_attempt_at=now))
    return int(getattr(result, "rowcount", 0) or 0)


def claim(s: Session, now: datetime, worker: str, limit: int, lease_seconds: float
          ) -> tuple[list[OutboxMessage], int]:
    """Take due rows (whole digests) with a lease, in the caller's write transaction
    (committed before anything is sent); and how many leases ran out (`unknown`)."""
    lease = now + timedelta(seconds=lease_seconds)
    if s.get_bind().dialect.name == "postgresql":
        # One claim at a time, as SQLite's write lock does it (sending stays parallel).
        # Claims that overlapped read the same digests: the ones that found them taken
        # stopped, leaving a whole wave to one sender, and two could split a digest.
        s.execute(sa.select(sa.func.pg_advisory_xact_lock(CLAIM_LOCK)))
    unknown = expire_leases(s, now)
    due = (col(OutboxMessage.state).in_(SENDABLE_STATES), col(OutboxMessage.next_attempt_at) <= now)
    q = select(OutboxMessage.digest_key).where(*due).order_by(col(OutboxMessage.id)).limit(
        limit)
    digests = list(dict.fromkeys(s.exec(q)))
    if not digests:
        return [], unknown
    rows_q = select(OutboxMessage).where(*due, col(OutboxMessage.digest_key).in_(digests))
    if s.get_bind().dialect.name == "postgresql":
        rows_q = rows_q.with_for_update(skip_locked=True)
    rows = list(s.exec(rows_q.order_by(col(OutboxMessage.id))))
    for r in rows:
        r.state, r.lease_until, r.claimed_by = OutboxState.CLAIMED, lease, worker
        r.attempts += 1
        s.add(r)
    return rows, unknown


def release(s: Session, ids: list[int], worker: str, retry_at: datetime) -> int:
    """Claimed rows not attempted: back to `retry_wait` at `retry_at`, the claim's attempt
    not counted; how many (rows whose lease ran out belong to another sender now)."""
    t = table(OutboxMessage)
    done = s.execute(sa.update(t).where(
        t.c.id.in_(ids), t.c.state == OutboxState.CLAIMED, t.c.claimed_by == worker,
    ).values(state=OutboxState.RETRY_WAIT, attempts=t.c.attempts - 1, lease_until=None,
             next_attempt_at=retry_at, last_error=sa.func.coalesce(
                 t.c.last_error, "not attempted: the server took no message this round")))
    return int(getattr(done, "rowcount", 0) or 0)


def mark_sent(s: Session, ids: list[int], worker: str, now: datetime, subject: str) -> int:
    """A handed-over message's rows: sent, if this worker still holds them; how many."""
    done = s.execute(_sent_update(), {"ids": ids, "worker": worker, "now": now,
                                      "subject": subject})
    return int(getattr(done, "rowcount", 0) or 0)


@functools.cache
def _sent_update() -> sa.Update:
    """Built once: building it cost more than running it."""
    t = table(OutboxMessage)
    return sa.update(t).where(
        t.c.id.in_(sa.bindparam("ids", expanding=True)), t.c.state == OutboxState.CLAIMED,
        t.c.claimed_by == sa.bindparam("worker"),
    ).values(state=OutboxState.SENT, sent_at=sa.bindparam("now"),
             subject=sa.bindparam("subject"), lease_until=None)


def held(s: Session, row_id: int | None, worker: str) -> OutboxMessage | None:
    """The row, if this worker still holds its claim (else its lease ran out and another
    sender owns it now)."""
    row = s.get(OutboxMessage, row_id)
    if row is None or row.state != OutboxState.CLAIMED or row.claimed_by != worker:
        return None
    return row


def last_lease(s: Session) -> datetime | None:
    """When the last claim held by any sender runs out (None: nothing is claimed)."""
    t = table(OutboxMessage)
    last: datetime | None = s.execute(sa.select(sa.func.max(t.c.lease_until)).where(
        t.c.state == OutboxState.CLAIMED)).scalar()
    return last


def waiting_count(s: Session) -> int:
    """Rows not delivered yet and not given up: what a later send round will still try."""
    t = table(OutboxMessage)
    return int(s.execute(sa.select(sa.func.count()).select_from(t).where(
        t.c.state.in_(UNDELIVERED_STATES))).scalar_one())


def anything_due(s: Session, now: datetime) -> bool:
    """Whether a send round would claim something now (a due row, or a claim whose lease ran
    out): one indexed read, so a sender waiting for new rows writes nothing while idle."""
    t = table(OutboxMessage)
    due = sa.or_(sa.and_(t.c.state.in_(SENDABLE_STATES), t.c.next_attempt_at <= now),
                 sa.and_(t.c.state == OutboxState.CLAIMED, t.c.lease_until <= now))
    return s.execute(sa.select(t.c.id).where(due).limit(1)).first() is not None
