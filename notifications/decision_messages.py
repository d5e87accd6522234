"""Coordinator decisions in messages: what a reply says, and the three message kinds.

- `submission`: a partner's `done` reply, to the convener's coordinators, with an accept
  and a "return for revision" link (several in one send run are one digest).
- `extension_request`: an extension request that was not granted automatically, to the
  coordinators, with approve and deny links (digested the same way).
- `decision`: to the partner contact who replied: accepted, returned (with the comment),
  extension granted (the new due date) or denied (the reason).

Rows carry ids only (`reply_id`, link ids); everything shown is read at send time, and
link tokens are derived from the links' stored nonces, never stored.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import Session, select

from core.calendar import zone
from core.numbers import show_number
from core.policy import Policy
from models.links import token_of
from models.tables import (
    Agreement,
    Commitment,
    Contact,
    Link,
    Obligation,
    OutboxMessage,
    Party,
    Reply,
)
from notifications.render import Rendered, render
from notifications.wording import period, show_date

KINDS = ("submission", "extension_request", "decision")


def _value(v: Any, language: str) -> str:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    return show_number(v, language)


def describe(s: Session, reply: Reply, language: str) -> dict[str, Any]:
    """What a reply says, as shown to a coordinator (plain strings: templates escape them)."""
    o = s.get(Obligation, reply.obligation_id)
    assert o is not None
    a = s.get(Agreement, o.agreement_id)
    assert a is not None
    party = s.exec(select(Party).where(Party.agreement_id == a.id, Party.key == o.party)).first()
    commitment = s.exec(select(Commitment).where(
        Commitment.agreement_id == a.id, Commitment.key == o.commitment)).first() \
        if o.commitment else None
    if commitment is not None:
        title = commitment.title
    else:
        k = o.label.split("-", 1)[1] if o.label.startswith("review-") else ""
        title = f"Báo cáo đánh giá kỳ {k}" if language == "vi" else f"Review report {k}"
    labels = {i["id"]: i["label"] for i in (commitment.indicators if commitment else [])}
    contact = s.get(Contact, reply.contact_id) if reply.contact_id else None
    local = reply.recorded_at.astimezone(zone(a.timezone))
    return {
        "agreement_code": a.code, "agreement_title": a.title, "commitment": title,
        "party": party.name if party else o.party, "period": period(o.label, language),
        "status": reply.status, "version": reply.version, "due": show_date(o.due, language),
        "when": local.strftime("%d/%m/%Y %H:%M"),
        "answered_by": reply.answered_by or "", "contact": contact.name if contact else "",
        "values": [{"label": labels.get(k, k), "value": _value(v, language)}
                   for k, v in reply.values.items()],
        "percent": reply.percent, "note": reply.note or "", "reason": reply.reason or "",
        "attachment": reply.attachment_name or "",
        "until": show_date(reply.until, language) if reply.until else "",
        "days_more": (reply.until - o.due).days if reply.until else 0,
        "decision": reply.decision, "decision_comment": reply.decision_comment or "",
        "decided": (reply.decided_at.astimezone(zone(a.timezone)).strftime("%d/%m/%Y %H:%M")
                    if reply.decided_at else ""),
    }


def _url(secret_key: bytes, policy: Policy, s: Session, link_id: int, prefix: str) -> str:
    link = s.get(Link, link_id)
    assert link is not None
    return policy.link_url(prefix, token_of(link, secret_key))


def build(s: Session, secret_key: bytes, policy: Policy, group: list[OutboxMessage],
          recipient: str, sender: str, language: str) -> Rendered:
    """The message for one row, or for a digest of rows of one kind to one recipient."""
    first = group[0]
    kind = first.context["type"]
    if kind == "decision":
        ctx = first.context
        reply = s.get(Reply, ctx["reply_id"])
        assert reply is not None
        item = describe(s, reply, language)
        due = ctx.get("due")
        return render("decision", language, {
            "recipient": recipient, "sender": sender, "item": item,
            "decision": ctx["decision"], "auto": bool(ctx.get("auto")),
            "comment": ctx.get("comment") or "",
            "due": show_date(date.fromisoformat(due), language) if due else item["due"],
            "link": _url(secret_key, policy, s, ctx["link_id"], "r") if ctx.get("link_id") else ""})
    items = []
    for row in group:
        reply = s.get(Reply, row.context["reply_id"])
        assert reply is not None
        item = describe(s, reply, language)
        item["why"] = row.context.get("why", "")
        item["links"] = {purpose: _url(secret_key, policy, s, link_id, "d")
                         for purpose, link_id in row.context["links"].items()}
        items.append(item)
    codes = ", ".join(sorted({i["agreement_code"] for i in items}))
    return render(kind, language, {"recipient": recipient, "sender": sender,
                                   "agreements": codes, "items": items,
                                   "auto_days": policy.auto_extension_days})
