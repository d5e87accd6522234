"""What a party's calendar feed shows, read through its link (reads only: GET serves it).

A feed link (table `feed_link`) is bound to one agreement, one of its parties and the
contact it was sent to. Everything comes in four statements whatever the number of
obligations: the link with its contact, party and agreement; the party's obligations with
their commitments' titles; per obligation the count and newest instant of its replies and
of the decisions on them; and the live reply links the contact holds for them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.statuses import ObligationStatus
from models.links import LinkRefused, hash_token, token_for
from models.sql import table
from models.tables import (
    Agreement,
    Commitment,
    Contact,
    FeedLink,
    Link,
    Obligation,
    Party,
    Reply,
)


@dataclass(frozen=True)
class FeedAgreement:
    id: int
    code: str
    title: str
    language: str
    timezone: str
    timing: dict[str, Any] | None
    revision: int
    updated_at: datetime


@dataclass(frozen=True)
class FeedObligation:
    id: int
    key: str
    commitment: str | None
    commitment_title: str | None
    label: str
    due: date
    status: str
    created_at: datetime
    replies: int
    last_reply: datetime | None
    decisions: int
    last_decision: datetime | None
    reply_token: str | None  # the feed's contact's live reply link, if it has one


@dataclass(frozen=True)
class FeedRows:
    link_id: int
    agreement: FeedAgreement
    party_key: str
    party_name: str
    obligations: list[FeedObligation]


def feed_rows(s: Session, secret_key: bytes, token: str, now: datetime) -> FeedRows:
    """The feed a token names, or LinkRefused (unknown, tampered, expired, revoked, or a
    contact no longer in the agreement: one refusal)."""
    if not token or len(token) > 100:
        raise LinkRefused
    row = s.execute(_link_query(), {"token_hash": hash_token(token)}).first()
    if row is None:
        raise LinkRefused
    revoked_at, expires_at, link_id, contact_id, contact_active, *rest = row
    if revoked_at is not None or expires_at <= now or not contact_active:
        raise LinkRefused
    party_key, party_name, party_short, *a = rest
    agreement = FeedAgreement(*a)
    counts = {oid: (n, last, d, decided) for oid, n, last, d, decided in s.execute(
        _replies_query(), {"agreement": agreement.id, "party": party_key})}
    tokens = {oid: token_for(secret_key, nonce) for oid, nonce in s.execute(
        _reply_links_query(),
        {"agreement": agreement.id, "party": party_key, "contact": contact_id, "now": now})}
    obligations = [
        FeedObligation(oid, key, commitment, title, label, due, status, created,
                       *counts.get(oid, (0, None, 0, None)), tokens.get(oid))
        for oid, key, commitment, title, label, due, status, created in s.execute(
            _obligations_query(), {"agreement": agreement.id, "party": party_key})]
    return FeedRows(link_id, agreement, party_key, party_short or party_name, obligations)


@functools.cache
def _link_query() -> sa.Select[Any]:
    lk, c, p, a = (table(m) for m in (FeedLink, Contact, Party, Agreement))
    joined = (lk.join(c, c.c.id == lk.c.contact_id).join(p, p.c.id == lk.c.party_id)
              .join(a, (a.c.id == lk.c.agreement_id) & (a.c.id == p.c.agreement_id)))
    return sa.select(lk.c.revoked_at, lk.c.expires_at, lk.c.id, lk.c.contact_id,
                     c.c.active, p.c.key, p.c.name, p.c.short,
                     a.c.id, a.c.code, a.c.title, a.c.language, a.c.timezone, a.c.timing,
                     a.c.revision, a.c.updated_at
                     ).select_from(joined).where(lk.c.token_hash == sa.bindparam("token_hash"))


def _of_party(o: sa.Table) -> Any:
    """The feed's obligations: the party's, except those nobody was ever asked for."""
    return sa.and_(o.c.agreement_id == sa.bindparam("agreement"),
                   o.c.party == sa.bindparam("party"),
                   o.c.status != ObligationStatus.UNRECORDED)


@functools.cache
def _obligations_query() -> sa.Select[Any]:
    o, k = table(Obligation), table(Commitment)
    joined = o.outerjoin(k, (k.c.agreement_id == o.c.agreement_id) & (k.c.key == o.c.commitment))
    return (sa.select(o.c.id, o.c.key, o.c.commitment, k.c.title, o.c.label, o.c.due,
                      o.c.status, o.c.created_at)
            .select_from(joined).where(_of_party(o)).order_by(o.c.due, o.c.key))


@functools.cache
def _replies_query() -> sa.Select[Any]:
    o, r = table(Obligation), table(Reply)
    return (sa.select(r.c.obligation_id, sa.func.count(r.c.id), sa.func.max(r.c.recorded_at),
                      sa.func.count(r.c.decided_at), sa.func.max(r.c.decided_at))
            .select_from(r.join(o, o.c.id == r.c.obligation_id)).where(_of_party(o))
            .group_by(r.c.obligation_id))


@functools.cache
def _reply_links_query() -> sa.Select[Any]:
    o, lk = table(Obligation), table(Link)
    return (sa.select(lk.c.obligation_id, lk.c.nonce)
            .select_from(lk.join(o, o.c.id == lk.c.obligation_id))
            .where(_of_party(o), lk.c.purpose == "reply",
                   lk.c.contact_id == sa.bindparam("contact"), lk.c.reply_id.is_(None),
                   lk.c.revoked_at.is_(None), lk.c.expires_at > sa.bindparam("now"))
            .order_by(lk.c.id))  # the newest wins, as in `issue`
