"""A partner's link, without HTTP: what it shows, and a reply received through it.

A recorded reply (not a replayed form) also records an e-mail receipt to the link's
contact in the outbox, in the same transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.calendar import zone
from core.numbers import show_number, typed_back
from core.reply_rules import read_day, read_percent
from core.statuses import ObligationStatus, ReplyStatus
from models.links import LinkRefused, hash_token, live_feed, resolve
from models.outbox import insert_messages, message_rows
from models.replies import Attachment
from models.sql import table as _table
from models.tables import Agreement, Commitment, Contact, Link, Obligation, Party, Reply
from notifications.wording import days_text, history_note, period, show_date
from services.ports import Shell
from services.replies import record_reply_once


@dataclass(frozen=True)
class Prefill:
    """Indicator values offered from an earlier report (the partner may change them)."""

    values: dict[str, str]  # form field ("v-<indicator>") -> value
    recorded: str  # dd/mm/yyyy of the reply they come from
    period: str  # that reply's reporting period, in words


@dataclass(frozen=True)
class LinkInfo:
    id: int
    contact_id: int | None


@dataclass(frozen=True)
class ObligationInfo:
    id: int
    key: str
    agreement_id: int
    commitment: str | None
    party: str
    label: str
    planned_due: date
    due: date
    status: str


@dataclass(frozen=True)
class AgreementInfo:
    id: int
    code: str
    title: str
    language: str
    timezone: str


@dataclass(frozen=True)
class ContactInfo:
    """The link's contact, as the outbox addresses it (the receipt goes there)."""

    id: int
    email: str | None
    channels: list[str]


@dataclass(frozen=True)
class View:
    link: LinkInfo
    obligation: ObligationInfo
    agreement: AgreementInfo
    info: dict[str, str]
    indicators: list[dict[str, Any]]
    history: list[dict[str, Any]]
    prefill: Prefill | None = None
    contact: ContactInfo | None = None
    calendar: str | None = None  # the contact's calendar feed link for the agreement


def load_view(s: Session, shell: Shell, token: str, now: datetime, language: str | None,
              page: bool = True) -> View:
    """Everything the reply page shows; `page=False`: what recording a reply needs (no
    history, no prefill). Reads only (GET must never change state).

    The link, its obligation, agreement, party, commitment and contact come in one
    query, built once: this runs for every GET and every POST. The refusals are
    `resolve`'s, then a withdrawn obligation's.
    """
    if not token or len(token) > 100:
        raise LinkRefused
    row = s.execute(_view_query(), {"token_hash": hash_token(token)}).first()
    if row is None:
        raise LinkRefused
    (purpose, revoked_at, expires_at, link_id, contact_id, *rest) = row
    if purpose != "reply" or revoked_at is not None or expires_at <= now:
        raise LinkRefused
    o, a = ObligationInfo(*rest[0:9]), AgreementInfo(*rest[9:14])
    party_name, commitment_id, commitment_title, indicators_json, *who = rest[14:]
    if o.status == ObligationStatus.WITHDRAWN:
        raise LinkRefused
    contact = ContactInfo(who[0], who[1], who[2] or []) if who[0] is not None else None
    lang = language or a.language
    title = commitment_title if commitment_id is not None else (
        "Báo cáo đánh giá" if lang == "vi" else "Review report")
    today = now.astimezone(zone(a.timezone)).date()
    info = {"agreement_title": a.title, "agreement_code": a.code, "commitment": title,
            "party": party_name, "period": period(o.label, lang),
            "due": show_date(o.due, lang), "days_text": days_text(o.due, today, lang)}
    indicators: list[dict[str, Any]] = (indicators_json or []) if commitment_id is not None \
        else []
    link = LinkInfo(link_id, contact_id)
    if not page:
        return View(link, o, a, info, indicators, [], None, contact)
    replies = s.execute(_history_query(), {"obligation": o.id}).all()
    local = zone(a.timezone)
    history = [{"id": r.id, "version": r.version, "status": r.status, "percent": r.percent,
                "answered_by": r.answered_by, "note": r.note, "reason": r.reason,
                "attachment": r.attachment_name,
                "when": r.recorded_at.astimezone(local).strftime("%d/%m/%Y %H:%M"),
                "decision": history_note(r.decision, r.decision_comment, lang),
                "decision_code": r.decision, "comment": r.decision_comment,
                "decided": show_date(r.decided_at.astimezone(local).date(), lang)
                if r.decided_at else None,
                "until": show_date(r.until, lang) if r.until else None}
               for r in replies]
    feed = live_feed(s, shell.secret_key, agreement_id=a.id, party=o.party,
                     contact_id=contact_id, now=now) if contact_id is not None else None
    return View(link, o, a, info, indicators, history,
                prefill(s, o, a, indicators, lang, replies), contact,
                shell.policy.link_url("c", feed) if feed else None)


