"""Coordinator decisions on partners' replies: review of submissions, extension requests.

A partner's reply through the portal (`source == "portal"`):
- `done`: the convener's coordinators get a `submission` message with an accept and a
  return link (capabilities bound to the obligation, the coordinator and the reply).
- `extension`: granted at once (`granted`) when it is the obligation's first extension
  request and asks for at most `auto_extension_days` past the current due date;
  otherwise it waits (`pending`, the due date unchanged) and the coordinators get an
  `extension_request` message with approve and deny links. A newer request replaces a
  pending one (`superseded`).
Replies recorded from files (CLI, demo, tests) are facts: an extension there is granted
as given, and nobody is asked.

A decision is recorded once on the Reply (`decision`, `decision_comment`, `decided_at`),
the acting link gets `used_at`, and the partner contact who replied gets a `decision`
message. The caller owns the transaction.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from config.bootstrap import App
from models.links import Link, LinkRefused, issue, issue_for_new_reply, resolve
from models.replies import decide_reply, grant_extension
from models.tables import Agreement, Contact, Obligation, Party, Reply
from notifications.outbox import enqueue_message, insert_messages, message_rows

PURPOSES = ("accept", "return", "approve", "deny")
DECISION_OF = {"accept": "accepted", "return": "returned", "approve": "granted",
               "deny": "denied"}
REVIEW, EXTENSION = ("accept", "return"), ("approve", "deny")


class AlreadyDecided(Exception):
    """The reply was decided before (or a newer reply replaced it): nothing was changed."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"reply {reply.id} already decided: {reply.decision}")
        self.reply = reply


class CommentRequired(Exception):
    """Returning a report needs a comment saying what to revise."""


# -- when a partner's reply is recorded ------------------------------------------------


def extension_applies(s: Session, app: App, o: Obligation, reply: Reply, at: datetime) -> bool:
    """Whether an extension reply moves the due date now (and its decision, for the portal)."""
    if reply.source != "portal" or reply.until is None:
        return True
    earlier = [r for r in s.exec(select(Reply).where(Reply.obligation_id == o.id,
                                                     Reply.status == "extension"))
               if r is not reply]
    for r in earlier:
        if r.decision == "pending":
            r.decision, r.decided_at = "superseded", at
            s.add(r)
    limit = o.due + timedelta(days=app.settings.auto_extension_days)
    automatic = not earlier and reply.until <= limit
    reply.decision = "granted" if automatic else "pending"
    reply.decided_at = at if automatic else None
    return automatic


def after_partner_reply(s: Session, app: App, o: Obligation, reply: Reply, at: datetime
                        ) -> None:
    """The messages a partner's reply calls for (recorded in the outbox, once per key)."""
    if reply.status not in ("done", "extension"):
        return
    s.flush()
    assert reply.id is not None and o.id is not None
    a = s.get(Agreement, o.agreement_id)
    assert a is not None
    if reply.status == "extension" and reply.decision == "granted":
        _tell_partner(s, app, o, a, reply, at, auto=True)
        return
    if reply.status == "extension" and reply.decision != "pending":
        return
    why = None
    if reply.status == "extension":
        earlier = s.exec(select(Reply.id).where(Reply.obligation_id == o.id,
                                                Reply.status == "extension",
                                                col(Reply.id) != reply.id)).first()
        why = "again" if earlier is not None else "too_long"
    ask_coordinators(s, app, "submission" if reply.status == "done" else "extension_request",
                     agreement_id=a.id or 0, agreement_code=a.code, obligation_id=o.id,
                     deadline=o.deadline, reply_id=reply.id, at=at, why=why)


def ask_coordinators(s: Session, app: App, kind: str, *, agreement_id: int,
                     agreement_code: str, obligation_id: int, deadline: datetime,
                     reply_id: int, at: datetime, why: str | None = None,
                     into: list[dict[str, Any]] | None = None) -> None:
    """The `submission` or `extension_request` message of a reply recorded in this
    transaction, to each of the convener's coordinators, with their two decision links.

    Three statements whatever the number of coordinators: who they are, their links
    (new: none can exist for a new reply), their messages (`into`: added to the caller's
    rows, which it records with its own)."""
    purposes = REVIEW if kind == "submission" else EXTENSION
    found = s.execute(_coordinators_query(), {"agreement": agreement_id}).all()
    expires = max(deadline, at) + timedelta(days=app.settings.link_days_after_deadline)
    links = issue_for_new_reply(s, app.secret_key, purposes=purposes, now=at,
                                expires_at=expires, obligation_id=obligation_id,
                                reply_id=reply_id, contact_ids=[c.id for c in found])
    rows = []
    for c in found:
        context: dict[str, object] = {
            "agreement_code": agreement_code, "reply_id": reply_id,
            "links": {p: links[(c.id, p)] for p in purposes}}
        if why is not None:
            context["why"] = why
        rows += message_rows(f"{kind}#{reply_id}#{c.id}", kind, c, context, at,
                             f"{kind}#{c.id}", agreement_id=agreement_id,
                             obligation_id=obligation_id)
    if into is not None:
        into += rows
    else:
        insert_messages(s, rows)


