"""What the flows do, as plain functions over an App (testable without Prefect)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TypeVar

import sqlalchemy as sa
from sqlmodel import col, select

from config.bootstrap import App
from core.calendar import zone
from core.statuses import (
    UNDELIVERED_STATES,
    AgreementStatus,
    ListedStatus,
    ObligationStatus,
    OutboxState,
    Role,
)
from flows.view import ViewRow
from models.ladder_state import FiredItem, tick
from models.tables import Agreement, Contact, Obligation, OutboxMessage, Party
from notifications.outbox import (
    SendReport,
    enqueue_fired,
    insert_messages,
    message_rows,
    send_pending,
)
from reviews import cycle

T = TypeVar("T")
# The database itself failing is no agreement's fault: these propagate (the task's
# retries are for them) instead of being recorded against one agreement.
TRANSIENT = (sa.exc.OperationalError, sa.exc.InterfaceError)
WORK_VI = {"ladder": "nhắc việc", "review": "đánh giá", "view": "bảng theo dõi"}
WORK_EN = {"ladder": "reminders", "review": "review", "view": "overview"}


@dataclass(frozen=True)
class Failure:
    """One agreement's work that failed; the others' went on."""

    code: str
    work: str  # ladder | review | view
    error: str  # one line: the exception's type and first line, at most 200 characters

    def line(self) -> str:
        return f"{self.code}: {WORK_VI[self.work]} / {WORK_EN[self.work]}: {self.error}"


def failure_of(code: str, work: str, exc: BaseException) -> Failure:
    first = (str(exc).splitlines() or [""])[0]
    return Failure(code, work, f"{type(exc).__name__}: {first}"[:200])


def isolated(code: str, work: str, fn: Callable[[], T]) -> tuple[T | None, Failure | None]:
    """`fn()`, or the failure it raised (a database error is raised: it is nobody's)."""
    try:
        return fn(), None
    except TRANSIENT:
        raise
    except Exception as exc:  # one agreement's failure is recorded, never the others'
        return None, failure_of(code, work, exc)


def fire_steps(app: App, at: datetime, agreement: str | None = None,
               flow_run: str | None = None) -> list[FiredItem]:
    """Record due ladder steps and their messages in one transaction (idempotent)."""
    with app.session(write=True) as s:
        items = tick(s, app, at, agreement, flow_run)
        enqueue_fired(s, app, items, at)
    return items


def fire_steps_each(app: App, at: datetime, flow_run: str | None = None
                    ) -> tuple[list[FiredItem], list[Failure]]:
    """`fire_steps` for every agreement in one batch; if the batch fails, agreement by
    agreement, each in its own transaction, so one agreement's failure stops no other."""
    try:
        return fire_steps(app, at, None, flow_run), []
    except TRANSIENT:
        raise
    except Exception:  # someone's data broke the batch: find whose, do the others
        pass
    o, a = Obligation.__table__.c, Agreement.__table__.c  # type: ignore[attr-defined]
    with app.session() as s:
        codes = list(s.execute(sa.select(a.code).distinct().select_from(
            Obligation.__table__.join(Agreement.__table__,  # type: ignore[attr-defined]
                                      a.id == o.agreement_id))
            .where(o.status == ObligationStatus.OPEN, o.next_fire <= at)
            .order_by(a.code)).scalars())
    items: list[FiredItem] = []
    failures: list[Failure] = []
    for code in codes:
        fired, failure = isolated(code, "ladder", partial(fire_steps, app, at, code, flow_run))
        items += fired or []
        failures += [failure] if failure else []
    return items, failures


def review_each(app: App, codes: list[str], at: datetime
                ) -> tuple[dict[str, list[cycle.StepDone]], list[Failure]]:
    """Each agreement's due review steps (`cycle.run_due`); a failure is recorded for its
    agreement and the next one goes on."""
    done: dict[str, list[cycle.StepDone]] = {}
    failures: list[Failure] = []
    for code in codes:
        steps, failure = isolated(code, "review", partial(cycle.run_due, app, code, at))
        if failure is not None:
            failures.append(failure)
        else:
            done[code] = steps or []
    return done, failures


def report_failures(app: App, failures: list[Failure], at: datetime) -> int:
    """Tell the convener's coordinators of each failed agreement, through the outbox:
    once per agreement, work and day (the next run retries it; a coordinator is told
    again only on another day). Returns the messages recorded."""
    added = 0
    for f in failures:
        with app.session(write=True) as s:
            agreement = s.exec(select(Agreement).where(Agreement.code == f.code)).first()
            if agreement is None:
                continue
            day = at.astimezone(zone(agreement.timezone))
            coordinators = s.exec(select(Contact).join(Party, col(Party.id) == Contact.party_id)
                                  .where(Party.agreement_id == agreement.id,
                                         Party.key == agreement.convener,
                                         Contact.role == Role.COORDINATOR, col(Contact.active))
                                  ).all()
            work = WORK_VI[f.work] if agreement.language != "en" else WORK_EN[f.work]
            context = {"agreement_code": f.code, "work": work, "error": f.error,
                       "when": f"{day:%d/%m/%Y %H:%M}"}
            rows = []
            for c in coordinators:
                rows += message_rows(f"failure#{f.code}#{f.work}#{day:%Y-%m-%d}#{c.id}",
                                     "failure", c, context, at, agreement_id=agreement.id)
            added += insert_messages(s, rows)
    return added


def deliver(app: App, at: datetime, worker: str) -> SendReport:
    return send_pending(app, at, worker)


LEASE_MARGIN = 1.0  # seconds past the last lease before its rows are claimed again
POLL_SECONDS = 2.0  # how often a waiting sweep looks whether the claims were settled


def deliver_after_leases(app: App, worker: str, sleep: Callable[[float], None] = time.sleep
                         ) -> SendReport:
    """Deliver what is due, then wait out the leases of rows other senders claimed and
    deliver those too: rows claimed by a sender that was killed (kill -9 of `phoihop
    up`) are sent within one lease (`lease_seconds`, 2 minutes by default) of this
    start, not at the next ladder day. A sender that is alive settles its rows first
    (sent or retry_wait) and the wait ends there. Waits at most one lease and a margin."""
    report = deliver(app, app.now(), worker)
    limit = app.now() + timedelta(seconds=app.settings.lease_seconds + 2 * LEASE_MARGIN)
    table = _table(OutboxMessage)
    while True:
        with app.session() as s:
            last = s.execute(sa.select(sa.func.max(table.c.lease_until)).where(
                table.c.state == OutboxState.CLAIMED)).scalar()
        now = app.now()
        if last is None or now >= limit:
            return report
        last = last if last.tzinfo else last.replace(tzinfo=UTC)
        if last + timedelta(seconds=LEASE_MARGIN) > now:
            sleep(min(POLL_SECONDS, (last - now).total_seconds() + LEASE_MARGIN))
            continue
        more = deliver(app, app.now(), worker)
        for name in ("sent", "retried", "dead", "unknown", "messages"):
            setattr(report, name, getattr(report, name) + getattr(more, name))
        report.errors += more.errors


def _table(model: object) -> sa.Table:
    return model.__table__  # type: ignore[attr-defined]


def waiting(app: App) -> int:
    """Outbox rows not delivered yet and not given up (pending, retry_wait, claimed,
    unknown): what a later run will still try."""
    with app.session() as s:
        return int(s.execute(sa.select(sa.func.count()).select_from(
            OutboxMessage.__table__).where(  # type: ignore[attr-defined]
            col(OutboxMessage.state).in_(UNDELIVERED_STATES))
        ).scalar_one())


def delivery_line(report: SendReport, still_waiting: int) -> str:
    """What was actually delivered, for the run's log and its final state."""
    line = (f"Thư đã gửi: {report.sent}, chờ gửi lại: {report.retried}, không gửi được: "
            f"{report.dead} (còn chờ trong hộp thư đi: {still_waiting}) / sent {report.sent}, "
            f"retry later {report.retried}, dead {report.dead} ({still_waiting} waiting)")
    if report.errors:
        line += f"; lỗi cuối / last error: {report.errors[-1][:200]}"
    return line


def nothing_delivered(report: SendReport) -> bool:
    """Every message this run tried failed: the run did not do its job."""
    return report.messages > 0 and report.sent == 0


def active_codes(app: App) -> list[str]:
    with app.session() as s:
        return list(s.exec(select(Agreement.code).where(Agreement.status == AgreementStatus.ACTIVE)
                           .order_by(col(Agreement.code))))


def view_rows(app: App, code: str, at: datetime) -> tuple[str, list[ViewRow]]:
    """The agreement's title and one row per obligation that is not withdrawn."""
    with app.session() as s:
        a = s.exec(select(Agreement).where(Agreement.code == code)).one()
        names = {p.key: (p.short or p.name) for p in
                 s.exec(select(Party).where(Party.agreement_id == a.id))}
        obligations = s.exec(select(Obligation).where(
            Obligation.agreement_id == a.id, col(Obligation.status) != ObligationStatus.WITHDRAWN)
            .order_by(col(Obligation.deadline), col(Obligation.key))).all()
    today = at.astimezone(zone(a.timezone)).date()
    rows = []
    for o in obligations:
        overdue = o.status == ObligationStatus.OPEN and o.deadline <= at
        rows.append(ViewRow(
            party=o.party, party_name=names.get(o.party, o.party),
            obligation=o.key.removeprefix(f"{code}/"), due=o.due,
            status=ListedStatus.OVERDUE if overdue else o.status,
            days_overdue=(today - o.due).days if overdue else 0, last_step=o.last_step))
    return a.title, rows
