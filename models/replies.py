"""Replies as stored: append-only versions, and the statements a reply's record needs.

In SQLAlchemy Core, statements built once: the obligation is locked and read with its
agreement and commitment in one query (PostgreSQL `FOR UPDATE`; SQLite's write lock is
taken at BEGIN IMMEDIATE), and a form's earlier reply is looked for after the lock, so
two processes replaying one form at once record it once. What a reply does is
services.replies; the caller owns the transaction.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, col, select

from core.statuses import ReplyStatus
from models.sql import table
from models.tables import Agreement, Commitment, Obligation, Reply


@dataclass(frozen=True)
class Attachment:
    name: str
    path: str
    content_type: str


def lock_obligation(s: Session, key: str) -> Any:
    """The obligation by key, locked, with what a reply needs of its agreement (`code`)
    and commitment (`indicators`); None if there is none."""
    postgres = s.get_bind().dialect.name == "postgresql"
    return s.execute(_locked_query(postgres), {"key": key}).first()


def earlier_and_last(s: Session, submission: str | None, obligation_id: int | None
                     ) -> tuple[int | None, int | None]:
    """The reply a form recorded before (its nonce is unique), and the obligation's last
    version: one statement after the lock (on PostgreSQL a statement's snapshot is taken
    when it starts: after the lock it sees what the transaction waited for)."""
    earlier, last = s.execute(_earlier_and_last_query(), {
        "submission": submission, "obligation": obligation_id}).one()
    return earlier, last


def insert(s: Session, fields: dict[str, Any], status_after: str | None) -> Reply:
    """Insert a reply version (Core) and update its obligation: `status_after` (and no
    more ladder steps) for a `done`, else only touched. The Reply returned is known to
    the session by its id, as if flushed; an obligation the session read before is
    reloaded when next used."""
    reply_id = s.execute(_insert_reply(), fields).scalar_one()
    oid, at = fields["obligation_id"], fields["recorded_at"]
    if status_after is not None:
        s.execute(_submit_obligation(), {"obligation": oid, "at": at, "status": status_after})
    else:
        s.execute(_touch_obligation(), {"obligation": oid, "at": at})
    stale = s.identity_map.get(identity_key(Obligation, oid))
    if stale is not None:
        s.expire(stale)
    reply = Reply(id=reply_id, **fields)
    make_transient_to_detached(reply)
    s.add(reply)
    return reply


def extension_requests(s: Session, obligation_id: int | None) -> list[Reply]:
    """The obligation's extension requests, oldest first."""
    return list(s.exec(select(Reply).where(Reply.obligation_id == obligation_id,
                                           Reply.status == ReplyStatus.EXTENSION)
                       .order_by(col(Reply.version))))


def newer_submission(s: Session, obligation_id: int | None, version: int) -> bool:
    """Whether a `done` reply newer than `version` was recorded."""
    return s.exec(select(Reply.id).where(Reply.obligation_id == obligation_id,
                                         Reply.status == ReplyStatus.DONE,
                                         col(Reply.version) > version)).first() is not None


def history(s: Session, obligation_id: int) -> list[Reply]:
    return list(s.exec(select(Reply).where(Reply.obligation_id == obligation_id)
                       .order_by(col(Reply.version))))


@functools.cache
def _locked_query(postgres: bool) -> sa.Select[Any]:
    o, a, c = table(Obligation), table(Agreement), table(Commitment)
    query = (sa.select(o.c.id, o.c.status, o.c.due, o.c.deadline, o.c.commitment,
                       o.c.agreement_id, a.c.code, c.c.indicators)
             .select_from(o.join(a, a.c.id == o.c.agreement_id).outerjoin(
                 c, (c.c.agreement_id == o.c.agreement_id) & (c.c.key == o.c.commitment)))
             .where(o.c.key == sa.bindparam("key")))
    return query.with_for_update(of=o) if postgres else query


@functools.cache
def _earlier_and_last_query() -> sa.Select[Any]:
    r = table(Reply)
    return sa.select(
        sa.select(r.c.id).where(r.c.submission == sa.bindparam("submission"))
        .scalar_subquery(),
        sa.select(sa.func.max(r.c.version)).where(
            r.c.obligation_id == sa.bindparam("obligation")).scalar_subquery())


@functools.cache
def _insert_reply() -> sa.Insert:
    r = table(Reply)
    return sa.insert(r).returning(r.c.id)


@functools.cache
def _submit_obligation() -> sa.Update:
    o = table(Obligation)
    return sa.update(o).where(o.c.id == sa.bindparam("obligation")).values(
        status=sa.bindparam("status"), next_fire=None, updated_at=sa.bindparam("at"))


@functools.cache
def _touch_obligation() -> sa.Update:
    o = table(Obligation)
    return sa.update(o).where(o.c.id == sa.bindparam("obligation")).values(
        updated_at=sa.bindparam("at"))