def _table(model: Any) -> sa.Table:
    return model.__table__


@functools.cache
def _coordinators_query() -> sa.Select[Any]:
    """The convener's active coordinators of an agreement (what `coordinators` reads)."""
    c, p, a = (_table(m) for m in (Contact, Party, Agreement))
    return (sa.select(c.c.id, c.c.email, c.c.channels)
            .select_from(c.join(p, p.c.id == c.c.party_id).join(a, a.c.id == p.c.agreement_id))
            .where(a.c.id == sa.bindparam("agreement"), p.c.key == a.c.convener, p.c.active,
                   c.c.role == "coordinator", c.c.active).order_by(c.c.id))


def coordinators(s: Session, a: Agreement) -> list[Contact]:
    return list(s.exec(select(Contact).join(Party, col(Party.id) == Contact.party_id).where(
        Party.agreement_id == a.id, Party.key == a.convener, col(Party.active),
        Contact.role == "coordinator", col(Contact.active)).order_by(col(Contact.id))))


def _partners(s: Session, o: Obligation, a: Agreement, reply: Reply) -> list[Contact]:
    """Who hears of a decision: the contact whose link carried the reply, else the focals."""
    contact = s.get(Contact, reply.contact_id) if reply.contact_id else None
    if contact is not None and contact.active:
        return [contact]
    return list(s.exec(select(Contact).join(Party, col(Party.id) == Contact.party_id).where(
        Party.agreement_id == a.id, Party.key == o.party, Contact.role == "focal",
        col(Contact.active)).order_by(col(Contact.id))))


def _tell_partner(s: Session, app: App, o: Obligation, a: Agreement, reply: Reply,
                  at: datetime, auto: bool = False) -> None:
    expires = max(o.deadline, at) + timedelta(days=app.settings.link_days_after_deadline)
    for c in _partners(s, o, a, reply):
        link = issue(s, app.secret_key, purpose="reply", now=at, expires_at=expires,
                     obligation_id=o.id, contact_id=c.id).link
        context = {"agreement_code": a.code, "reply_id": reply.id, "link_id": link.id,
                   "decision": reply.decision, "comment": reply.decision_comment,
                   "due": o.due.isoformat(), "auto": auto}
        enqueue_message(s, app, f"decision#{reply.id}#{c.id}", "decision", c, context, at,
                        obligation_id=o.id)


# -- a coordinator's link --------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """What a decision link names, read without changing anything (GET may use it)."""

    link: Link
    reply: Reply
    obligation: Obligation
    agreement: Agreement

    @property
    def purpose(self) -> str:
        return self.link.purpose


def _decided(s: Session, reply: Reply, o: Obligation) -> bool:
    """Decided before, or replaced: by a newer submission, or the obligation accepted."""
    if reply.status == "extension":
        return reply.decision != "pending"
    if reply.decision is not None or o.status == "accepted":
        return True
    newer = s.exec(select(Reply.id).where(Reply.obligation_id == o.id,
                                          Reply.status == "done",
                                          col(Reply.version) > reply.version)).first()
    return newer is not None


def load(s: Session, token: str, now: datetime, lock: bool = False) -> Pending:
    """The reply a live decision link names, or LinkRefused (one refusal for all)."""
    link = resolve(s, token, now, PURPOSES)
    if link.reply_id is None or link.obligation_id is None:
        raise LinkRefused
    query = select(Obligation).where(Obligation.id == link.obligation_id)
    if lock and s.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    o = s.exec(query.execution_options(populate_existing=True)).first()
    reply = s.exec(select(Reply).where(Reply.id == link.reply_id)
                   .execution_options(populate_existing=True)).first()
    wanted = "done" if link.purpose in REVIEW else "extension"
    if o is None or reply is None or o.status == "withdrawn" or reply.status != wanted \
            or reply.obligation_id != o.id:
        raise LinkRefused
    a = s.get(Agreement, o.agreement_id)
    assert a is not None
    return Pending(link, reply, o, a)


def is_decided(s: Session, p: Pending) -> bool:
    return _decided(s, p.reply, p.obligation)


def act(s: Session, app: App, token: str, comment: str | None, now: datetime) -> Pending:
    """Carry out what the link says, once; AlreadyDecided the second time."""
    p = load(s, token, now, lock=True)
    if _decided(s, p.reply, p.obligation):
        raise AlreadyDecided(p.reply)
    comment = (comment or "").strip() or None
    if p.purpose == "return" and comment is None:
        raise CommentRequired
    assert p.reply.id is not None
    if p.purpose in REVIEW:
        decide_reply(s, app, p.reply.id, DECISION_OF[p.purpose], comment, now)
    else:
        if p.purpose == "approve" and p.reply.until and p.reply.until > p.obligation.due:
            grant_extension(s, app, p.obligation, p.reply.until)
            p.obligation.updated_at = now
            s.add(p.obligation)
        p.reply.decision, p.reply.decision_comment = DECISION_OF[p.purpose], comment
        p.reply.decided_at = now
        s.add(p.reply)
    p.link.used_at = now
    s.add(p.link)
    s.flush()
    _tell_partner(s, app, p.obligation, p.agreement, p.reply, now)
    return p
