"""A party's deadlines as an iCalendar feed (RFC 5545), from plain data.

Pure: the caller reads the rows and the clock; this builds the events. One all-day event
per obligation on its due date (`DTSTART;VALUE=DATE`, `DTEND` the next day: a date has no
zone, so it is the same day on every phone), with alarms at the ladder's `request` and
`remind` steps, timed as the ladder times them (the step's day moved to a working day,
at the ladder's `send_at`, in the agreement's zone).

What a client needs to update an event it already has: `UID` (the obligation's key, which
never changes), `SEQUENCE` (`sequence`: it only grows) and `LAST-MODIFIED`. An obligation
that no longer asks anything (withdrawn, waived, submitted, accepted) stays in the feed
as `STATUS:CANCELLED` without alarms (docs/calendar.md says why).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from icalendar import Alarm, Calendar, Event, vText

from core.agreement import Ladder
from core.calendar import WorkCalendar, local_instant
from core.ladder import fire_times
from core.statuses import ObligationStatus

# The ladder actions an event's alarms are set at (escalations go to others).
ALARM_ACTIONS = ("request", "remind")
REFRESH = timedelta(hours=6)  # how often a client is asked to fetch the feed again


@dataclass(frozen=True)
class FeedEvent:
    """One obligation as its event shows it (texts already in the feed's language)."""

    uid: str
    due: date
    status: str  # core.statuses.ObligationStatus
    summary: str
    description: str
    sequence: int
    created: datetime
    last_modified: datetime
    url: str | None = None  # the reply link, when the feed's contact has one


@dataclass(frozen=True)
class FeedText:
    """The feed's words: its name, and each alarm's text by ladder action."""

    name: str
    alarms: dict[str, str]


def sequence(revision: int, replies: int, decisions: int) -> int:
    """An event's SEQUENCE, derived from what is recorded, with no counter of its own:
    every change that can move a due date or close or reopen an obligation is an
    amendment of its agreement (`revision` − 1), a reply to it, or a coordinator's
    decision on one. Replies are append-only and a decision is made once, so the sum
    never decreases; a reply that changes nothing shown (in progress) still adds one,
    which a client takes as an unchanged update."""
    return max(revision - 1, 0) + replies + decisions


def last_modified(created: datetime, *changes: datetime | None) -> datetime:
    """LAST-MODIFIED: the latest of the obligation's creation and the changes counted by
    `sequence` (the agreement's amendment, the newest reply, the newest decision)."""
    return max([created, *(c for c in changes if c is not None)])


def alarm_triggers(ladder: Ladder, due: date, cal: WorkCalendar, tz: str
                   ) -> list[tuple[str, timedelta]]:
    """(action, offset from the due day's 00:00) of the ladder's request and remind steps:
    when the ladder fires them, in the agreement's zone."""
    start = local_instant(due, time(0, 0), tz)
    return [(step.action, at - start)
            for step, at in zip(ladder.steps, fire_times(ladder, due, cal, tz), strict=True)
            if step.action in ALARM_ACTIONS]


def is_live(status: str) -> bool:
    """An obligation whose event is confirmed (it still asks for a report)."""
    return status == ObligationStatus.OPEN


def build_feed(text: FeedText, tz: str, events: Iterable[FeedEvent],
               triggers: Mapping[date, Sequence[tuple[str, timedelta]]], now: datetime) -> bytes:
    """The VCALENDAR: `triggers` gives the alarms of a due date (`alarm_triggers`)."""
    cal = Calendar()
    cal.add("prodid", "-//phoihop//deadlines//VI")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("name", text.name)
    cal.add("x-wr-calname", text.name)
    cal.add("x-wr-timezone", tz)
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", REFRESH)
    stamp = now.astimezone(UTC)
    for e in events:
        cal.add_component(_event(e, text, triggers.get(e.due, ()), stamp))
    return cal.to_ical()


def _event(e: FeedEvent, text: FeedText, triggers: Sequence[tuple[str, timedelta]],
           stamp: datetime) -> Event:
    ev = Event()
    ev.add("uid", e.uid)
    ev.add("dtstamp", stamp)
    ev.add("created", e.created.astimezone(UTC))
    ev.add("last-modified", e.last_modified.astimezone(UTC))
    ev.add("sequence", e.sequence)
    ev.add("dtstart", e.due)
    ev.add("dtend", e.due + timedelta(days=1))
    ev.add("summary", e.summary)
    ev.add("description", e.description)
    ev.add("transp", "TRANSPARENT")
    live = is_live(e.status)
    ev.add("status", "CONFIRMED" if live else "CANCELLED")
    if e.url:
        ev.add("url", e.url)
    if live:
        for action, offset in triggers:
            alarm = Alarm()
            alarm.add("action", "DISPLAY")
            alarm.add("trigger", offset)
            alarm.add("description", vText(f"{text.alarms[action]} — {e.summary}"))
            ev.add_component(alarm)
    return ev
