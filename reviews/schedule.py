"""When a review cycle's steps happen: host notice, draft, final dossier, carry-over.

Each milestone is at the ladder's `send_at`, local time: the host notice 60 days before
the meeting, the draft 7 days before (both moved to the next working day when they fall
on a day off, as ladder steps are), the final dossier on the meeting date, and the
carry-over on the first working day after the meeting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from core.agreement import Agreement
from core.calendar import WorkCalendar, local_instant
from core.expand import ReviewCycle
from core.statuses import ReviewStage

HOST_NOTICE_DAYS = 60
DRAFT_DAYS = 7
STEPS = ("host_notice", "draft", "final", "close")
# Review.stage after each step; a stage never moves backwards.
STAGE_AFTER = {"host_notice": ReviewStage.HOST_NOTIFIED, "draft": ReviewStage.DRAFT,
               "final": ReviewStage.FINAL, "close": ReviewStage.CLOSED}
STAGE_ORDER = tuple(ReviewStage)


@dataclass(frozen=True)
class Milestones:
    host_notice: datetime
    draft: datetime
    final: datetime
    close: datetime

    def at(self, step: str) -> datetime:
        instant: datetime = getattr(self, step)
        return instant

    def as_json(self) -> dict[str, str]:
        return {step: self.at(step).isoformat() for step in STEPS}


def milestones(a: Agreement, cycle: ReviewCycle, cal: WorkCalendar) -> Milestones:
    return milestones_for(cycle.meeting, a.ladder.send_at, a.timezone, cal)


def milestones_for(meeting: date, send_at: time, tz: str, cal: WorkCalendar) -> Milestones:
    notice = cal.adjust(meeting - timedelta(days=HOST_NOTICE_DAYS), "next")
    draft = cal.adjust(meeting - timedelta(days=DRAFT_DAYS), "next")
    close = cal.next_working_day(meeting + timedelta(days=1))
    return Milestones(host_notice=local_instant(notice, send_at, tz),
                      draft=local_instant(draft, send_at, tz),
                      final=local_instant(meeting, send_at, tz),
                      close=local_instant(close, send_at, tz))


def stage_for(a: Agreement, cycle: ReviewCycle, cal: WorkCalendar, at: datetime) -> str:
    """Which dossier stands at `at`: the final one from the meeting's milestone on."""
    return ReviewStage.FINAL if at >= milestones(a, cycle, cal).final else ReviewStage.DRAFT


def later_stage(current: str, new: str) -> str:
    return max(current, new, key=lambda s: STAGE_ORDER.index(s) if s in STAGE_ORDER else -1)


def due_steps(a: Agreement, cycle: ReviewCycle, cal: WorkCalendar, stage: str, now: datetime
              ) -> list[str]:
    """The steps whose time has come and that the stored stage has not reached yet.

    Catching up after the meeting, the host notice and the draft are left out: the final
    dossier supersedes them.
    """
    if cycle.skipped:
        return []
    return steps_due(milestones(a, cycle, cal), stage, now)


def pending_steps(m: Milestones, stage: str) -> list[str]:
    """The steps the stored stage has not reached yet, in order."""
    done = STAGE_ORDER.index(stage) if stage in STAGE_ORDER else 0
    return [step for step in STEPS if STAGE_ORDER.index(STAGE_AFTER[step]) > done]


def steps_due(m: Milestones, stage: str, now: datetime) -> list[str]:
    steps = [step for step in pending_steps(m, stage) if m.at(step) <= now]
    if m.final <= now:
        steps = [s for s in steps if s not in ("host_notice", "draft")]
    return steps
