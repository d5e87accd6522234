"""Capability links: unguessable, stored hashed, expiring, revocable, bound to one purpose.

A link row holds a random 128-bit nonce and the SHA-256 of the token; the token
itself is HMAC-SHA256(secret key, nonce), so a database dump alone reveals no
usable token, yet a live link can be re-issued in a later message (same
obligation and contact) without storing the token anywhere.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlmodel import Session, col, select

from models.sql import chunks, table
from models.tables import FeedLink, Link, Party

PURPOSES = ("reply", "accept", "return", "approve", "deny", "dossier")


def token_for(secret_key: bytes, nonce: str) -> str:
    digest = hmac.new(secret_key, nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Issued:
    link: Link
    token: str


def issue(session: Session, secret_key: bytes, *, purpose: str, now: datetime,
          expires_at: datetime, obligation_id: int | None = None,
          contact_id: int | None = None, reply_id: int | None = None,
          agreement_id: int | None = None, cycle: int | None = None) -> Issued:
    """A live link for this purpose and binding, reusing one that is still valid."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown link purpose {purpose!r}")
    existing = session.exec(
        select(Link).where(
            Link.purpose == purpose, Link.obligation_id == obligation_id,
            Link.contact_id == contact_id, Link.reply_id == reply_id,
            Link.agreement_id == agreement_id, Link.cycle == cycle,
            col(Link.revoked_at).is_(None), Link.expires_at > now,
        ).order_by(col(Link.id).desc())
    ).first()
    if existing is not None:
        if expires_at > existing.expires_at:
            existing.expires_at = expires_at
            session.add(existing)
        return Issued(existing, token_for(secret_key, existing.nonce))
    nonce = secrets.token_urlsafe(16)  # 128 bits
    token = token_for(secret_key, nonce)
    link = Link(token_hash=hash_token(token), nonce=nonce, purpose=purpose,
                obligation_id=obligation_id, contact_id=contact_id, reply_id=reply_id,
                agreement_id=agreement_id, cycle=cycle, expires_at=expires_at, created_at=now)
    session.add(link)
    session.flush()
    return Issued(link, token)


