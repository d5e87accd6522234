"""A coordinator's decision through a link: accept or return a submission, approve or deny
an extension request.

A decision is recorded once on the Reply (`decision`, `decision_comment`, `decided_at`),
the acting link gets `used_at`, and the partner contact who replied gets a `decision`
message (services.coordination). The caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from core.statuses import Decision, ObligationStatus, ReplyStatus
from models.links import Link, LinkRefused, resolve
from models.replies import newer_submission
from models.tables import Agreement, Obligation, Reply
from services.coordination import EXTENSION, REVIEW, grant_extension, tell_partner
from services.ports import Shell
from services.replies import decide_reply

PURPOSES = (*REVIEW, *EXTENSION)
DECISION_OF = {"accept": Decision.ACCEPTED, "return": Decision.RETURNED,
               "approve": Decision.GRANTED, "deny": Decision.DENIED}


class AlreadyDecided(Exception):
    """The reply was decided before (or a newer reply replaced it): nothing was changed."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(f"reply {reply.id} already decided: {reply.decision}")
        self.reply = reply


class CommentRequired(Exception):
    """Returning a report needs a comment saying what to revise."""


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
    if reply.status == ReplyStatus.EXTENSION:
        return reply.decision != Decision.PENDING
    if reply.decision is not None or o.status == ObligationStatus.ACCEPTED:
        return True
    return newer_submission(s, o.id, reply.version)


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
    wanted = ReplyStatus.DONE if link.purpose in REVIEW else ReplyStatus.EXTENSION
    if o is None or reply is None or o.status == ObligationStatus.WITHDRAWN \
            or reply.status != wanted \
            or reply.obligation_id != o.id:
        raise LinkRefused
    a = s.get(Agreement, o.agreement_id)
    assert a is not None
    return Pending(link, reply, o, a)


def is_decided(s: Session, p: Pending) -> bool:
    return _decided(s, p.reply, p.obligation)


def act(s: Session, shell: Shell, token: str, comment: str | None, now: datetime) -> Pending:
    """Carry out what the link says, once; AlreadyDecided the second time."""
    p = load(s, token, now, lock=True)
    if _decided(s, p.reply, p.obligation):
        raise AlreadyDecided(p.reply)
    comment = (comment or "").strip() or None
    if p.purpose == "return" and comment is None:
        raise CommentRequired
    assert p.reply.id is not None
    if p.purpose in REVIEW:
        decide_reply(s, shell, p.reply.id, DECISION_OF[p.purpose], comment, now)
    else:
        if p.purpose == "approve" and p.reply.until and p.reply.until > p.obligation.due:
            grant_extension(s, shell, p.obligation, p.reply.until)
            p.obligation.updated_at = now
            s.add(p.obligation)
        p.reply.decision, p.reply.decision_comment = DECISION_OF[p.purpose], comment
        p.reply.decided_at = now
        s.add(p.reply)
    p.link.used_at = now
    s.add(p.link)
    s.flush()
    tell_partner(s, shell, p.obligation, p.agreement, p.reply, now)
    return p
