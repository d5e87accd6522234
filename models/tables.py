"""The tables: the database is the one source of truth.

Instants are timezone-aware and stored in UTC (`UTCDateTime` refuses naive
values); dates are dates. Natural keys from the spec (agreement code, party
id, obligation id) are unique columns, so plan, database, Prefect runs and
messages all name things the same way.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from core.calendar import LOCAL_ZONE
from core.statuses import AgreementStatus, ObligationStatus, OutboxState, ReviewStage


class NaiveDatetimeError(ValueError):
    pass


class UTCDateTime(TypeDecorator[datetime]):
    """An aware instant stored as UTC; a naive datetime raises instead of guessing."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise NaiveDatetimeError(f"naive datetime {value!r} reached the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _instant(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


def _json(**kw: Any) -> Any:
    return Field(sa_type=sa.JSON, **kw)


class Agreement(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, index=True, max_length=64)
    title: str
    signed_on: date
    period_start: date
    period_end: date
    timezone: str = LOCAL_ZONE
    language: str = "vi"
    convener: str
    supervisor: str | None = None
    supersedes: str | None = None
    source: str  # the agreement file's text, as imported last
    source_name: str = ""
    source_hash: str = Field(max_length=64)
    revision: int = 1  # 1 on first import, +1 on every amendment
    status: str = AgreementStatus.ACTIVE  # core.statuses.AgreementStatus
    # the resolved ladder's timing as imported ({"send_at", "steps"}): sync plans from it
    timing: dict[str, Any] | None = _json(default=None)
    registered_at: datetime = _instant()
    updated_at: datetime = _instant()


class Party(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("agreement_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    agreement_id: int = Field(foreign_key="agreement.id", index=True)
    key: str = Field(max_length=40)  # the party id of the file
    name: str
    short: str | None = None
    observer: bool = False
    active: bool = True  # False once an amendment removed it


class Contact(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    party_id: int = Field(foreign_key="party.id", index=True)
    name: str
    role: str  # core.statuses.Role
    email: str | None = None
    phone: str | None = None
    channels: list[str] = _json(default_factory=list)  # names; inline URLs sealed (models.sealed)
    active: bool = True
    undeliverable_since: datetime | None = _instant(default=None)


class Commitment(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("agreement_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    agreement_id: int = Field(foreign_key="agreement.id", index=True)
    key: str = Field(max_length=40)
    title: str
    lead: str
    support: list[str] = _json(default_factory=list)
    indicators: list[dict[str, Any]] = _json(default_factory=list)
    active: bool = True


class Obligation(SQLModel, table=True):
    __table_args__ = (
        sa.Index("ix_obligation_status_next_fire", "status", "next_fire"),
        sa.Index("ix_obligation_status_deadline", "status", "deadline"),
    )
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=200)  # the spec's obligation id
    agreement_id: int = Field(foreign_key="agreement.id", index=True)
    commitment: str | None = None
    party: str = Field(max_length=40)
    label: str
    kind: str  # report | review
    cycle: int | None = None
    planned_due: date  # as `plan` prints it
    due: date  # after extensions
    deadline: datetime = _instant()
    status: str = ObligationStatus.OPEN  # core.statuses.ObligationStatus
    next_fire: datetime | None = _instant(default=None)  # None: nothing left to fire
    last_step: int | None = None  # highest rung fired
    created_at: datetime = _instant()
    updated_at: datetime = _instant()


class Reply(SQLModel, table=True):
    """Append-only: a correction is a new version, never an update."""

    __table_args__ = (sa.UniqueConstraint("obligation_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    obligation_id: int = Field(foreign_key="obligation.id", index=True)
    version: int
    submission: str | None = Field(default=None, unique=True, max_length=64)  # form nonce
    status: str  # core.statuses.ReplyStatus
    percent: int | None = None
    reason: str | None = None
    until: date | None = None
    values: dict[str, Any] = _json(default_factory=dict)
    note: str | None = None
    answered_by: str | None = None
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    attachment_name: str | None = None
    attachment_path: str | None = None
    attachment_type: str | None = None
    source: str = "portal"  # portal | cli | import
    recorded_at: datetime = _instant()
    decision: str | None = None  # None or core.statuses.Decision (a coordinator's)
    decision_comment: str | None = None
    decided_at: datetime | None = _instant(default=None)


class FiredStep(SQLModel, table=True):
    """One ladder step used for one obligation: fired or skipped by catch-up, once ever."""

    __table_args__ = (sa.UniqueConstraint("obligation_id", "step"),)
    id: int | None = Field(default=None, primary_key=True)
    obligation_id: int = Field(foreign_key="obligation.id", index=True)
    step: int
    outcome: str  # core.statuses.StepOutcome
    due_at: datetime = _instant()  # when the step was timed to fire
    recorded_at: datetime = _instant()  # the tick that recorded it
    flow_run: str | None = None


class OutboxMessage(SQLModel, table=True):
    """A message to one recipient, recorded before it is sent; `key` makes it unique."""

    __table_args__ = (sa.Index("ix_outbox_state_next_attempt", "state", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=300)  # e.g. obligation-id#step#contact-id
    kind: str  # request | remind | escalate | receipt | decision | host_notice | ...
    agreement_id: int | None = Field(default=None, foreign_key="agreement.id", index=True)
    obligation_id: int | None = Field(default=None, foreign_key="obligation.id", index=True)
    step: int | None = None
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    channel: str = "email"  # email | apprise
    recipient: str  # an address, a channel name, or an inline channel URL sealed (models.sealed)
    subject: str = ""  # filled in when sent (bodies carry link tokens: never stored)
    body_text: str = ""
    body_html: str | None = None
    context: dict[str, Any] = _json(default_factory=dict)  # what renders the message
    message_id: str = Field(max_length=300)  # deterministic, from the key
    state: str = OutboxState.PENDING  # core.statuses.OutboxState
    attempts: int = 0
    next_attempt_at: datetime = _instant()
    lease_until: datetime | None = _instant(default=None)
    claimed_by: str | None = None
    last_error: str | None = None
    digest_key: str | None = Field(default=None, index=True)
    created_at: datetime = _instant()
    sent_at: datetime | None = _instant(default=None)


class Link(SQLModel, table=True):
    """A capability: only the hash of its token is stored."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    nonce: str = Field(max_length=64)  # token = HMAC(secret key, nonce); neither alone is the token
    purpose: str  # reply | accept | return | approve | deny | dossier
    obligation_id: int | None = Field(default=None, foreign_key="obligation.id", index=True)
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    reply_id: int | None = Field(default=None, foreign_key="reply.id")
    agreement_id: int | None = Field(default=None, foreign_key="agreement.id")
    cycle: int | None = None
    expires_at: datetime = _instant()
    revoked_at: datetime | None = _instant(default=None)
    used_at: datetime | None = _instant(default=None)
    created_at: datetime = _instant()


class FeedLink(SQLModel, table=True):
    """A party's calendar feed capability (docs/calendar.md), bound to one agreement, one
    of its parties and the contact it was sent to: only the hash of its token is stored.
    Apart from `link`, whose rows are each bound to an obligation, a reply or a cycle."""

    __tablename__ = "feed_link"
    __table_args__ = (sa.Index("ix_feed_link_contact_agreement", "contact_id", "agreement_id"),)
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    nonce: str = Field(max_length=64)  # token = HMAC(secret key, nonce), as for `link`
    agreement_id: int = Field(foreign_key="agreement.id")
    party_id: int = Field(foreign_key="party.id")
    contact_id: int = Field(foreign_key="contact.id")
    expires_at: datetime = _instant()
    revoked_at: datetime | None = _instant(default=None)
    created_at: datetime = _instant()


class Review(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("agreement_id", "cycle"),)
    id: int | None = Field(default=None, primary_key=True)
    agreement_id: int = Field(foreign_key="agreement.id", index=True)
    cycle: int
    covers_start: date
    covers_end: date
    meeting: date
    host: str
    final: bool = False
    skipped: bool = False
    stage: str = ReviewStage.PLANNED  # core.statuses.ReviewStage
    dossier: dict[str, Any] | None = _json(default=None)
    assembled_at: datetime | None = _instant(default=None)
