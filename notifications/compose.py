"""Composing a message from its outbox rows: everything shown is read at send time.

Rows carry ids only (link ids, reply ids, the audience of a ladder step); names, dates,
the outstanding lists and link tokens (derived from the links' stored nonces, never
stored) are read and rendered here, in the recipient's agreement's language.
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from email.utils import format_datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.calendar import zone
from core.policy import Policy
from core.statuses import Audience, ObligationStatus
from models.links import feed_nonces, token_for, token_of
from models.outbox import message_id
from models.sql import table as _table
from models.tables import Agreement, Commitment, Contact, Link, Obligation, OutboxMessage, Party
from notifications import decision_messages
from notifications.port import Message
from notifications.render import render
from notifications.wording import days_text, period, show_date


def build_message(s: Session, secret_key: bytes, policy: Policy, group: list[OutboxMessage],
                  now: datetime) -> Message:
    """Render a row (or a digest of rows) from its context; link tokens derived here."""
    first = group[0]
    contact_name, language, code = s.execute(_heading_query(), {
        "contact": first.contact_id, "agreement": first.agreement_id}).one()
    name = contact_name or first.recipient
    language = language or "vi"
    sender = policy.sender_name
    if first.context.get("type") == "undeliverable":
        target = s.get(Contact, first.context["contact_id"])
        party = s.get(Party, target.party_id) if target else None
        rendered = render("undeliverable", language, {
            "recipient": name, "sender": sender, "contact_name": target.name if target else "?",
            "party": party.name if party else "?", "role": target.role if target else "?",
            "attempts": first.context.get("attempts"), "error": first.context.get("error"),
            "agreement_code": code or ""})
    elif first.context.get("type") in ("host_notice", "dossier", "receipt", "failure"):
        context = dict(first.context, recipient=name, sender=sender)
        if "link_id" in context:
            link = s.get(Link, context["link_id"])
            assert link is not None
            context["link"] = policy.link_url("dossier", token_of(link, secret_key))
        for field_name in ("meeting", "report_due"):
            if isinstance(context.get(field_name), str):
                context[field_name] = show_date(date.fromisoformat(context[field_name]),
                                                language)
        if isinstance(context.get("prepares"), dict):  # instants, local to the agreement
            context["prepares"] = {k: show_date(datetime.fromisoformat(v).date(), language)
                                   for k, v in context["prepares"].items()}
        if isinstance(context.get("covers"), list):
            context["covers"] = " – ".join(show_date(date.fromisoformat(d), language)
                                           for d in context["covers"])
        rendered = render(first.context["type"], language, context)
    elif first.context.get("type") in decision_messages.KINDS:
        rendered = decision_messages.build(s, secret_key, policy, group, name, sender,
                                            language)
    else:
        items = _items(s, secret_key, policy, group, now, language)
        codes = ", ".join(sorted({i["agreement_code"] for i in items}))
        rendered = render("ladder", language, {
            "recipient": name, "sender": sender, "agreements": codes, "items": items,
            "calendars": _calendars(s, secret_key, policy, group, items)})
    return Message(to_address=first.recipient, to_name=name, subject=rendered.subject,
                   text=rendered.text, html=rendered.html,
                   message_id=message_id(r.key for r in group),
                   headers={"Date": format_datetime(now)})


def _items(s: Session, secret_key: bytes, policy: Policy, group: list[OutboxMessage],
           now: datetime, language: str) -> list[dict[str, Any]]:
    """The ladder items of a message: obligation, agreement, names and link in one query.

    A wave renders thousands of messages; an ORM load per obligation, link, party and
    commitment (and per row of an outstanding list) cost more than the SMTP exchange.
    """
    found = {f.id: f for f in s.execute(_items_query(), {
        "links": sorted({r.context["link_id"] for r in group})})}
    outstanding: dict[tuple[int, str | None], list[dict[str, str]]] = {}
    items = []
    for row in group:
        f = found[row.context["link_id"]]
        assert f.obligation_id == row.obligation_id, (row.key, f.obligation_id)
        audience = row.context["audience"]
        item = {
            "action": row.context["action"], "audience": audience,
            "agreement_code": f.code, "agreement_title": f.title,
            "commitment": _commitment_text(f, language), "party": _party_text(f),
            "period": period(f.label, language), "due": show_date(f.due, language),
            "days_text": days_text(f.due, _local_date(now, f.timezone), language),
            "link": policy.link_url("r", token_for(secret_key, f.nonce)), "outstanding": [],
        }
        if audience in (Audience.HEAD, Audience.COORDINATOR, Audience.SUPERVISOR):
            scope = (f.agreement_id, f.party if audience == Audience.HEAD else None)
            if scope not in outstanding:
                outstanding[scope] = _outstanding(s, *scope, f.timezone, now, language)
            item["outstanding"] = outstanding[scope]
        items.append(item)
    return items


def _calendars(s: Session, secret_key: bytes, policy: Policy, group: list[OutboxMessage],
               items: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The calendar feed links of a ladder message (one per agreement and party: the
    recipient's own party's deadlines), in the order of its items."""
    wanted = {row.context["feed_link_id"]: item["party"] + f" ({item['agreement_code']})"
              for row, item in zip(group, items, strict=True)
              if row.context.get("feed_link_id")}
    if not wanted:
        return []
    nonces = feed_nonces(s, list(wanted))
    return [{"party": party, "link": policy.link_url("c", token_for(secret_key, nonces[lid]))}
            for lid, party in wanted.items() if lid in nonces]


