"""A delivery round: what is due handed to the mail server and channels, and what a run
says of it (the outbox's own retries are notifications.send's)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from models.outbox import anything_due, last_lease, waiting_count
from notifications.send import SendReport, send_pending
from services.ports import Shell

LEASE_MARGIN = 1.0  # seconds past the last lease before its rows are claimed again
POLL_SECONDS = 2.0  # how often a waiting sender looks at the outbox again
# Prefect starts at most one `deliver` run per this many seconds for replies and decisions
# (the first event starts it, the others in the window are folded into it: flows/local.py),
# so that run watches the outbox until that long after its event (docs/flows.md)
EVENT_WINDOW_SECONDS = 30


def deliver(shell: Shell, at: datetime, worker: str) -> SendReport:
    return send_pending(shell, at, worker)


def deliver_after_leases(shell: Shell, worker: str,
                         sleep: Callable[[float], None] = time.sleep) -> SendReport:
    """Deliver what is due, then wait out the leases of rows other senders claimed and
    deliver those too: rows claimed by a sender that was killed (kill -9 of `phoihop
    up`) are sent within one lease (`lease_seconds`, 2 minutes by default) of this
    start, not at the next ladder day. A sender that is alive settles its rows first
    (sent or retry_wait) and the wait ends there. Waits at most one lease and a margin."""
    report = deliver(shell, shell.now(), worker)
    limit = shell.now() + timedelta(seconds=shell.policy.lease_seconds + 2 * LEASE_MARGIN)
    while True:
        with shell.session() as s:
            last = last_lease(s)
        now = shell.now()
        if last is None or now >= limit:
            return report
        last = last if last.tzinfo else last.replace(tzinfo=UTC)
        if last + timedelta(seconds=LEASE_MARGIN) > now:
            sleep(min(POLL_SECONDS, (last - now).total_seconds() + LEASE_MARGIN))
            continue
        add(report, deliver(shell, shell.now(), worker))


def add(report: SendReport, more: SendReport) -> None:
    """`more`'s counts and errors added to `report`."""
    for name in ("sent", "retried", "dead", "unknown", "messages"):
        setattr(report, name, getattr(report, name) + getattr(more, name))
    report.errors += more.errors


def deliver_until(shell: Shell, worker: str, until: datetime,
                  sleep: Callable[[float], None] = time.sleep) -> SendReport:
    """Deliver what is due now, then watch the outbox until `until`: every POLL_SECONDS one
    read (nothing written while idle), a round whenever something is due. The last look
    starts at or after `until`, so every row committed before `until` is delivered by this
    run (or by another sender holding it)."""
    looked = shell.now()
    report = deliver(shell, looked, worker)
    while looked < until:
        sleep(min(POLL_SECONDS, (until - looked).total_seconds()))
        looked = shell.now()  # the read below starts after this instant
        with shell.session() as s:
            due = anything_due(s, looked)
        if due:
            add(report, deliver(shell, shell.now(), worker))
    return report


def waiting(shell: Shell) -> int:
    """Outbox rows not delivered yet and not given up (pending, retry_wait, claimed,
    unknown): what a later run will still try."""
    with shell.session() as s:
        return waiting_count(s)


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
