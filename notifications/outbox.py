"""The outbox: every message recorded before it is sent, sent once per key, retried in one place.

States: pending → claimed (with a lease) → sent | retry_wait | dead, and `unknown` for a
claimed row whose lease ran out with no recorded result (the sender died between the
mail server's acceptance and our record). An `unknown` row is sent again once with the
same deterministic Message-ID, so a duplicate collapses in mail clients; it is counted.

No transaction is held across a network call: claim (commit), send, record (commit).
Rows for one recipient in one tick share a `digest_key` and go out as one message.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from config.bootstrap import App
from core.calendar import zone
from models.ladder_state import FiredItem
from models.links import issue_many, token_of
from models.tables import Agreement, Commitment, Contact, Link, Obligation, OutboxMessage, Party
from notifications import decision_messages
from notifications.apprise_channel import AppriseNotifier
from notifications.port import DeliveryError, Message, Notifier
from notifications.render import render
from notifications.smtp import SmtpNotifier
from notifications.wording import days_text, period, show_date

BACKOFF_BASE = timedelta(minutes=2)
BACKOFF_CAP = timedelta(hours=6)


def message_id(keys: Iterable[str]) -> str:
    digest = hashlib.sha256("|".join(sorted(keys)).encode()).hexdigest()[:32]
    return f"<{digest}@phoihop>"


def _insert_ignore(s: Session) -> Any:
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    if s.get_bind().dialect.name == "postgresql":
        return pg_insert(table).on_conflict_do_nothing(index_elements=["key"])
    return sqlite_insert(table).on_conflict_do_nothing(index_elements=["key"])


def _rows_for(contact: Contact, key: str, digest: str, base: dict[str, Any]
              ) -> list[dict[str, Any]]:
    """One row per address: the e-mail, and each Apprise channel."""
    targets: list[tuple[str, str, str]] = []
    if contact.email:
        targets.append(("email", contact.email, key))
    targets += [("apprise", ch, f"{key}#ch{i}") for i, ch in enumerate(contact.channels)]
    return [dict(base, key=k, channel=channel, recipient=recipient,
                 message_id=message_id([k]), digest_key=f"{digest}#{channel}#{recipient}")
            for channel, recipient, k in targets]


def enqueue_fired(s: Session, app: App, items: Sequence[FiredItem], now: datetime) -> int:
    """Record the messages of fired ladder steps (idempotent by key). Returns rows added.

    Set-wise: the contacts are read and the reply links issued (a live one reused) for
    all items at once."""
    wanted = {(item.obligation_id, r.contact_id) for item in items for r in item.recipients}
    if not wanted:
        return 0
    contacts = _by_id(s, Contact, {cid for _oid, cid in wanted})
    deadline = {item.obligation_id: item.deadline for item in items
                if item.deadline is not None}
    days = timedelta(days=app.settings.link_days_after_deadline)
    links = issue_many(s, app.secret_key, purpose="reply", now=now, wanted={
        (oid, cid): deadline[oid] + days for oid, cid in wanted
        if cid in contacts and oid in deadline})
    rows: list[dict[str, Any]] = []
    for item in items:
        for r in item.recipients:
            contact, link_id = contacts.get(r.contact_id), links.get(
                (item.obligation_id, r.contact_id))
            if contact is None or link_id is None:
                continue
            base = dict(kind=item.action, agreement_id=item.agreement_id,
                        obligation_id=item.obligation_id, step=item.step,
                        contact_id=r.contact_id, state="pending", attempts=0,
                        next_attempt_at=now, created_at=now, subject="", body_text="",
                        context={"type": "ladder", "action": item.action,
                                 "audience": r.audience, "link_id": link_id,
                                 "at": item.at.isoformat()})
            rows += _rows_for(contact, f"{item.obligation_key}#{item.step}#{r.contact_id}",
                              f"{item.at.isoformat()}", base)
    if not rows:
        return 0
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    return len(s.execute(_insert_ignore(s).returning(table.c.id), rows).all())


def _by_id(s: Session, model: Any, ids: set[int]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    id_list = sorted(ids)
    for i in range(0, len(id_list), 900):
        out.update((row.id, row) for row in s.exec(select(model).where(
            col(model.id).in_(id_list[i:i + 900]))))
    return out


def enqueue_message(s: Session, app: App, key: str, kind: str, contact: Contact,
                    context: dict[str, Any], now: datetime, digest: str | None = None,
                    obligation_id: int | None = None) -> bool:
    """Record one message of another kind (host notice, dossier ready) to one contact.

    `context` is what the template needs (no secrets, no tokens: a link is named by its
    `link_id`). Returns whether it was new (the same key twice records it once). Rows
    given the same `digest` that are due together go out as one message.
    """
    code = context.get("agreement_code")
    agreement = s.exec(select(Agreement).where(Agreement.code == code)).first() if code else None
    base = dict(kind=kind, agreement_id=agreement.id if agreement else None,
                obligation_id=obligation_id, step=None, contact_id=contact.id, state="pending",
                attempts=0, next_attempt_at=now, created_at=now, subject="", body_text="",
                context={**context, "type": kind})
    rows = _rows_for(contact, key, digest or f"{kind}#{key}", base)
    if not rows:
        return False
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    return bool(s.execute(_insert_ignore(s).returning(table.c.id), rows).all())


@dataclass
class SendReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    unknown: int = 0  # leases that ran out with no recorded result
    messages: int = 0  # messages handed over (a digest counts once)
    errors: list[str] = field(default_factory=list)


def expire_leases(s: Session, now: datetime) -> int:
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    result = s.execute(sa.update(table).where(
        table.c.state == "claimed", table.c.lease_until < now).values(
        state="unknown", last_error="lease expired with no recorded result: delivery unknown",
        next_attempt_at=now))
    return int(getattr(result, "rowcount", 0) or 0)


def claim(app: App, now: datetime, worker: str, limit: int) -> tuple[list[OutboxMessage], int]:
    """Take due rows (whole digests) with a lease; committed before anything is sent."""
    lease = now + timedelta(seconds=app.settings.lease_seconds)
    with app.session(write=True) as s:
        unknown = expire_leases(s, now)
        due = (col(OutboxMessage.state).in_(("pending", "retry_wait", "unknown")),
               col(OutboxMessage.next_attempt_at) <= now)
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
            r.state, r.lease_until, r.claimed_by = "claimed", lease, worker
            r.attempts += 1
            s.add(r)
    return rows, unknown


def _backoff(attempts: int) -> timedelta:
    delay = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1)))
    return delay * random.uniform(0.5, 1.0)


def send_pending(app: App, now: datetime, worker: str, limit: int = 500,
                 notifiers: dict[str, Notifier] | None = None) -> SendReport:
    """Send what is due: claim, render, hand over, record. Safe to run in several workers."""
    report = SendReport()
    own = notifiers is None
    channels = notifiers or {
        "email": SmtpNotifier(app.settings.mail),
        "apprise": AppriseNotifier({k: v.get_secret_value()
                                    for k, v in app.settings.channels.items()})}
    try:
        while True:
            rows, unknown = claim(app, now, worker, limit)
            report.unknown += unknown
            if not rows:
                return report
            groups: dict[str, list[OutboxMessage]] = {}
            for r in rows:
                groups.setdefault(r.digest_key or r.key, []).append(r)
            for group in groups.values():
                _send_group(app, now, worker, group, channels, report)
    finally:
        if own:
            for n in channels.values():
                n.close()


def _send_group(app: App, now: datetime, worker: str, group: list[OutboxMessage],
                channels: dict[str, Notifier], report: SendReport) -> None:
    first = group[0]
    with app.session() as s:
        message = build_message(s, app, group, now)
    error: DeliveryError | None = None
    try:
        channels[first.channel].send(message)
    except DeliveryError as exc:
        error = exc
    except Exception as exc:  # an adapter bug must not leave the rows claimed
        error = DeliveryError(f"{type(exc).__name__}: {exc}"[:300])
    report.messages += 1
    with app.session(write=True) as s:
        for r in group:
            row = s.get(OutboxMessage, r.id)
            if row is None or row.state != "claimed" or row.claimed_by != worker:
                continue  # the lease ran out and someone else owns it now
            row.lease_until = None
            if error is None:
                row.state, row.sent_at, row.subject = "sent", now, message.subject
                report.sent += 1
            elif error.permanent or row.attempts >= app.settings.send_retries:
                row.state, row.last_error = "dead", str(error)[:500]
                report.dead += 1
                _report_undeliverable(s, app, row, now)
            else:
                row.state, row.last_error = "retry_wait", str(error)[:500]
                row.next_attempt_at = now + _backoff(row.attempts)
                report.retried += 1
            s.add(row)
    if error is not None:
        report.errors.append(str(error)[:200])


def _report_undeliverable(s: Session, app: App, row: OutboxMessage, now: datetime) -> None:
    """Once per contact: tell the convener's coordinators that this contact is unreachable."""
    contact = s.get(Contact, row.contact_id) if row.contact_id else None
    if contact is None or row.kind == "undeliverable":
        return
    if contact.undeliverable_since is None:
        contact.undeliverable_since = now
        s.add(contact)
    party = s.get(Party, contact.party_id)
    agreement = s.get(Agreement, row.agreement_id) if row.agreement_id else None
    if party is None or agreement is None:
        return
    coordinators = s.exec(select(Contact).join(Party, col(Party.id) == Contact.party_id).where(
        Party.agreement_id == agreement.id, Party.key == agreement.convener,
        Contact.role == "coordinator", col(Contact.active))).all()
    rows = []
    for c in coordinators:
        if c.id == contact.id:
            continue
        base = dict(kind="undeliverable", agreement_id=agreement.id, obligation_id=None,
                    step=None, contact_id=c.id, state="pending", attempts=0, next_attempt_at=now,
                    created_at=now, subject="", body_text="",
                    context={"type": "undeliverable", "contact_id": contact.id,
                             "attempts": row.attempts, "error": (row.last_error or "")[:200]})
        rows += _rows_for(c, f"undeliverable#{contact.id}#{c.id}", f"undeliverable#{c.id}", base)
    if rows:
        s.execute(_insert_ignore(s), rows)


