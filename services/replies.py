"""A reply received, and a coordinator's accept/return: recorded, applied, messages queued.

- `done` submits the obligation: no more ladder steps.
- `extension` moves the due date (then `due_adjust`) and re-times the unfired steps; a
  partner's request through the portal may wait for a coordinator (services.coordination).
- `in_progress` and `blocked` are recorded; the ladder goes on.
- A coordinator's decision: `accepted` closes it; `returned` reopens it and the ladder
  resumes from the steps not yet used.
The caller owns the transaction (use `shell.session(write=True)`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from core.reply_rules import check_values, field_errors
from core.statuses import Decision, ObligationStatus, ReplyStatus
from models import replies as stored
from models.ladder_state import load_stored, reschedule
from models.replies import Attachment
from models.tables import Agreement, Obligation, Reply
from services.coordination import (
    after_partner_reply,
    ask_coordinators,
    extension_applies,
    grant_extension,
)
from services.ports import Shell

CLOSED = (ObligationStatus.WITHDRAWN, ObligationStatus.ACCEPTED, ObligationStatus.WAIVED)


class ReplyInvalid(Exception):
    """Field → message (in the language asked, else "Vietnamese / English"); nothing was
    written. `asks`: indicator → the readings of an ambiguous value, to choose from."""

    def __init__(self, errors: dict[str, str],
                 asks: dict[str, list[tuple[str, str]]] | None = None) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors
        self.asks = asks or {}


class ReplyRefused(Exception):
    """The obligation cannot take replies now (withdrawn, accepted or unknown)."""


def record_reply(s: Session, shell: Shell, *, obligation_key: str, status: str, at: datetime,
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
        s, shell, obligation_key=obligation_key, status=status, at=at, percent=percent,
        reason=reason, until=until, values=values, note=note, answered_by=answered_by,
        contact_id=contact_id, attachment=attachment, source=source,
        submission=submission)[0]


def record_reply_once(s: Session, shell: Shell, *, obligation_key: str, status: str,
                      at: datetime, percent: int | None = None, reason: str | None = None,
                      until: date | None = None, values: dict[str, Any] | None = None,
                      note: str | None = None, answered_by: str | None = None,
                      contact_id: int | None = None, attachment: Attachment | None = None,
                      source: str = "portal", submission: str | None = None,
                      form_errors: dict[str, str] | None = None,
                      messages: list[dict[str, Any]] | None = None,
                      language: str | None = None, picks: dict[str, str] | None = None,
                      ) -> tuple[Reply, bool]:
    """`record_reply`, and whether the reply is new (False: its form was recorded before).

    `form_errors` (fields the caller could not read, a refused file) are raised as
    ReplyInvalid once the form is known not to be a replay, with every other error of the
    form (all shown at once). `messages`: the
    outbox rows the reply calls for are added to it (the caller records them with its
    own) instead of being recorded here. An `extension` goes the ORM way (`apply_reply`):
    its decision and re-timing need the whole row. `language`: values are text typed in a
    page of that language, and errors are in it (`core.reply_rules`); `picks` answers an
    ambiguous value's question.
    """
    o = stored.lock_obligation(s, obligation_key)
    earlier, last = stored.earlier_and_last(s, submission, o.id if o is not None else None)
    if earlier is not None:
        found = s.get(Reply, earlier)
        assert found is not None
        return found, False
    if o is None or o.status in CLOSED:
        if form_errors:
            raise ReplyInvalid(form_errors)
        raise ReplyRefused(obligation_key)
    errors = field_errors(status, percent, reason, until, o.due, language)
    clean: dict[str, int | float | str] = {}
    asks: dict[str, list[tuple[str, str]]] = {}
    if values and o.commitment:
        clean, value_errors = check_values(o.indicators or [], values, language, picks, asks)
        errors.update(value_errors)
    errors.update(form_errors or {})  # what could not be read says so, not "required"
    if errors:
        raise ReplyInvalid(errors, asks)
    fields = dict(obligation_id=o.id, version=(last or 0) + 1, status=status,
                  percent=percent if status == ReplyStatus.IN_PROGRESS else None,
                  reason=reason, until=until if status == ReplyStatus.EXTENSION else None,
                  values=clean,
                  note=note, answered_by=answered_by, contact_id=contact_id, source=source,
                  submission=submission, recorded_at=at,
                  attachment_name=attachment.name if attachment else None,
                  attachment_path=attachment.path if attachment else None,
                  attachment_type=attachment.content_type if attachment else None,
                  decision=None, decision_comment=None, decided_at=None)
    if status == ReplyStatus.EXTENSION:
        row = s.get(Obligation, o.id, populate_existing=True)  # locked above
        assert row is not None
        reply = Reply(**fields)
        s.add(reply)
        apply_reply(s, shell, row, reply, at)
        s.flush()
        return reply, True
    reply = stored.insert(s, fields,
                          ObligationStatus.SUBMITTED if status == ReplyStatus.DONE else None)
    if source == "portal" and status == ReplyStatus.DONE:  # coordinators review a partner's `done`
        assert reply.id is not None
        ask_coordinators(s, shell, "submission", agreement_id=o.agreement_id,
                         agreement_code=o.code, obligation_id=o.id, deadline=o.deadline,
                         reply_id=reply.id, at=at, into=messages)
    return reply, True


def apply_reply(s: Session, shell: Shell, o: Obligation, reply: Reply, at: datetime) -> None:
    if reply.status == ReplyStatus.DONE:
        o.status, o.next_fire = ObligationStatus.SUBMITTED, None
    elif reply.status == ReplyStatus.EXTENSION and reply.until is not None \
            and extension_applies(s, shell, o, reply, at):
        grant_extension(s, shell, o, reply.until)
    o.updated_at = at
    s.add(o)
    if reply.source == "portal":
        after_partner_reply(s, shell, o, reply, at)


def decide_reply(s: Session, shell: Shell, reply_id: int, decision: str, comment: str | None,
                 now: datetime) -> Reply:
    """A coordinator accepts a submitted reply, or returns it for revision."""
    if decision not in (Decision.ACCEPTED, Decision.RETURNED):
        raise ValueError(f"unknown decision {decision!r}")
    reply = s.get(Reply, reply_id)
    if reply is None:
        raise ReplyRefused(str(reply_id))
    o = s.get(Obligation, reply.obligation_id)
    assert o is not None
    if reply.decision is not None \
            or o.status in (ObligationStatus.WITHDRAWN, ObligationStatus.ACCEPTED):
        raise ReplyRefused(o.key)
    reply.decision, reply.decision_comment, reply.decided_at = decision, comment, now
    if decision == Decision.ACCEPTED:
        o.status, o.next_fire = ObligationStatus.ACCEPTED, None
    else:
        o.status = ObligationStatus.OPEN
        row = s.get(Agreement, o.agreement_id)
        assert row is not None
        reschedule(s, shell.calendar, o, load_stored(s, shell.parse_options, row).agreement)
    o.updated_at = now
    s.add(reply)
    s.add(o)
    s.flush()
    return reply
