"""What the portal does, without HTTP: read an obligation behind a link, record a reply."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from config.bootstrap import App
from core.calendar import zone
from models.links import Link, resolve
from models.replies import record_reply
from models.tables import Agreement, Commitment, Obligation, Party, Reply
from notifications.wording import days_text, period, show_date
from portal.decision_text import history_note


@dataclass(frozen=True)
class View:
    link: Link
    obligation: Obligation
    agreement: Agreement
    info: dict[str, str]
    indicators: list[dict[str, Any]]
    history: list[dict[str, Any]]


def csrf_token(app: App, link_id: int, form_nonce: str) -> str:
    msg = f"csrf:{link_id}:{form_nonce}".encode()
    return hmac.new(app.secret_key, msg, hashlib.sha256).hexdigest()


def csrf_ok(app: App, link_id: int, form_nonce: str, token: str) -> bool:
    # as bytes: compare_digest refuses str with non-ASCII characters (a forged token may have)
    return bool(form_nonce) and hmac.compare_digest(
        csrf_token(app, link_id, form_nonce).encode(), token.encode())


def load_view(s: Session, app: App, token: str, now: datetime, language: str | None) -> View:
    """Everything the reply page shows. Reads only (GET must never change state)."""
    link = resolve(s, token, now, ("reply",))
    o = s.get(Obligation, link.obligation_id)
    if o is None or o.status == "withdrawn":
        from models.links import LinkRefused

        raise LinkRefused
    a = s.get(Agreement, o.agreement_id)
    assert a is not None
    lang = language or a.language
    party = s.exec(select(Party).where(Party.agreement_id == a.id, Party.key == o.party)).one()
    commitment = s.exec(select(Commitment).where(Commitment.agreement_id == a.id,
                                                 Commitment.key == o.commitment)).first() \
        if o.commitment else None
    title = commitment.title if commitment else (
        "Báo cáo đánh giá" if lang == "vi" else "Review report")
    today = now.astimezone(zone(a.timezone)).date()
    info = {"agreement_title": a.title, "agreement_code": a.code, "commitment": title,
            "party": party.name, "period": period(o.label, lang), "due": show_date(o.due, lang),
            "days_text": days_text(o.due, today, lang)}
    replies = s.exec(select(Reply).where(Reply.obligation_id == o.id)
                     .order_by(col(Reply.version))).all()
    history = [{"version": r.version, "status": r.status, "percent": r.percent,
                "answered_by": r.answered_by, "note": r.note, "reason": r.reason,
                "when": r.recorded_at.astimezone(zone(a.timezone)).strftime("%d/%m/%Y %H:%M"),
                "decision": history_note(r.decision, r.decision_comment, lang)}
               for r in replies]
    return View(link, o, a, info, commitment.indicators if commitment else [], history)


def submit(s: Session, app: App, view: View, form: dict[str, str], now: datetime) -> Reply:
    """Record the reply a form carries (ReplyInvalid lists the fields to correct)."""
    from models.replies import ReplyInvalid

    errors: dict[str, str] = {}
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
    return record_reply(
        s, app, obligation_key=view.obligation.key, status=form.get("status", ""), at=now,
        percent=percent, reason=form.get("reason") or None, until=until,
        values={k: v for k, v in values.items() if v.strip()}, note=form.get("note") or None,
        answered_by=form.get("answered_by") or None, contact_id=view.link.contact_id,
        submission=form.get("form_nonce") or None)
