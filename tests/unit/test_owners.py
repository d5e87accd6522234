"""One owner each: the local zone, the wall clock, "the instant of this --at, or now", and
the words statuses are made of (issue #15)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import pytest

from core import statuses
from core.calendar import LOCAL_ZONE, instant_at, zone

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("cli", "config", "core", "flows", "models", "notifications", "portal", "reviews",
            "services")


def program_sources() -> dict[str, str]:
    """The program's Python files (not its tests, benchmarks or docs), by relative path."""
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8")
            for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def files_with(text: str) -> list[str]:
    return [name for name, source in program_sources().items() if text in source]


def test_the_local_zone_is_written_once() -> None:
    assert LOCAL_ZONE == "Asia/Ho_Chi_Minh"
    assert files_with('"Asia/Ho_Chi_Minh"') + files_with("'Asia/Ho_Chi_Minh'") == [
        "core/calendar.py"]
    assert program_sources()["core/calendar.py"].count("Asia/Ho_Chi_Minh") == 1


def test_the_wall_clock_is_read_once() -> None:
    for call in ("datetime.now(", "datetime.utcnow(", "date.today(", "time.time("):
        found = files_with(call)
        assert found == (["config/bootstrap.py"] if call == "datetime.now(" else []), call
    assert program_sources()["config/bootstrap.py"].count("datetime.now(") == 1


def test_no_copy_of_at_or_now() -> None:
    """The instant of `--at`, or now, is `core.calendar.instant_at`'s, not a copy's."""
    assert files_with("if at else app.now()") == []


def clock() -> datetime:
    return datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.mark.parametrize(("at", "local"), [
    ("2025-01-28", datetime(2025, 1, 28, 0, 0)),  # a day: its midnight, local
    ("2025-01-28T09:30", datetime(2025, 1, 28, 9, 30)),  # naive: read in the local zone
    ("2025-01-28T02:30:00Z", datetime(2025, 1, 28, 9, 30)),  # aware: as written
    ("2025-01-28T09:30:00+07:00", datetime(2025, 1, 28, 9, 30)),
])
def test_instant_at_reads_at_in_the_local_zone(at: str, local: datetime) -> None:
    got = instant_at(at, clock)
    assert got.tzinfo is not None
    assert got.astimezone(zone("Asia/Ho_Chi_Minh")).replace(tzinfo=None) == local
    assert got == local.replace(tzinfo=zone("Asia/Ho_Chi_Minh"))


def test_instant_at_without_at_is_the_clocks() -> None:
    assert instant_at(None, clock) == clock()
    assert instant_at("", clock) == clock()  # an automation's empty template renders ""


def test_instant_at_in_another_zone() -> None:
    assert instant_at("2025-01-28", clock, "UTC") == datetime(2025, 1, 28, tzinfo=UTC)


def test_instant_at_refuses_what_is_not_an_instant() -> None:
    with pytest.raises(ValueError, match="not an ISO date or date-time"):
        instant_at("28/01/2025", clock)


def test_statuses_are_their_strings() -> None:
    """Stored and printed as the bare words: the database and the JSON are unchanged."""
    s = statuses.ObligationStatus.SUBMITTED
    assert s == "submitted" and str(s) == "submitted" and f"{s}" == "submitted"
    assert json.dumps({"status": s, s: 1}) == '{"status": "submitted", "submitted": 1}'
    assert tuple(statuses.ObligationStatus) == (
        "open", "submitted", "accepted", "waived", "withdrawn", "unrecorded")
    assert statuses.CLOSED_STATUSES == (
        "submitted", "accepted", "waived", "withdrawn", "unrecorded")
    assert tuple(statuses.OutboxState) == (
        "pending", "claimed", "sent", "retry_wait", "dead", "unknown")
    assert statuses.SENDABLE_STATES == ("pending", "retry_wait", "unknown")
    assert statuses.UNDELIVERED_STATES == ("pending", "retry_wait", "claimed", "unknown")
    assert tuple(statuses.ReplyStatus) == ("done", "in_progress", "blocked", "extension")
    assert tuple(statuses.ListedStatus) == (
        "open", "overdue", "upcoming", "submitted", "accepted", "waived", "withdrawn",
        "unrecorded")
    assert set(statuses.ListedStatus) == set(statuses.ObligationStatus) | {
        "overdue", "upcoming"}
    assert tuple(statuses.Role) == ("focal", "head", "coordinator")
    assert set(statuses.Audience) == set(statuses.Role) | {"supervisor", "host"}
    assert tuple(statuses.ReviewStage) == (
        "planned", "host_notified", "draft", "final", "closed")


def test_no_set_of_status_words_is_written_again() -> None:
    """A tuple, list or set of two or more status words is a copy of a closed set
    (the old `STATUSES` twice): it is written once, in core/statuses.py, and taken from
    there (`tuple(ReplyStatus)`, `SENDABLE_STATES`, ...)."""
    import ast

    words = {m.value for e in vars(statuses).values()
             if isinstance(e, type) and issubclass(e, StrEnum) and e is not StrEnum for m in e}
    copies = []
    for name, source in program_sources().items():
        if name == "core/statuses.py":
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Tuple | ast.List | ast.Set) and len(node.elts) >= 2 and all(
                    isinstance(e, ast.Constant) and e.value in words for e in node.elts):
                copies.append(f"{name}:{node.lineno}")
    assert copies == []