@functools.cache
def _heading_query() -> sa.Select[Any]:
    """The recipient's name and the agreement's language and code (columns, not rows)."""
    c, a = _table(Contact), _table(Agreement)

    def of(column: Any, table: sa.Table, key: str) -> Any:
        return sa.select(column).where(table.c.id == sa.bindparam(key)).scalar_subquery()

    return sa.select(of(c.c.name, c, "contact"), of(a.c.language, a, "agreement"),
                     of(a.c.code, a, "agreement"))


@functools.cache
def _items_query() -> sa.Select[Any]:
    """Built once: constructing the statement cost as much as running it."""
    o, a, link = _table(Obligation), _table(Agreement), _table(Link)
    joined, names = _with_names(link.join(o, o.c.id == link.c.obligation_id)
                                .join(a, a.c.id == o.c.agreement_id), o)
    return (sa.select(link.c.id, link.c.nonce, o.c.id.label("obligation_id"), o.c.agreement_id,
                      o.c.party, o.c.commitment, o.c.label, o.c.due, a.c.code, a.c.title,
                      a.c.timezone, *names)
            .select_from(joined).where(link.c.id.in_(sa.bindparam("links", expanding=True))))


@functools.cache
def _outstanding_query(one_party: bool) -> sa.Select[Any]:
    """Open obligations past their deadline (of one party, or all), oldest first, 20 at most."""
    o = _table(Obligation)
    joined, names = _with_names(o, o)
    query = (sa.select(o.c.party, o.c.commitment, o.c.label, o.c.deadline, *names)
             .select_from(joined)
             .where(o.c.agreement_id == sa.bindparam("agreement"),
                    o.c.status == ObligationStatus.OPEN, o.c.deadline <= sa.bindparam("now")))
    if one_party:
        query = query.where(o.c.party == sa.bindparam("party"))
    return query.order_by(o.c.deadline, o.c.key).limit(20)


def _with_names(joined: Any, o: sa.Table) -> tuple[Any, tuple[Any, ...]]:
    """`joined` with the obligation's party and commitment, and their display-name columns."""
    p, c = _table(Party), _table(Commitment)
    return (joined.outerjoin(p, (p.c.agreement_id == o.c.agreement_id) & (p.c.key == o.c.party))
            .outerjoin(c, (c.c.agreement_id == o.c.agreement_id) & (c.c.key == o.c.commitment)),
            (p.c.short.label("party_short"), p.c.name.label("party_name"),
             c.c.title.label("commitment_title")))


def _local_date(instant: datetime, timezone: str) -> date:
    return instant.astimezone(zone(timezone)).date()


def _commitment_text(f: Any, language: str) -> str:
    if f.commitment is None:
        k = f.label.split("-", 1)[1] if f.label.startswith("review-") else ""
        return f"Báo cáo đánh giá kỳ {k}" if language == "vi" else f"Review report {k}"
    return str(f.commitment_title or f.commitment)


def _party_text(f: Any) -> str:
    return str(f.party_short or f.party_name or f.party)


def _outstanding(s: Session, agreement_id: int, party: str | None, timezone: str,
                 now: datetime, language: str) -> list[dict[str, str]]:
    rows = s.execute(_outstanding_query(party is not None),
                     {"agreement": agreement_id, "now": now, "party": party})
    return [{"party": _party_text(f), "commitment": _commitment_text(f, language),
             "period": period(f.label, language),
             "since": show_date(_local_date(f.deadline, timezone), language)}
            for f in rows]