def build_message(s: Session, app: App, group: list[OutboxMessage], now: datetime) -> Message:
    """Render a row (or a digest of rows) from its context; link tokens derived here."""
    first = group[0]
    contact = s.get(Contact, first.contact_id) if first.contact_id else None
    name = contact.name if contact else first.recipient
    agreement = s.get(Agreement, first.agreement_id) if first.agreement_id else None
    language = agreement.language if agreement else "vi"
    sender = app.settings.mail.sender_name
    if first.context.get("type") == "undeliverable":
        target = s.get(Contact, first.context["contact_id"])
        party = s.get(Party, target.party_id) if target else None
        rendered = render("undeliverable", language, {
            "recipient": name, "sender": sender, "contact_name": target.name if target else "?",
            "party": party.name if party else "?", "role": target.role if target else "?",
            "attempts": first.context.get("attempts"), "error": first.context.get("error"),
            "agreement_code": agreement.code if agreement else ""})
    elif first.context.get("type") in ("host_notice", "dossier", "receipt"):
        context = dict(first.context, recipient=name, sender=sender)
        if "link_id" in context:
            link = s.get(Link, context["link_id"])
            assert link is not None
            token = token_of(link, app.secret_key)
            context["link"] = f"{app.settings.portal_url.rstrip('/')}/dossier/{token}"
        for field_name in ("meeting",):
            if isinstance(context.get(field_name), str):
                context[field_name] = show_date(date.fromisoformat(context[field_name]),
                                                language)
        if isinstance(context.get("covers"), list):
            context["covers"] = " – ".join(show_date(date.fromisoformat(d), language)
                                           for d in context["covers"])
        rendered = render(first.context["type"], language, context)
    elif first.context.get("type") in decision_messages.KINDS:
        rendered = decision_messages.build(s, app, group, name, sender, language)
    else:
        items = [_item(s, app, r, now, language) for r in group]
        codes = ", ".join(sorted({i["agreement_code"] for i in items}))
        rendered = render("ladder", language, {"recipient": name, "sender": sender,
                                                "agreements": codes, "items": items})
    return Message(to_address=first.recipient, to_name=name, subject=rendered.subject,
                   text=rendered.text, html=rendered.html,
                   message_id=message_id(r.key for r in group),
                   headers={"Date": format_datetime(now)})


