"""One agreement's failure never stops the others: its work is set aside as a `Failure`,
recorded, and its convener's coordinators are told through the outbox."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlmodel import select

from core.calendar import zone
from models.outbox import insert_messages, message_rows
from models.queries import coordinators
from models.tables import Agreement
from services.ports import Shell

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


def report_failures(shell: Shell, failures: list[Failure], at: datetime) -> int:
    """Tell the convener's coordinators of each failed agreement, through the outbox:
    once per agreement, work and day (the next run retries it; a coordinator is told
    again only on another day). Returns the messages recorded."""
    added = 0
    for f in failures:
        with shell.session(write=True) as s:
            agreement = s.exec(select(Agreement).where(Agreement.code == f.code)).first()
            if agreement is None or agreement.id is None:
                continue
            day = at.astimezone(zone(agreement.timezone))
            work = WORK_VI[f.work] if agreement.language != "en" else WORK_EN[f.work]
            context = {"agreement_code": f.code, "work": work, "error": f.error,
                       "when": f"{day:%d/%m/%Y %H:%M}"}
            rows = []
            for c in coordinators(s, agreement.id):
                rows += message_rows(f"failure#{f.code}#{f.work}#{day:%Y-%m-%d}#{c.id}",
                                     "failure", c, context, at, agreement_id=agreement.id)
            added += insert_messages(s, rows)
    return added
