"""What a partner's reply and a coordinator's decision share: asking the convener's
coordinators, telling the partner, and moving a due date.

A partner's reply through the portal (`source == "portal"`):
- `done`: the convener's coordinators get a `submission` message with an accept and a
  return link (capabilities bound to the obligation, the coordinator and the reply).
- `extension`: granted at once (`granted`) when core.policy.automatic_extension says so;
  otherwise it waits (`pending`, the due date unchanged) and the coordinators get an
  `extension_request` message with approve and deny links. A newer request replaces a
  pending one (`superseded`).
Replies recorded from files (CLI, demo, tests) are facts: an extension there is granted
as given, and nobody is asked. The caller owns the transaction.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from core.calendar import end_of_day
from core.ladder import extended_due
from core.policy import automatic_extension, why_asked
from core.statuses import Decision, ReplyStatus, Role
from models.ladder_state import load_stored, reschedule
from models.links import issue, issue_for_new_reply
from models.outbox import enqueue_message, insert_messages, message_rows
from models.queries import coordinators
from models.replies import extension_requests
from models.tables import Agreement, Contact, Obligation, Party, Reply
from services.ports import Shell

REVIEW, EXTENSION = ("accept", "return"), ("approve", "deny")


def extension_applies(s: Session, shell: Shell, o: Obligation, reply: Reply, at: datetime
                      ) -> bool:
    """Whether an extension reply moves the due date now (and its decision, for the portal)."""
    if reply.source != "portal" or reply.until is None:
        return True
    earlier = [r for r in extension_requests(s, o.id) if r is not reply]
    for r in earlier:
        if r.decision == Decision.PENDING:
            r.decision, r.decided_at = Decision.SUPERSEDED, at
            s.add(r)
    automatic = automatic_extension(shell.policy, first=not earlier, due=o.due,
                                    until=reply.until)
    reply.decision = Decision.GRANTED if automatic else Decision.PENDING
    reply.decided_at = at if automatic else None
    return automatic


def grant_extension(s: Session, shell: Shell, o: Obligation, until: date) -> None:
    """The obligation is due on `until` (moved by the agreement's `due_adjust`), and its
    unused ladder steps re-timed."""
    row = s.get(Agreement, o.agreement_id)
    assert row is not None
    agreement = load_stored(s, shell.parse_options, row).agreement
    o.due = extended_due(until, shell.calendar, agreement.due_adjust)
    o.deadline = end_of_day(o.due, agreement.timezone)
    reschedule(s, shell.calendar, o, agreement)


def after_partner_reply(s: Session, shell: Shell, o: Obligation, reply: Reply, at: datetime
                        ) -> None:
    """The messages a partner's reply calls for (recorded in the outbox, once per key)."""
    if reply.status not in (ReplyStatus.DONE, ReplyStatus.EXTENSION):
        return
    s.flush()
    assert reply.id is not None and o.id is not None
    a = s.get(Agreement, o.agreement_id)
    assert a is not None
    if reply.status == ReplyStatus.EXTENSION and reply.decision == Decision.GRANTED:
        tell_partner(s, shell, o, a, reply, at, auto=True)
        return
    if reply.status == ReplyStatus.EXTENSION and reply.decision != Decision.PENDING:
        return
    why = None
    if reply.status == ReplyStatus.EXTENSION:
        why = why_asked(first=all(r.id == reply.id for r in extension_requests(s, o.id)))
    ask_coordinators(s, shell, "submission" if reply.status == ReplyStatus.DONE
                     else "extension_request",
                     agreement_id=a.id or 0, agreement_code=a.code, obligation_id=o.id,
                     deadline=o.deadline, reply_id=reply.id, at=at, why=why)


def ask_coordinators(s: Session, shell: Shell, kind: str, *, agreement_id: int,
                     agreement_code: str, obligation_id: int, deadline: datetime,
                     reply_id: int, at: datetime, why: str | None = None,
                     into: list[dict[str, Any]] | None = None) -> None:
    """The `submission` or `extension_request` message of a reply recorded in this
    transaction, to each of the convener's coordinators, with their two decision links.

    Three statements whatever the number of coordinators: who they are, their links
    (new: none can exist for a new reply), their messages (`into`: added to the caller's
    rows, which it records with its own)."""
    purposes = REVIEW if kind == "submission" else EXTENSION
    found = coordinators(s, agreement_id)
    expires = max(deadline, at) + timedelta(days=shell.policy.link_days_after_deadline)
    links = issue_for_new_reply(s, shell.secret_key, purposes=purposes, now=at,
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


def _partners(s: Session, o: Obligation, a: Agreement, reply: Reply) -> list[Contact]:
    """Who hears of a decision: the contact whose link carried the reply, else the focals."""
    contact = s.get(Contact, reply.contact_id) if reply.contact_id else None
    if contact is not None and contact.active:
        return [contact]
    return list(s.exec(select(Contact).join(Party, col(Party.id) == Contact.party_id).where(
        Party.agreement_id == a.id, Party.key == o.party, Contact.role == Role.FOCAL,
        col(Contact.active)).order_by(col(Contact.id))))


def tell_partner(s: Session, shell: Shell, o: Obligation, a: Agreement, reply: Reply,
                 at: datetime, auto: bool = False) -> None:
    """The `decision` message to the partner (with a fresh reply link)."""
    expires = max(o.deadline, at) + timedelta(days=shell.policy.link_days_after_deadline)
    for c in _partners(s, o, a, reply):
        link = issue(s, shell.secret_key, purpose="reply", now=at, expires_at=expires,
                     obligation_id=o.id, contact_id=c.id).link
        context = {"agreement_code": a.code, "reply_id": reply.id, "link_id": link.id,
                   "decision": reply.decision, "comment": reply.decision_comment,
                   "due": o.due.isoformat(), "auto": auto}
        enqueue_message(s, f"decision#{reply.id}#{c.id}", "decision", c, context, at,
                        obligation_id=o.id)