@functools.cache
def _view_query() -> sa.Select[Any]:
    """A reply link by its token's hash, with all `load_view` shows (columns, not rows)."""
    lk, o, a, p, c, k = (_table(m) for m in (Link, Obligation, Agreement, Party, Commitment,
                                              Contact))
    joined = (lk.join(o, o.c.id == lk.c.obligation_id).join(a, a.c.id == o.c.agreement_id)
              .join(p, (p.c.agreement_id == o.c.agreement_id) & (p.c.key == o.c.party))
              .outerjoin(c, (c.c.agreement_id == o.c.agreement_id)
                         & (c.c.key == o.c.commitment))
              .outerjoin(k, k.c.id == lk.c.contact_id))
    return sa.select(
        lk.c.purpose, lk.c.revoked_at, lk.c.expires_at, lk.c.id, lk.c.contact_id,
        o.c.id, o.c.key, o.c.agreement_id, o.c.commitment, o.c.party, o.c.label,
        o.c.planned_due, o.c.due, o.c.status,
        a.c.id, a.c.code, a.c.title, a.c.language, a.c.timezone,
        p.c.name, c.c.id, c.c.title, c.c.indicators, k.c.id, k.c.email, k.c.channels,
    ).select_from(joined).where(lk.c.token_hash == sa.bindparam("token_hash"))


@functools.cache
def _history_query() -> sa.Select[Any]:
    r = _table(Reply)
    return (sa.select(r.c.id, r.c.version, r.c.status, r.c.percent, r.c.answered_by, r.c.note,
                      r.c.reason, r.c.attachment_name, r.c.recorded_at, r.c.decision,
                      r.c.decision_comment, r.c.decided_at, r.c.until,
                      r.c["values"].label("reply_values"))
            .where(r.c.obligation_id == sa.bindparam("obligation")).order_by(r.c.version))


@functools.cache
def _earlier_values_query() -> sa.Select[Any]:
    """Replies on the party's earlier obligations of a commitment, latest first."""
    r, o = _table(Reply), _table(Obligation)
    return (sa.select(r.c["values"].label("reply_values"), r.c.recorded_at, o.c.label)
            .select_from(r.join(o, o.c.id == r.c.obligation_id))
            .where(o.c.agreement_id == sa.bindparam("agreement"),
                   o.c.party == sa.bindparam("party"),
                   o.c.commitment == sa.bindparam("commitment"),
                   o.c.planned_due < sa.bindparam("before"))
            .order_by(o.c.planned_due.desc(), r.c.version.desc()))


def attachment_of(s: Session, token: str, reply_id: str, now: datetime) -> Reply:
    """The reply whose attachment a live reply link of the same obligation may download
    (the portal then checks the stored file); LinkRefused otherwise (the portal's one
    refusal)."""
    link = resolve(s, token, now, ("reply",))
    reply = s.get(Reply, int(reply_id)) if reply_id.isdigit() and len(reply_id) < 12 else None
    o = s.get(Obligation, link.obligation_id) if link.obligation_id else None
    if reply is None or o is None or reply.obligation_id != o.id \
            or o.status == ObligationStatus.WITHDRAWN \
            or reply.attachment_path is None:
        raise LinkRefused
    return reply


def prefill(s: Session, o: ObligationInfo, a: AgreementInfo, indicators: list[dict[str, Any]],
            language: str, own: Sequence[Any] | None = None) -> Prefill | None:
    """The indicator values of the party's latest report of this commitment.

    This obligation's own latest reply with values comes first (a partner updating an
    answer: `own`, its replies as `load_view` read them, oldest first); else the latest
    reply with values on an earlier obligation of the same party and commitment. Reads
    only.
    """
    if not o.commitment or not indicators:
        return None
    ids = {i["id"] for i in indicators}
    if own is None:
        own = s.execute(_history_query(), {"obligation": o.id}).all()
    found = next(((r.reply_values, r.recorded_at, o.label) for r in reversed(own)
                  if any(k in ids for k in r.reply_values or {})), None)
    if found is None:
        found = next((tuple(r) for r in s.execute(_earlier_values_query(), {
            "agreement": o.agreement_id, "party": o.party, "commitment": o.commitment,
            "before": o.planned_due}) if any(k in ids for k in r.reply_values or {})), None)
    if found is None:
        return None
    values, recorded_at, label = found
    shown = {f"v-{k}": _plain(v, language) for k, v in values.items() if k in ids}
    when = recorded_at.astimezone(zone(a.timezone)).date()
    return Prefill(shown, show_date(when, language), period(label, language))


