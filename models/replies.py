"""Recording replies: append-only versions, and their effect on the obligation.

- `done` submits the obligation: no more ladder steps.
- `extension` moves the due date (then `due_adjust`) and re-times the unfired steps; a
  partner's request through the portal may wait for a coordinator (models/decisions.py).
- `in_progress` and `blocked` are recorded; the ladder goes on.
- A coordinator's decision: `accepted` closes it; `returned` reopens it and the ladder
  resumes from the steps not yet used.
The caller owns the transaction (use `app.session(write=True)`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, col, select

from config.bootstrap import App
from core.calendar import end_of_day
from core.ladder import extended_due
from core.numbers import ValueRefused, parse_value
from models.ladder_state import load_stored, reschedule
from models.tables import Agreement, Commitment, Obligation, Reply

STATUSES = ("done", "in_progress", "blocked", "extension")


class ReplyInvalid(Exception):
    """Field → message, in Vietnamese first; nothing was written."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class ReplyRefused(Exception):
    """The obligation cannot take replies now (withdrawn, accepted or unknown)."""


@dataclass(frozen=True)
class Attachment:
    name: str
    path: str
    content_type: str


def check_values(indicators: list[dict[str, Any]], values: dict[str, Any]) -> tuple[
        dict[str, int | float | str], dict[str, str]]:
    """Indicator values typed by kind, bounded (core.numbers) and checked against
    `at_most`; (clean, errors)."""
    clean: dict[str, int | float | str] = {}
    errors: dict[str, str] = {}
    kinds = {i["id"]: i for i in indicators}
    for key, raw in values.items():
        ind = kinds.get(key)
        if ind is None:
            errors[key] = "Chỉ tiêu không thuộc nội dung này / not an indicator of this commitment"
            continue
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        try:
            clean[key] = parse_value(ind["kind"], raw)
        except ValueRefused as exc:
            errors[key] = str(exc)
    for ind in indicators:
        limit = ind.get("at_most")
        v, cap = clean.get(ind["id"]), clean.get(limit) if limit else None
        if isinstance(v, int | float) and isinstance(cap, int | float) and v > cap:
            errors[ind["id"]] = (f"Không được lớn hơn “{kinds[limit]['label']}” ({cap}) / "
                                 f"may not exceed {limit}")
    return clean, errors


def record_reply(s: Session, app: App, *, obligation_key: str, status: str, at: datetime,
                 percent: int | None = None, reason: str | None = None,
                 until: date | None = None, values: dict[str, Any] | None = None,
                 note: str | None = None, answered_by: str | None = None,
                 contact_id: int | None = None, attachment: Attachment | None = None,
                 source: str = "portal", submission: str | None = None) -> Reply:
    """Append a reply version and apply its effect on the obligation.

    `submission` identifies the form a reply came from: the same form submitted again
    returns the reply already recorded instead of adding a version.
    """
    return record_reply_once(
        s, app, obligation_key=obligation_key, status=status, at=at, percent=percent,
        reason=reason, until=until, values=values, note=note, answered_by=answered_by,
        contact_id=contact_id, attachment=attachment, source=source,
        submission=submission)[0]