def issue_many(session: Session, secret_key: bytes, *, purpose: str, now: datetime,
               wanted: dict[tuple[int, int], datetime]) -> dict[tuple[int, int], int]:
    """`issue` for many (obligation id, contact id) pairs at once, each with its expiry:
    the id of a live link per pair, reused (its expiry extended when needed) or new."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown link purpose {purpose!r}")
    t = table(Link)
    c = t.c
    live: dict[tuple[int, int], tuple[int, datetime]] = {}
    obligations = sorted({oid for oid, _cid in wanted})
    for chunk in chunks(obligations):
        for lid, oid, cid, expires in session.execute(
                sa.select(c.id, c.obligation_id, c.contact_id, c.expires_at).where(
                    c.purpose == purpose, c.obligation_id.in_(chunk),
                    c.contact_id.is_not(None), c.reply_id.is_(None),
                    c.agreement_id.is_(None), c.cycle.is_(None), c.revoked_at.is_(None),
                    c.expires_at > now).order_by(c.id)):
            live[(oid, cid)] = (lid, expires)  # the newest wins, as in `issue`
    return _reuse_or_issue(session, secret_key, t, live, wanted, now,
                           ("obligation_id", "contact_id"), purpose=purpose)


def issue_feeds(session: Session, secret_key: bytes, *, now: datetime,
                wanted: dict[tuple[int, int, int], datetime]) -> dict[tuple[int, int, int], int]:
    """Calendar feed links (table `feed_link`) for many (agreement id, party id, contact
    id), each with its expiry: the id of a live link per binding, reused (its expiry
    extended when needed) or new; made as reply links are (`issue_many`)."""
    t = table(FeedLink)
    c = t.c
    live: dict[tuple[int, int, int], tuple[int, datetime]] = {}
    contacts = sorted({cid for _aid, _pid, cid in wanted})
    for chunk in chunks(contacts):
        for lid, aid, pid, cid, expires in session.execute(
                sa.select(c.id, c.agreement_id, c.party_id, c.contact_id, c.expires_at).where(
                    c.contact_id.in_(chunk), c.revoked_at.is_(None), c.expires_at > now)
                .order_by(c.id)):
            live[(aid, pid, cid)] = (lid, expires)  # the newest wins, as in `issue`
    return _reuse_or_issue(session, secret_key, t, live, wanted, now,
                           ("agreement_id", "party_id", "contact_id"))


K = TypeVar("K", bound=tuple[int, ...])


def _reuse_or_issue(session: Session, secret_key: bytes, t: sa.Table,
                    live: dict[K, tuple[int, datetime]], wanted: dict[K, datetime],
                    now: datetime, columns: tuple[str, ...], **fixed: Any) -> dict[K, int]:
    """What `issue_many` and `issue_feeds` share: each binding of `wanted` (its values for
    `columns`) gets its live link (`live`: the newest, with its expiry), the expiry
    extended when needed, or a new one (128 random bits, `fixed` columns too); binding →
    link id."""
    c = t.c
    out = {key: lid for key, (lid, _exp) in live.items() if key in wanted}
    extend = [{"lid": lid, "expires": wanted[key]} for key, (lid, exp) in live.items()
              if key in wanted and wanted[key] > exp]
    if extend:
        session.execute(sa.update(t).where(c.id == sa.bindparam("lid"))
                        .values(expires_at=sa.bindparam("expires")), extend)
    new = [dict(token_hash=hash_token(token_for(secret_key, nonce)), nonce=nonce,
                expires_at=expires, created_at=now, **fixed, **dict(zip(columns, key, strict=True)))
           for key, expires in sorted(wanted.items()) if key not in out
           for nonce in [secrets.token_urlsafe(16)]]
    if new:
        for lid, *key in session.execute(
                sa.insert(t).returning(c.id, *(c[name] for name in columns)), new):
            out[cast(K, tuple(key))] = lid
    return out


def live_feed(session: Session, secret_key: bytes, *, agreement_id: int, party: str,
              contact_id: int, now: datetime) -> str | None:
    """The token of the contact's live calendar feed link for the party (its id in the
    agreement file), if one was issued: read only (the reply page shows it)."""
    f, p = table(FeedLink), table(Party)
    nonce = session.execute(sa.select(f.c.nonce).select_from(
        f.join(p, p.c.id == f.c.party_id)).where(
        f.c.agreement_id == agreement_id, p.c.key == party, f.c.contact_id == contact_id,
        f.c.revoked_at.is_(None), f.c.expires_at > now).order_by(f.c.id.desc()).limit(1)
    ).scalar()
    return None if nonce is None else token_for(secret_key, nonce)


def feed_nonces(session: Session, ids: list[int]) -> dict[int, str]:
    """The stored nonces of these feed links (their tokens are derived from them)."""
    c = table(FeedLink).c
    return {lid: nonce for lid, nonce in session.execute(
        sa.select(c.id, c.nonce).where(c.id.in_(sorted(ids))))}


def revoke_feeds(session: Session, *, party_id: int, contact_ids: list[int] | None,
                 now: datetime) -> int:
    """Revoke the live calendar feed links of a party (of these contacts only, when
    given); how many."""
    t = table(FeedLink)
    c = t.c
    query = sa.update(t).where(c.party_id == party_id, c.revoked_at.is_(None),
                               c.expires_at > now)
    if contact_ids is not None:
        query = query.where(c.contact_id.in_(contact_ids))
    result = session.execute(query.values(revoked_at=now))
    return int(getattr(result, "rowcount", 0) or 0)


def issue_for_new_reply(session: Session, secret_key: bytes, *, purposes: tuple[str, ...],
                        now: datetime, expires_at: datetime, obligation_id: int,
                        reply_id: int, contact_ids: list[int]) -> dict[tuple[int, str], int]:
    """New links of `purposes` for each contact, bound to a reply recorded in this
    transaction: (contact id, purpose) → link id, in one INSERT.

    `issue` would first look for a live link of the same binding; none can exist for a
    reply this transaction created, so there is nothing to look up."""
    if any(p not in PURPOSES for p in purposes):
        raise ValueError(f"unknown link purpose in {purposes!r}")
    if not contact_ids:
        return {}
    rows = [dict(token_hash=hash_token(token_for(secret_key, nonce)), nonce=nonce,
                 purpose=purpose, obligation_id=obligation_id, contact_id=cid,
                 reply_id=reply_id, expires_at=expires_at, created_at=now)
            for cid in contact_ids for purpose in purposes
            for nonce in [secrets.token_urlsafe(16)]]  # 128 bits each
    return {(cid, purpose): lid for lid, cid, purpose in session.execute(_insert_links(), rows)}


@functools.cache
def _insert_links() -> sa.Insert:
    c = table(Link).c
    return sa.insert(table(Link)).returning(c.id, c.contact_id, c.purpose)


@functools.cache
def _resolve_query() -> sa.Select[Any]:
    """Built once: building the statement cost more than running it."""
    c = table(Link).c
    return sa.select(Link).where(c.token_hash == sa.bindparam("token_hash"))


def token_of(link: Link, secret_key: bytes) -> str:
    return token_for(secret_key, link.nonce)


class LinkRefused(Exception):
    """One refusal for every bad link (unknown, tampered, expired, revoked, wrong purpose)."""


def resolve(session: Session, token: str, now: datetime, purposes: tuple[str, ...]) -> Link:
    """The live link a token names, or LinkRefused. Reads only: GET may call it."""
    if not token or len(token) > 100:
        raise LinkRefused
    link = session.scalars(_resolve_query(), {"token_hash": hash_token(token)}).first()
    if link is None or link.purpose not in purposes or link.revoked_at is not None \
            or link.expires_at <= now:
        raise LinkRefused
    return link


def revoke(session: Session, link: Link, now: datetime) -> None:
    if link.revoked_at is None:
        link.revoked_at = now
        session.add(link)
