"""The outbox: every message recorded before it is sent, sent once per key, retried in one place.

States: pending → claimed (with a lease) → sent | retry_wait | dead, and `unknown` for a
claimed row whose lease ran out with no recorded result (the sender died between the
mail server's acceptance and our record). An `unknown` row is sent again once with the
same deterministic Message-ID, so a duplicate collapses in mail clients; it is counted.

No transaction is held across a network call: claim (commit), send, record (commit).
Rows for one recipient in one tick share a `digest_key` and go out as one message.
"""

from __future__ import annotations

import functools
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
from models.links import issue_many, token_for, token_of
from models.tables import Agreement, Commitment, Contact, Link, Obligation, OutboxMessage, Party
from notifications import decision_messages
from notifications.apprise_channel import AppriseNotifier
from notifications.port import DeliveryError, Message, Notifier
from notifications.render import render
from notifications.smtp import SmtpNotifier
from notifications.wording import days_text, period, show_date

BACKOFF_BASE = timedelta(minutes=2)
BACKOFF_CAP = timedelta(hours=6)
CLAIM_LOCK = 0x70686F69686F70  # PostgreSQL advisory lock key of outbox claims ("phoihop")


def message_id(keys: Iterable[str]) -> str:
    digest = hashlib.sha256("|".join(sorted(keys)).encode()).hexdigest()[:32]
    return f"<{digest}@phoihop>"


def _insert_ignore(s: Session) -> Any:
    return _insert_ignore_for(s.get_bind().dialect.name)


@functools.cache
def _insert_ignore_for(dialect: str) -> Any:
    """Built once per dialect (a reply records its messages with it)."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    if dialect == "postgresql":
        return pg_insert(table).on_conflict_do_nothing(index_elements=["key"])
    return sqlite_insert(table).on_conflict_do_nothing(index_elements=["key"])


def _rows_for(contact: Any, key: str, digest: str, base: dict[str, Any]
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
    return len(s.execute(_insert_returning_for(s.get_bind().dialect.name), rows).all())


@functools.cache
def _insert_returning_for(dialect: str) -> Any:
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    return _insert_ignore_for(dialect).returning(table.c.id)


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
                contact_id=contact.id, state="pending", attempts=0, next_attempt_at=now,
                created_at=now, subject="", body_text="", context={**context, "type": kind})
    return _rows_for(contact, key, digest or f"{kind}#{key}", base)


def insert_messages(s: Session, rows: list[dict[str, Any]]) -> int:
    """Record outbox rows in one statement, a key already there skipped; rows added."""
    if not rows:
        return 0
    return len(s.execute(_insert_returning_for(s.get_bind().dialect.name), rows).all())


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
        if s.get_bind().dialect.name == "postgresql":
            # One claim at a time, as SQLite's write lock does it (sending stays parallel).
            # Claims that overlapped read the same digests: the ones that found them taken
            # stopped, leaving a whole wave to one sender, and two could split a digest.
            s.execute(sa.select(sa.func.pg_advisory_xact_lock(CLAIM_LOCK)))
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
        "email": SmtpNotifier(app.settings.mail, app.settings.send_deadline_seconds),
        "apprise": AppriseNotifier({k: v.get_secret_value()
                                    for k, v in app.settings.channels.items()})}
    down: set[str] = set()  # channels whose server took nothing this round
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
                if group[0].channel in down:
                    _release(app, now, worker, group, report)
                    continue
                error = _send_group(app, now, worker, group, channels, report)
                if error is not None and error.unreachable:
                    down.add(group[0].channel)
    finally:
        if own:
            for n in channels.values():
                n.close()


def _release(app: App, now: datetime, worker: str, group: list[OutboxMessage],
             report: SendReport) -> None:
    """Claimed rows not attempted, their server having taken nothing this round (each
    attempt waits up to the send deadline): retried later, the claim's attempt not counted."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    with app.session(write=True) as s:
        done = s.execute(sa.update(table).where(
            table.c.id.in_([r.id for r in group]), table.c.state == "claimed",
            table.c.claimed_by == worker,
        ).values(state="retry_wait", attempts=table.c.attempts - 1, lease_until=None,
                 next_attempt_at=now + _backoff(1), last_error=sa.func.coalesce(
                     table.c.last_error, "not attempted: the server took no message this round")))
    report.retried += int(getattr(done, "rowcount", 0) or 0)


