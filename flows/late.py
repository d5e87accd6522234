"""Scheduled runs that start far past their time (a worker paused for days, then resumed)
are skipped and say so: the daily sweep does their work once, by the catch-up rule, instead
of a burst of stale runs each sending what was due days ago."""

from __future__ import annotations

from datetime import datetime, timedelta

from prefect import get_run_logger
from prefect.runtime import flow_run

from core.calendar import LOCAL_ZONE, zone

LATE_AFTER = timedelta(hours=20)


def too_late(kind: str, agreement: str, now: datetime) -> bool:
    """Whether this run, starting at `now` (the App's clock), is far past its scheduled
    time (a worker paused for days, then resumed); if so, say so in the log. Runs started
    by hand are never late."""
    scheduled = flow_run.scheduled_start_time
    if scheduled is None:
        return False
    late = now - scheduled
    if late <= LATE_AFTER:
        return False
    local = scheduled.astimezone(zone(LOCAL_ZONE))
    get_run_logger().warning(
        "Bỏ qua lần chạy %s của %s lên lịch lúc %s: trễ %.1f giờ; lần quét hằng ngày sẽ làm "
        "bù một lần / skipped: %.1f hours late, the daily sweep catches up", kind, agreement,
        f"{local:%H:%M %d/%m/%Y}", late.total_seconds() / 3600, late.total_seconds() / 3600)
    return True
