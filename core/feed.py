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

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from icalendar import vDuration

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
    """The VCALENDAR: `triggers` gives the alarms of a due date (`alarm_triggers`).

    Written line by line (RFC 5545 §3.1: CRLF, folded at 75 octets, text escaped):
    `icalendar`'s own serializer took about 1 ms an event, five times the 200 ms a
    500-obligation feed may take; the tests read every feed back with `icalendar`."""
    refresh = _duration(REFRESH)
    lines = ["BEGIN:VCALENDAR", "PRODID:-//phoihop//deadlines//VI", "VERSION:2.0",
             "CALSCALE:GREGORIAN", "METHOD:PUBLISH", f"NAME:{_text(text.name)}",
             f"X-WR-CALNAME:{_text(text.name)}", f"X-WR-TIMEZONE:{_text(tz)}",
             f"REFRESH-INTERVAL;VALUE=DURATION:{refresh}", f"X-PUBLISHED-TTL:{refresh}"]
    stamp = _utc(now)
    for e in events:
        _event(lines, e, text, triggers.get(e.due, ()), stamp)
    lines.append("END:VCALENDAR")
    return b"\r\n".join(_fold(line) for line in lines) + b"\r\n"


def _event(lines: list[str], e: FeedEvent, text: FeedText,
           triggers: Sequence[tuple[str, timedelta]], stamp: str) -> None:
    live = is_live(e.status)
    lines += ["BEGIN:VEVENT", f"UID:{_text(e.uid)}", f"DTSTAMP:{stamp}",
              f"CREATED:{_utc(e.created)}", f"LAST-MODIFIED:{_utc(e.last_modified)}",
              f"SEQUENCE:{e.sequence}", f"DTSTART;VALUE=DATE:{e.due:%Y%m%d}",
              f"DTEND;VALUE=DATE:{e.due + timedelta(days=1):%Y%m%d}",
              f"SUMMARY:{_text(e.summary)}", f"DESCRIPTION:{_text(e.description)}",
              "TRANSP:TRANSPARENT", f"STATUS:{'CONFIRMED' if live else 'CANCELLED'}"]
    if e.url:
        lines.append(f"URL:{e.url}")
    if live:
        for action, offset in triggers:
            lines += ["BEGIN:VALARM", "ACTION:DISPLAY", f"TRIGGER:{_duration(offset)}",
                      f"DESCRIPTION:{_text(text.alarms[action])}",
                      "END:VALARM"]
    lines.append("END:VEVENT")


def _utc(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@functools.lru_cache(maxsize=1024)
def _duration(offset: timedelta) -> str:
    return vDuration(offset).to_ical().decode()


def _text(value: str) -> str:
    """A TEXT value (§3.3.11): backslash, semicolon, comma and newline escaped."""
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def _fold(line: str) -> bytes:
    """A content line in UTF-8, folded at 75 octets, never inside a character (§3.1)."""
    data = line.encode()
    if len(data) <= 75:
        return data
    parts, start, limit = [], 0, 75
    while len(data) - start > limit:
        end = start + limit
        while data[end] & 0xC0 == 0x80:  # a continuation byte: cut before its character
            end -= 1
        parts.append(data[start:end])
        start, limit = end, 74  # a continuation line starts with one space
    parts.append(data[start:])
    return b"\r\n ".join(parts)