def _plain(v: Any, language: str) -> str:
    """A stored value as a partner would type it back in the page's language (no
    thousands separators, read back as the same value: `core.numbers.typed_back`)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return typed_back(v, language)


# What each status asks for besides the note, the name and the file (docs/portal.md):
# the form shows only these, and a field the status does not ask for is not recorded.
FIELDS: dict[str, tuple[str, ...]] = {
    ReplyStatus.DONE: ("values",), ReplyStatus.IN_PROGRESS: ("percent", "values"),
    ReplyStatus.BLOCKED: ("reason",), ReplyStatus.EXTENSION: ("until", "reason")}


def fields_of(status: str) -> tuple[str, ...]:
    """The fields `status` asks for (an unknown status: all of them, to be refused)."""
    return FIELDS.get(status, ("percent", "until", "reason", "values"))


def submit(s: Session, shell: Shell, view: View, form: dict[str, str], now: datetime,
           attachment: Attachment | None = None, upload_error: str | None = None,
           language: str | None = None) -> tuple[Reply, bool]:
    """Record the reply a form carries, and its receipt; (reply, whether it is new).

    Only the fields its status asks for are read (`FIELDS`); numbers and dates as typed in
    a page of `language` (the page's; errors in it too). The same form submitted again
    returns the reply it recorded (False: no receipt, no new version). ReplyInvalid lists
    the fields to correct; nothing is written then.
    """
    nonce = form.get("form_nonce") or None
    errors: dict[str, str] = {"attachment": upload_error} if upload_error else {}
    status = form.get("status", "")
    needs = fields_of(status)
    percent: int | None = None
    if "percent" in needs and form.get("percent", "").strip():
        try:
            percent = read_percent(form["percent"], language)
        except ValueError as exc:
            errors["percent"] = str(exc)
    until: date | None = None
    if "until" in needs and form.get("until", "").strip():
        try:
            until = read_day(form["until"], language)
        except ValueError as exc:
            errors["until"] = str(exc)
    values = {i["id"]: form.get(f"v-{i['id']}", "") for i in view.indicators} \
        if "values" in needs else {}
    picks = {i["id"]: form[f"pick-v-{i['id']}"] for i in view.indicators
             if form.get(f"pick-v-{i['id']}")}
    messages: list[dict[str, Any]] = []
    reply, new = record_reply_once(
        s, shell, obligation_key=view.obligation.key, status=status, at=now,
        percent=percent, reason=(form.get("reason") or None) if "reason" in needs else None,
        until=until, values={k: v for k, v in values.items() if v.strip()},
        note=form.get("note") or None,
        answered_by=(form.get("answered_by") or "").strip() or None,
        contact_id=view.link.contact_id, attachment=attachment, submission=nonce,
        form_errors=errors, messages=messages, language=language, picks=picks)
    if new:  # the receipt and the reply's other messages in one INSERT
        insert_messages(s, messages + receipt_rows(view, reply, now))
    return reply, new


def enqueue_receipt(s: Session, shell: Shell, view: View, reply: Reply, now: datetime) -> bool:
    """Record the e-mail receipt of a reply to the link's contact (once: `receipt#<id>`).

    The context is what was recorded, as text in the agreement's language: a receipt
    shows the reply as it was at that moment.
    """
    return bool(insert_messages(s, receipt_rows(view, reply, now)))


def receipt_rows(view: View, reply: Reply, now: datetime) -> list[dict[str, Any]]:
    """The outbox rows of `enqueue_receipt` (none without a contact)."""
    contact = view.contact
    if contact is None or reply.id is None:
        return []
    a, o = view.agreement, view.obligation
    lang = a.language
    labels = {i["id"]: i["label"] for i in view.indicators}
    order = [i["id"] for i in view.indicators]
    values = [{"label": labels.get(k, k), "value": _shown(reply.values[k], lang)}
              for k in sorted(reply.values, key=lambda k: order.index(k) if k in order else 99)]
    commitment = view.info["commitment"] if o.commitment else (
        "Báo cáo đánh giá" if lang == "vi" else "Review report")
    context = {
        "agreement_code": a.code, "agreement_title": a.title, "commitment": commitment,
        "party": view.info["party"], "period": period(o.label, lang),
        "status": reply.status, "version": reply.version, "percent": reply.percent,
        "reason": reply.reason, "until": show_date(reply.until, lang) if reply.until else None,
        "values": values, "note": reply.note, "attachment": reply.attachment_name,
        "answered_by": reply.answered_by,
        "when": reply.recorded_at.astimezone(zone(a.timezone)).strftime("%d/%m/%Y %H:%M"),
    }
    return message_rows(f"receipt#{reply.id}", "receipt", contact, context, now,
                        agreement_id=a.id)


def _shown(v: Any, language: str) -> str:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    return show_number(v, language)