def record_reply_once(s: Session, app: App, *, obligation_key: str, status: str, at: datetime,
                      percent: int | None = None, reason: str | None = None,
                      until: date | None = None, values: dict[str, Any] | None = None,
                      note: str | None = None, answered_by: str | None = None,
                      contact_id: int | None = None, attachment: Attachment | None = None,
                      source: str = "portal", submission: str | None = None,
                      form_errors: dict[str, str] | None = None,
                      messages: list[dict[str, Any]] | None = None) -> tuple[Reply, bool]:
    """`record_reply`, and whether the reply is new (False: its form was recorded before).

    `form_errors` (fields the caller could not read) are raised as ReplyInvalid once the
    form is known not to be a replay, before anything else is checked. `messages`: the
    outbox rows the reply calls for are added to it (the caller records them with its
    own) instead of being recorded here.

    In SQLAlchemy Core, statements built once: the obligation is locked and read with
    its agreement and commitment in one query (PostgreSQL `FOR UPDATE`; SQLite's write
    lock is taken at BEGIN IMMEDIATE), and the form's earlier reply is looked for after
    the lock, so two processes replaying one form at once record it once. An `extension`
    goes the ORM way (`apply_reply`): its decision and re-timing need the whole row.
    """
    postgres = s.get_bind().dialect.name == "postgresql"
    o = s.execute(_locked_query(postgres), {"key": obligation_key}).first()
    earlier, last = s.execute(_earlier_and_last_query(), {
        "submission": submission, "obligation": o.id if o is not None else None}).one()
    if earlier is not None:
        found = s.get(Reply, earlier)
        assert found is not None
        return found, False
    if form_errors:
        raise ReplyInvalid(form_errors)
    if o is None or o.status in ("withdrawn", "accepted", "waived"):
        raise ReplyRefused(obligation_key)
    errors = _field_errors(status, percent, reason, until, o.due)
    clean: dict[str, int | float | str] = {}
    if values and o.commitment:
        clean, value_errors = check_values(o.indicators or [], values)
        errors.update(value_errors)
    if errors:
        raise ReplyInvalid(errors)
    version = (last or 0) + 1
    fields = dict(obligation_id=o.id, version=version, status=status,
                  percent=percent if status == "in_progress" else None,
                  reason=reason, until=until if status == "extension" else None, values=clean,
                  note=note, answered_by=answered_by, contact_id=contact_id, source=source,
                  submission=submission, recorded_at=at,
                  attachment_name=attachment.name if attachment else None,
                  attachment_path=attachment.path if attachment else None,
                  attachment_type=attachment.content_type if attachment else None,
                  decision=None, decision_comment=None, decided_at=None)
    if status == "extension":
        row = s.get(Obligation, o.id, populate_existing=True)  # locked above
        assert row is not None
        reply = Reply(**fields)
        s.add(reply)
        apply_reply(s, app, row, reply, at)
        s.flush()
        return reply, True
    reply_id = s.execute(_insert_reply(), fields).scalar_one()
    if status == "done":
        s.execute(_submit_obligation(), {"obligation": o.id, "at": at})
    else:
        s.execute(_touch_obligation(), {"obligation": o.id, "at": at})
    stale = s.identity_map.get(identity_key(Obligation, o.id))
    if stale is not None:  # an object this session read before: reload it when next used
        s.expire(stale)
    reply = Reply(id=reply_id, **fields)
    make_transient_to_detached(reply)
    s.add(reply)  # persistent, as if flushed: the session knows it by its id
    if source == "portal" and status == "done":
        from models import decisions  # the coordinators review a partner's `done`

        decisions.ask_coordinators(s, app, "submission", agreement_id=o.agreement_id,
                                   agreement_code=o.code, obligation_id=o.id,
                                   deadline=o.deadline, reply_id=reply_id, at=at,
                                   into=messages)
    return reply, True


def _field_errors(status: str, percent: int | None, reason: str | None, until: date | None,
                  due: date) -> dict[str, str]:
    errors: dict[str, str] = {}
    if status not in STATUSES:
        errors["status"] = "Trạng thái không hợp lệ / unknown status"
    if status == "in_progress" and (percent is None or not 0 <= percent <= 100):
        errors["percent"] = "Nhập tỷ lệ hoàn thành từ 0 đến 100 / give a percentage 0–100"
    if status == "blocked" and not (reason and reason.strip()):
        errors["reason"] = "Cho biết lý do vướng mắc / say what blocks it"
    if status == "extension":
        if until is None:
            errors["until"] = "Chọn ngày xin gia hạn / choose the date asked for"
        elif until <= due:
            errors["until"] = ("Ngày gia hạn phải sau hạn hiện tại / "
                               "must be after the current due date")
    return errors


def _table(model: Any) -> sa.Table:
    return model.__table__