def _item(s: Session, app: App, row: OutboxMessage, now: datetime, language: str
          ) -> dict[str, Any]:
    o = s.get(Obligation, row.obligation_id)
    assert o is not None
    a = s.get(Agreement, o.agreement_id)
    assert a is not None
    link = s.get(Link, row.context["link_id"])
    assert link is not None
    token = token_of(link, app.secret_key)
    local_today = _local_date(now, a)
    item = {
        "action": row.context["action"], "audience": row.context["audience"],
        "agreement_code": a.code, "agreement_title": a.title,
        "commitment": _commitment_title(s, o, language),
        "party": _party_name(s, a.id, o.party), "period": period(o.label, language),
        "due": show_date(o.due, language), "days_text": days_text(o.due, local_today, language),
        "link": f"{app.settings.portal_url.rstrip('/')}/r/{token}", "outstanding": [],
    }
    if item["audience"] in ("head", "coordinator", "supervisor"):
        item["outstanding"] = _outstanding(s, a, o.party if item["audience"] == "head" else None,
                                           now, language)
    return item


def _local_date(instant: datetime, a: Agreement) -> date:
    return instant.astimezone(zone(a.timezone)).date()


def _commitment_title(s: Session, o: Obligation, language: str) -> str:
    if o.commitment is None:
        k = o.label.split("-", 1)[1] if o.label.startswith("review-") else ""
        return f"Báo cáo đánh giá kỳ {k}" if language == "vi" else f"Review report {k}"
    c = s.exec(select(Commitment).where(Commitment.agreement_id == o.agreement_id,
                                        Commitment.key == o.commitment)).first()
    return c.title if c else o.commitment


def _party_name(s: Session, agreement_id: int | None, key: str) -> str:
    p = s.exec(select(Party).where(Party.agreement_id == agreement_id, Party.key == key)).first()
    return (p.short or p.name) if p else key


def _outstanding(s: Session, a: Agreement, party: str | None, now: datetime, language: str
                 ) -> list[dict[str, str]]:
    q = select(Obligation).where(Obligation.agreement_id == a.id, Obligation.status == "open",
                                 col(Obligation.deadline) <= now)
    if party is not None:
        q = q.where(Obligation.party == party)
    rows = s.exec(q.order_by(col(Obligation.deadline), col(Obligation.key)).limit(20)).all()
    return [{"party": _party_name(s, a.id, o.party),
             "commitment": _commitment_title(s, o, language),
             "period": period(o.label, language),
             "since": show_date(_local_date(o.deadline, a), language)}
            for o in rows]
