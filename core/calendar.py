"""Working days, offsets and local times: the one calendar everything asks.

Pure: no wall clock. A working day is Monday to Friday, minus the `holidays`
package's Vietnamese days off (observed and substituted ones included), with
the configuration's overrides applied on top (extra days off, extra working
days such as a Saturday worked to bridge a holiday).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
import pendulum

OFFSET_RE = re.compile(r"^([+-]?)(\d{1,4})(d|bd)$")
# Every date phoihop reads (agreement files, replies, --until, --at, --registered-at,
# portal forms) lies in [DATE_MIN, DATE_MAX]: an offset is at most 9999 days or working
# days (OFFSET_RE), about 41 years, so every date derived from them (ladder steps, review
# milestones, due_adjust) stays inside Python's years 1–9999 (docs/spec-choices.md).
DATE_MIN = date(1900, 1, 1)
DATE_MAX = date(9899, 12, 31)
DATE_RANGE = "01/01/1900–31/12/9899"
# The coordinators' zone: an agreement file's `timezone` when it names none (the spec's
# default), and the zone of every instant the program reads or shows outside one agreement
# (--at, --registered-at, the demo's today, the doctor's next run).
LOCAL_ZONE = "Asia/Ho_Chi_Minh"


class DateOutOfRange(ValueError):
    """A date outside [DATE_MIN, DATE_MAX]; the message is one line in both languages,
    `vi` and `en` each language alone."""

    def __init__(self, message: str, vi: str | None = None, en: str | None = None) -> None:
        super().__init__(message)
        self.vi = vi or message
        self.en = en or message


def check_day(d: date) -> date:
    """`d`, if phoihop can compute with it (DateOutOfRange otherwise)."""
    if not DATE_MIN <= d <= DATE_MAX:
        vi = f"{d.day:02d}/{d.month:02d}/{d.year:04d} ngoài khoảng ngày hỗ trợ {DATE_RANGE}"
        en = f"{d.isoformat()} is outside the supported dates {DATE_RANGE}"
        raise DateOutOfRange(f"{vi} / {en}", vi, en)
    return d


@dataclass(frozen=True)
class Offset:
    """`-30d`, `+3bd`, `0d`: days relative to a reference day."""

    days: int  # signed
    business: bool

    @classmethod
    def parse(cls, text: str) -> Offset:
        m = OFFSET_RE.match(text.strip())
        if not m:
            raise ValueError(f"{text!r} is not an offset like -30d, +3bd or 0d")
        sign = -1 if m.group(1) == "-" else 1
        return cls(days=sign * int(m.group(2)), business=m.group(3) == "bd")

    def __str__(self) -> str:
        unit = "bd" if self.business else "d"
        return f"{self.days:+d}{unit}" if self.days else f"0{unit}"


@lru_cache(maxsize=256)
def _vn_days_off(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("VN", years=year).keys())


@dataclass(frozen=True)
class WorkCalendar:
    """Vietnamese working days with configurable overrides."""

    extra_days_off: frozenset[date] = field(default_factory=frozenset)
    extra_working_days: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def with_overrides(
        cls, days_off: Iterable[date] = (), working_days: Iterable[date] = ()
    ) -> WorkCalendar:
        return cls(frozenset(days_off), frozenset(working_days))

    def is_working_day(self, d: date) -> bool:
        if d in self.extra_working_days:
            return True
        if d in self.extra_days_off:
            return False
        if d.weekday() >= 5:
            return False
        return d not in _vn_days_off(d.year)

    def next_working_day(self, d: date) -> date:
        """`d` itself when it is a working day, else the first working day after it."""
        while not self.is_working_day(d):
            d += timedelta(days=1)
        return d

    def previous_working_day(self, d: date) -> date:
        while not self.is_working_day(d):
            d -= timedelta(days=1)
        return d

    def adjust(self, d: date, rule: str) -> date:
        """Move a due date by `due_adjust`: `next`, `previous` or `none`."""
        if rule == "next":
            return self.next_working_day(d)
        if rule == "previous":
            return self.previous_working_day(d)
        return d

    def shift(self, d: date, offset: Offset) -> date:
        """Apply an offset. `+Nbd` is the N-th working day strictly after `d`."""
        if not offset.business:
            return d + timedelta(days=offset.days)
        step = 1 if offset.days > 0 else -1
        remaining = abs(offset.days)
        while remaining:
            d += timedelta(days=step)
            if self.is_working_day(d):
                remaining -= 1
        return d


def add_years(d: date, years: int) -> date:
    """Calendar years later; 29 February becomes 28 February in common years."""
    p = pendulum.Date(d.year, d.month, d.day).add(years=years)
    return date(p.year, p.month, p.day)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_instant(d: date, at: time, tz: str) -> datetime:
    """The aware instant of `at` o'clock on day `d` in zone `tz`."""
    return datetime.combine(d, at, tzinfo=zone(tz))


def end_of_day(d: date, tz: str) -> datetime:
    """The deadline of a due day: the next day's 00:00 local."""
    return local_instant(d + timedelta(days=1), time(0, 0), tz)


def iso(dt: datetime, tz: str) -> str:
    """An instant as ISO 8601 in the agreement's zone, e.g. 2022-12-16T00:00:00+07:00."""
    return dt.astimezone(zone(tz)).isoformat(timespec="seconds")


def parse_instant(text: str, tz: str) -> datetime:
    """Parse an ISO date or date-time; a naive value is read in zone `tz`. A date outside
    [DATE_MIN, DATE_MAX] raises DateOutOfRange (a ValueError)."""
    text = text.strip()
    try:
        if len(text) == 10:
            return local_instant(check_day(date.fromisoformat(text)), time(0, 0), tz)
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except DateOutOfRange:
        raise
    except ValueError as exc:
        raise ValueError(f"{text!r} is not an ISO date or date-time") from exc
    check_day(dt.date())
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone(tz))
    return dt


def instant_at(at: str | None, now: Callable[[], datetime], tz: str = LOCAL_ZONE) -> datetime:
    """The instant a command or flow acts at: `at` (an ISO date or date-time, a naive one
    read in zone `tz`, see `parse_instant`) when given, else the clock's `now()`."""
    return parse_instant(at, tz) if at else now()