@functools.cache
def _locked_query(postgres: bool) -> sa.Select[Any]:
    """The obligation by key, with what a reply needs of its agreement and commitment."""
    o, a, c = _table(Obligation), _table(Agreement), _table(Commitment)
    query = (sa.select(o.c.id, o.c.status, o.c.due, o.c.deadline, o.c.commitment,
                       o.c.agreement_id, a.c.code, c.c.indicators)
             .select_from(o.join(a, a.c.id == o.c.agreement_id).outerjoin(
                 c, (c.c.agreement_id == o.c.agreement_id) & (c.c.key == o.c.commitment)))
             .where(o.c.key == sa.bindparam("key")))
    return query.with_for_update(of=o) if postgres else query


@functools.cache
def _earlier_and_last_query() -> sa.Select[Any]:
    """The reply a form recorded before (its nonce is unique) and the obligation's last
    version, in one statement after the lock (on PostgreSQL a statement's snapshot is
    taken when it starts: after the lock it sees what the transaction waited for)."""
    r = _table(Reply)
    return sa.select(
        sa.select(r.c.id).where(r.c.submission == sa.bindparam("submission"))
        .scalar_subquery(),
        sa.select(sa.func.max(r.c.version)).where(
            r.c.obligation_id == sa.bindparam("obligation")).scalar_subquery())


@functools.cache
def _insert_reply() -> sa.Insert:
    r = _table(Reply)
    return sa.insert(r).returning(r.c.id)


@functools.cache
def _submit_obligation() -> sa.Update:
    """A `done` reply: submitted, nothing more to fire."""
    o = _table(Obligation)
    return sa.update(o).where(o.c.id == sa.bindparam("obligation")).values(
        status="submitted", next_fire=None, updated_at=sa.bindparam("at"))


@functools.cache
def _touch_obligation() -> sa.Update:
    o = _table(Obligation)
    return sa.update(o).where(o.c.id == sa.bindparam("obligation")).values(
        updated_at=sa.bindparam("at"))


def apply_reply(s: Session, app: App, o: Obligation, reply: Reply, at: datetime) -> None:
    from models import decisions  # a partner's request may wait for a coordinator

    if reply.status == "done":
        o.status, o.next_fire = "submitted", None
    elif reply.status == "extension" and reply.until is not None \
            and decisions.extension_applies(s, app, o, reply, at):
        grant_extension(s, app, o, reply.until)
    o.updated_at = at
    s.add(o)
    if reply.source == "portal":
        decisions.after_partner_reply(s, app, o, reply, at)


def grant_extension(s: Session, app: App, o: Obligation, until: date) -> None:
    row = s.get(Agreement, o.agreement_id)
    assert row is not None
    agreement = load_stored(s, app, row).agreement
    o.due = extended_due(until, app.calendar, agreement.due_adjust)
    o.deadline = end_of_day(o.due, agreement.timezone)
    reschedule(s, app, o, agreement)


def decide_reply(s: Session, app: App, reply_id: int, decision: str, comment: str | None,
                 now: datetime) -> Reply:
    """A coordinator accepts a submitted reply, or returns it for revision."""
    if decision not in ("accepted", "returned"):
        raise ValueError(f"unknown decision {decision!r}")
    reply = s.get(Reply, reply_id)
    if reply is None:
        raise ReplyRefused(str(reply_id))
    o = s.get(Obligation, reply.obligation_id)
    assert o is not None
    if reply.decision is not None or o.status in ("withdrawn", "accepted"):
        raise ReplyRefused(o.key)
    reply.decision, reply.decision_comment, reply.decided_at = decision, comment, now
    if decision == "accepted":
        o.status, o.next_fire = "accepted", None
    else:
        o.status = "open"
        row = s.get(Agreement, o.agreement_id)
        assert row is not None
        reschedule(s, app, o, load_stored(s, app, row).agreement)
    o.updated_at = now
    s.add(reply)
    s.add(o)
    s.flush()
    return reply


def history(s: Session, obligation_id: int) -> list[Reply]:
    return list(s.exec(select(Reply).where(Reply.obligation_id == obligation_id)
                       .order_by(col(Reply.version))))
