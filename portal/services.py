"""What the portal does, without HTTP: read an obligation behind a link, record a reply.

A recorded reply (not a replayed form) also records an e-mail receipt to the link's
contact in the outbox, in the same transaction.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from babel.numbers import format_decimal
from sqlmodel import Session, col, select

from config.bootstrap import App
from core.calendar import zone
from models.links import Link, LinkRefused, resolve
from models.replies import Attachment, record_reply
from models.tables import Agreement, Commitment, Contact, Obligation, Party, Reply
from notifications.outbox import enqueue_message
from notifications.wording import days_text, period, show_date
from portal import uploads
from portal.decision_text import history_note


@dataclass(frozen=True)
class Prefill:
    """Indicator values offered from an earlier report (the partner may change them)."""

    values: dict[str, str]  # form field ("v-<indicator>") -> value
    recorded: str  # dd/mm/yyyy of the reply they come from
    period: str  # that reply's reporting period, in words


@dataclass(frozen=True)
class View:
    link: Link
    obligation: Obligation
    agreement: Agreement
    info: dict[str, str]
    indicators: list[dict[str, Any]]
    history: list[dict[str, Any]]
    prefill: Prefill | None = None


def csrf_token(app: App, link_id: int, form_nonce: str) -> str:
    msg = f"csrf:{link_id}:{form_nonce}".encode()
    return hmac.new(app.secret_key, msg, hashlib.sha256).hexdigest()


def csrf_ok(app: App, link_id: int, form_nonce: str, token: str) -> bool:
    # as bytes: compare_digest refuses str with non-ASCII characters (a forged token may have)
    return bool(form_nonce) and hmac.compare_digest(
        csrf_token(app, link_id, form_nonce).encode(), token.encode())


def load_view(s: Session, app: App, token: str, now: datetime, language: str | None,
              page: bool = True) -> View:
    """Everything the reply page shows; `page=False`: what recording a reply needs (no
    history, no prefill). Reads only (GET must never change state).

    The obligation, its agreement, party and commitment come in one query: this runs
    for every GET and twice for every POST, and was the portal's hottest function.
    """
    link = resolve(s, token, now, ("reply",))
    row = s.exec(
        select(Obligation, Agreement, Party, Commitment)
        .join(Agreement, col(Agreement.id) == Obligation.agreement_id)
        .join(Party, (col(Party.agreement_id) == Obligation.agreement_id)
              & (col(Party.key) == Obligation.party))
        .outerjoin(Commitment, (col(Commitment.agreement_id) == Obligation.agreement_id)
                   & (col(Commitment.key) == Obligation.commitment))
        .where(Obligation.id == link.obligation_id)).first()
    if row is None or row[0].status == "withdrawn":
        raise LinkRefused
    o, a, party, commitment = row
    lang = language or a.language
    title = commitment.title if commitment else (
        "Báo cáo đánh giá" if lang == "vi" else "Review report")
    today = now.astimezone(zone(a.timezone)).date()
    info = {"agreement_title": a.title, "agreement_code": a.code, "commitment": title,
            "party": party.name, "period": period(o.label, lang), "due": show_date(o.due, lang),
            "days_text": days_text(o.due, today, lang)}
    replies = s.exec(select(Reply).where(Reply.obligation_id == o.id)
                     .order_by(col(Reply.version))).all() if page else []
    history = [{"id": r.id, "version": r.version, "status": r.status, "percent": r.percent,
                "answered_by": r.answered_by, "note": r.note, "reason": r.reason,
                "attachment": r.attachment_name,
                "when": r.recorded_at.astimezone(zone(a.timezone)).strftime("%d/%m/%Y %H:%M"),
                "decision": history_note(r.decision, r.decision_comment, lang)}
               for r in replies]
    indicators = commitment.indicators if commitment else []
    return View(link, o, a, info, indicators, history,
                prefill(s, o, a, indicators, lang) if page else None)


def attachment_of(s: Session, token: str, reply_id: str, now: datetime, folder: Path
                  ) -> tuple[Path, str, str]:
    """(file, display name, content type) of a reply's attachment, for a live reply link
    of the same obligation; LinkRefused otherwise (the portal's one refusal)."""
    link = resolve(s, token, now, ("reply",))
    reply = s.get(Reply, int(reply_id)) if reply_id.isdigit() and len(reply_id) < 12 else None
    o = s.get(Obligation, link.obligation_id) if link.obligation_id else None
    if reply is None or o is None or reply.obligation_id != o.id or o.status == "withdrawn" \
            or reply.attachment_type not in uploads.EXTENSIONS:
        raise LinkRefused
    path = uploads.stored_file(folder, reply.attachment_path)
    if path is None:
        raise LinkRefused
    return path, reply.attachment_name or path.name, reply.attachment_type


def prefill(s: Session, o: Obligation, a: Agreement, indicators: list[dict[str, Any]],
            language: str) -> Prefill | None:
    """The indicator values of the party's latest report of this commitment.

    This obligation's own latest reply with values comes first (a partner updating an
    answer); else the latest reply with values on an earlier obligation of the same
    party and commitment. Reads only.
    """
    if not o.commitment or not indicators:
        return None
    ids = {i["id"] for i in indicators}
    base = select(Reply, Obligation).join(Obligation, col(Obligation.id) == Reply.obligation_id)
    queries = (
        base.where(Obligation.id == o.id).order_by(col(Reply.version).desc()),
        base.where(Obligation.agreement_id == o.agreement_id, Obligation.party == o.party,
                  Obligation.commitment == o.commitment,
                  col(Obligation.planned_due) < o.planned_due)
        .order_by(col(Obligation.planned_due).desc(), col(Reply.version).desc()),
    )
    found = next((row for q in queries for row in s.exec(q)
                  if any(k in ids for k in row[0].values or {})), None)
    if found is None:
        return None
    reply, source = found
    values = {f"v-{k}": _plain(v) for k, v in reply.values.items() if k in ids}
    when = reply.recorded_at.astimezone(zone(a.timezone)).date()
    return Prefill(values, show_date(when, language), period(source.label, language))


def _plain(v: Any) -> str:
    """A stored value as a partner would type it back (no thousands separators)."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def submit(s: Session, app: App, view: View, form: dict[str, str], now: datetime,
           attachment: Attachment | None = None, upload_error: str | None = None
           ) -> tuple[Reply, bool]:
    """Record the reply a form carries, and its receipt; (reply, whether it is new).

    The same form submitted again returns the reply it recorded (False: no receipt, no
    new version). ReplyInvalid lists the fields to correct; nothing is written then.
    """
    from models.replies import ReplyInvalid

    nonce = form.get("form_nonce") or None
    if nonce is not None:
        earlier = s.exec(select(Reply).where(Reply.submission == nonce)).first()
        if earlier is not None:
            return earlier, False
    errors: dict[str, str] = {"attachment": upload_error} if upload_error else {}
    percent: int | None = None
    if form.get("percent", "").strip():
        try:
            percent = int(form["percent"].strip())
        except ValueError:
            errors["percent"] = "Phải là số nguyên từ 0 đến 100 / a whole number 0–100"
    until: date | None = None
    if form.get("until", "").strip():
        try:
            until = date.fromisoformat(form["until"].strip())
        except ValueError:
            errors["until"] = "Ngày không hợp lệ / not a date"
    if errors:
        raise ReplyInvalid(errors)
    values = {i["id"]: form.get(f"v-{i['id']}", "") for i in view.indicators}
    reply = record_reply(
        s, app, obligation_key=view.obligation.key, status=form.get("status", ""), at=now,
        percent=percent, reason=form.get("reason") or None, until=until,
        values={k: v for k, v in values.items() if v.strip()}, note=form.get("note") or None,
        answered_by=(form.get("answered_by") or "").strip() or None,
        contact_id=view.link.contact_id, attachment=attachment, submission=nonce)
    enqueue_receipt(s, app, view, reply, now)
    return reply, True


def enqueue_receipt(s: Session, app: App, view: View, reply: Reply, now: datetime) -> bool:
    """Record the e-mail receipt of a reply to the link's contact (once: `receipt#<id>`).

    The context is what was recorded, as text in the agreement's language: a receipt
    shows the reply as it was at that moment.
    """
    contact = s.get(Contact, view.link.contact_id) if view.link.contact_id else None
    if contact is None or reply.id is None:
        return False
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
    return enqueue_message(s, app, f"receipt#{reply.id}", "receipt", contact, context, now)


def _shown(v: Any, language: str) -> str:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    return format_decimal(v, locale=language)
