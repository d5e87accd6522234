"""Prefect flows of the ladder: `ladder` (one agreement, one scheduled time) and `sweep`."""

from __future__ import annotations

from datetime import datetime
from typing import cast
from uuid import UUID

from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.runtime import flow_run
from prefect.tasks import exponential_backoff

from config.bootstrap import App, bootstrap
from core.calendar import parse_instant, zone
from flows import work
from flows.late import too_late
from flows.review import describe, publish_dossier, run_steps
from flows.view import (
    artifact_key,
    summary_markdown,
    summary_sentence,
    sweep_rows,
    table_rows,
)
from models.ladder_state import FiredItem
from notifications.outbox import SendReport
from reviews import cycle

PUBLISH_AT_MOST = 50  # agreements a sweep publishes artifacts for (each costs ~0.15 s);
# every agreement's activity is in the sweep's own table, ladder runs publish their own
BACKOFF = exponential_backoff(backoff_factor=5)  # transient database errors only: sending
# has its own retries in the outbox, never stacked on these


def _now(app: App, at: str | None) -> datetime:
    return parse_instant(at, "Asia/Ho_Chi_Minh") if at else app.now()


def _day(app: App, at: str) -> str:
    return f"{_now(app, at).astimezone(zone('Asia/Ho_Chi_Minh')):%d/%m/%Y}"


@task(retries=3, retry_delay_seconds=BACKOFF, retry_jitter_factor=0.5)
def fire_steps(at: str, agreement: str | None) -> list[FiredItem]:
    """Record the ladder steps due at `at` and their messages, once."""
    app = bootstrap()
    return work.fire_steps(app, _now(app, at), agreement, flow_run.get_id())


@task(retries=3, retry_delay_seconds=BACKOFF, retry_jitter_factor=0.5)
def deliver() -> SendReport:
    """Hand due messages to the mail server and channels (the outbox retries failures).

    On the wall clock, whatever time the run fires for: leases and retry times must mean
    the same to every sender (a run started late must not claim with a lease that another
    sender already sees as expired)."""
    app = bootstrap()
    return work.deliver(app, app.now(), worker=f"flow-{flow_run.get_id()}")


@task
def publish(code: str, at: str) -> None:
    """The coordinators' view of one agreement: a table and a summary, keyed per agreement."""
    publish_view(bootstrap(), code, at)


def publish_view(app: App, code: str, at: str) -> None:
    now = _now(app, at)
    title, rows = work.view_rows(app, code, now)
    today = now.astimezone(zone("Asia/Ho_Chi_Minh")).date()
    create_table_artifact(table_rows(rows), key=artifact_key(code, "obligations"),
                          description=f"{code}: nghĩa vụ / obligations, {today:%d/%m/%Y}")
    create_markdown_artifact(summary_markdown(code, title, today, rows),
                             key=artifact_key(code, "summary"),
                             description=f"{code}: tóm tắt / summary, {today:%d/%m/%Y}")


@flow(name="ladder", log_prints=False)
def ladder(agreement: str, at: str | None = None) -> int:
    """Fire one agreement's due ladder steps at `at`, send the messages, show the result."""
    logger = get_run_logger()
    if too_late("nhắc việc", agreement):
        return 0
    app = bootstrap()
    when = _now(app, at).isoformat()
    items = fire_steps(when, agreement)
    report = deliver()
    publish(agreement, when)
    logger.info(summary_sentence([i.action for i in items], agreement))
    logger.info("Thư đã gửi: %d, chờ gửi lại: %d, không gửi được: %d", report.sent,
                report.retried, report.dead)
    return len(items)


@flow(name="sweep")
def sweep(at: str | None = None, send: bool = True) -> int:
    """Catch up every agreement: fire whatever is due (missed runs included), do review
    steps whose time has passed, send, show.

    One batch for all agreements (a task per agreement would cost Prefect ~50 ms each).
    The sweep's table artifact lists every agreement it did something for; per-agreement
    artifacts are published for PUBLISH_AT_MOST of them, the most activity first.
    """
    logger = get_run_logger()
    app = bootstrap()
    when = _now(app, at).isoformat()
    progress = cast(UUID, create_progress_artifact(
        0.0, key="sweep-progress", description="Tiến độ quét / sweep progress"))
    items = fire_steps(when, None)
    update_progress_artifact(progress, 40.0)
    by_agreement: dict[str, list[str]] = {}
    for item in items:
        by_agreement.setdefault(item.agreement_code, []).append(item.action)
    for code, actions in sorted(by_agreement.items()):
        logger.info(summary_sentence(actions, code))
    with app.session() as s:
        reviews_due = cycle.due_codes(s, app, datetime.fromisoformat(when))
    for code in reviews_due:  # review milestones missed while nothing ran
        done = run_steps(code, when)
        for step in done:
            if step.assembled is not None:
                publish_dossier(step)
        logger.info(describe(code, done))
    update_progress_artifact(progress, 60.0)
    report = deliver() if send else SendReport()
    update_progress_artifact(progress, 80.0)
    create_table_artifact(sweep_rows(by_agreement) or [{"Chương trình / Agreement": "—"}],
                          key="sweep-activity",
                          description=f"Quét {_day(app, when)}: các chương trình có bước "
                                      f"nhắc việc / agreements with ladder steps")
    active = work.active_codes(app)
    busiest = sorted(by_agreement, key=lambda c: (-len(by_agreement[c]), c))
    for code in (busiest + [c for c in active if c not in by_agreement])[:PUBLISH_AT_MOST]:
        publish_view(app, code, when)  # the most activity first, then the others
    update_progress_artifact(progress, 100.0)
    logger.info("Quét %d chương trình: %d bước, %d thư đã gửi", len(active), len(items),
                report.sent)
    return len(items)