def _send_group(app: App, now: datetime, worker: str, group: list[OutboxMessage],
                channels: dict[str, Notifier], report: SendReport) -> DeliveryError | None:
    first = group[0]
    error: DeliveryError | None = None
    broken = False  # the message itself cannot be built: not the recipient's fault
    try:
        with app.session() as s:
            message = build_message(s, app, group, now)
    except (sa.exc.OperationalError, sa.exc.InterfaceError):
        raise  # the database went away, not the message's fault: the claims run out
    except Exception as exc:  # a message that cannot be rendered will not render later:
        # dead (and counted), never left claimed to be retried forever
        error = DeliveryError(f"cannot render: {type(exc).__name__}: {exc}"[:300],
                              permanent=True)
        broken = True
    else:
        try:
            channels[first.channel].send(message)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # an adapter bug must not leave the rows claimed
            error = DeliveryError(f"{type(exc).__name__}: {exc}"[:300])
    report.messages += 1
    with app.session(write=True) as s:
        if error is None:  # the common case in one statement (a wave is thousands of these)
            done = s.execute(_sent_update(), {"ids": [r.id for r in group], "worker": worker,
                                              "now": now, "subject": message.subject})
            report.sent += int(getattr(done, "rowcount", 0) or 0)
            return None
        for r in group:
            row = s.get(OutboxMessage, r.id)
            if row is None or row.state != "claimed" or row.claimed_by != worker:
                continue  # the lease ran out and someone else owns it now
            row.lease_until = None
            if error.unreachable:  # the server took nothing: not this message's attempt,
                row.attempts -= 1  # and never a reason to give its recipient up
            if not error.unreachable and (error.permanent
                                          or row.attempts >= app.settings.send_retries):
                row.state, row.last_error = "dead", str(error)[:500]
                report.dead += 1
                if not broken:
                    _report_undeliverable(s, app, row, now)
            else:
                row.state, row.last_error = "retry_wait", str(error)[:500]
                row.next_attempt_at = now + _backoff(row.attempts)
                report.retried += 1
            s.add(row)
    if error is not None:
        report.errors.append(str(error)[:200])
    return error


@functools.cache
def _sent_update() -> sa.Update:
    """A handed-over message's rows: sent, if this worker still holds them (else the lease
    ran out and another owns them). Built once: building it cost more than running it."""
    table = _table(OutboxMessage)
    return sa.update(table).where(
        table.c.id.in_(sa.bindparam("ids", expanding=True)), table.c.state == "claimed",
        table.c.claimed_by == sa.bindparam("worker"),
    ).values(state="sent", sent_at=sa.bindparam("now"), subject=sa.bindparam("subject"),
             lease_until=None)


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
    contact_name, language, code = s.execute(_heading_query(), {
        "contact": first.contact_id, "agreement": first.agreement_id}).one()
    name = contact_name or first.recipient
    language = language or "vi"
    sender = app.settings.mail.sender_name
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
            token = token_of(link, app.secret_key)
            context["link"] = f"{app.settings.portal_url.rstrip('/')}/dossier/{token}"
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
        rendered = decision_messages.build(s, app, group, name, sender, language)
    else:
        items = _items(s, app, group, now, language)
        codes = ", ".join(sorted({i["agreement_code"] for i in items}))
        rendered = render("ladder", language, {"recipient": name, "sender": sender,
                                                "agreements": codes, "items": items})
    return Message(to_address=first.recipient, to_name=name, subject=rendered.subject,
                   text=rendered.text, html=rendered.html,
                   message_id=message_id(r.key for r in group),
                   headers={"Date": format_datetime(now)})


def _items(s: Session, app: App, group: list[OutboxMessage], now: datetime, language: str
           ) -> list[dict[str, Any]]:
    """The ladder items of a message: obligation, agreement, names and link in one query.

    A wave renders thousands of messages; an ORM load per obligation, link, party and
    commitment (and per row of an outstanding list) cost more than the SMTP exchange.
    """
    found = {f.id: f for f in s.execute(_items_query(), {
        "links": sorted({r.context["link_id"] for r in group})})}
    portal = app.settings.portal_url.rstrip("/")
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
            "link": f"{portal}/r/{token_for(app.secret_key, f.nonce)}", "outstanding": [],
        }
        if audience in ("head", "coordinator", "supervisor"):
            scope = (f.agreement_id, f.party if audience == "head" else None)
            if scope not in outstanding:
                outstanding[scope] = _outstanding(s, *scope, f.timezone, now, language)
            item["outstanding"] = outstanding[scope]
        items.append(item)
    return items


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
             .where(o.c.agreement_id == sa.bindparam("agreement"), o.c.status == "open",
                    o.c.deadline <= sa.bindparam("now")))
    if one_party:
        query = query.where(o.c.party == sa.bindparam("party"))
    return query.order_by(o.c.deadline, o.c.key).limit(20)


def _table(model: Any) -> sa.Table:
    return model.__table__


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
