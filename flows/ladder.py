"""Prefect flows of the ladder: `ladder` (one agreement, one scheduled time) and `sweep`."""

from __future__ import annotations

from datetime import datetime
from functools import partial
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
from prefect.states import State
from prefect.tasks import exponential_backoff

from config.bootstrap import App, bootstrap
from core.calendar import LOCAL_ZONE, instant_at, zone
from core.text import artifact_key
from flows.late import too_late
from flows.report import outcome, show_failures
from flows.review import describe, publish_dossier
from flows.view import (
    summary_markdown,
    summary_sentence,
    sweep_rows,
    table_rows,
)
from models.ladder_state import FiredItem
from notifications.send import SendReport
from services import delivery, isolation, views
from services import ladder as ladder_steps
from services import reviews as review_cycle

PUBLISH_AT_MOST = 50  # agreements a sweep publishes artifacts for (each costs ~0.15 s);
# every agreement's activity is in the sweep's own table, ladder runs publish their own
BACKOFF = exponential_backoff(backoff_factor=5)  # transient database errors only: sending
# has its own retries in the outbox, never stacked on these


def _now(app: App, at: str | None) -> datetime:
    return instant_at(at, app.now)


def _day(app: App, at: str) -> str:
    return f"{_now(app, at).astimezone(zone(LOCAL_ZONE)):%d/%m/%Y}"


@task(retries=3, retry_delay_seconds=BACKOFF, retry_jitter_factor=0.5)
def fire_steps(at: str, agreement: str | None) -> tuple[list[FiredItem], list[isolation.Failure]]:
    """Record the ladder steps due at `at` and their messages, once; an agreement whose
    steps cannot be fired is returned as a failure (the others' are recorded)."""
    app = bootstrap()
    now, run = _now(app, at), flow_run.get_id()
    if agreement is None:
        return ladder_steps.fire_steps_each(app, now, run)
    items, failure = isolation.isolated(agreement, "ladder",
                                   lambda: ladder_steps.fire_steps(app, now, agreement, run))
    return items or [], [failure] if failure else []


@task(retries=3, retry_delay_seconds=BACKOFF, retry_jitter_factor=0.5)
def review_steps(codes: list[str], at: str
                 ) -> tuple[dict[str, list[review_cycle.StepDone]], list[isolation.Failure]]:
    """Each agreement's review steps due at `at`; one that fails is returned as a failure."""
    app = bootstrap()
    return review_cycle.review_each(app, codes, _now(app, at))


@task(retries=3, retry_delay_seconds=BACKOFF, retry_jitter_factor=0.5)
def deliver(wait_leases: bool = False) -> SendReport:
    """Hand due messages to the mail server and channels (the outbox retries failures).

    On the wall clock, whatever time the run fires for: leases and retry times must mean
    the same to every sender (a run started late must not claim with a lease that another
    sender already sees as expired). `wait_leases` (the sweep, the start-up one
    included): then wait out rows other senders claimed and deliver them too, so rows a
    killed sender held go out within a lease, not at the next ladder day."""
    app = bootstrap()
    worker = f"flow-{flow_run.get_id()}"
    if wait_leases:
        return delivery.deliver_after_leases(app, worker)
    return delivery.deliver(app, app.now(), worker=worker)


@task
def publish(code: str, at: str) -> None:
    """The coordinators' view of one agreement: a table and a summary, keyed per agreement."""
    publish_view(bootstrap(), code, at)


def publish_view(app: App, code: str, at: str) -> None:
    now = _now(app, at)
    title, rows = views.view_rows(app, code, now)
    today = now.astimezone(zone(LOCAL_ZONE)).date()
    create_table_artifact(table_rows(rows), key=artifact_key(code, "obligations"),
                          description=f"{code}: nghĩa vụ / obligations, {today:%d/%m/%Y}")
    create_markdown_artifact(summary_markdown(code, title, today, rows),
                             key=artifact_key(code, "summary"),
                             description=f"{code}: tóm tắt / summary, {today:%d/%m/%Y}")


@flow(name="ladder", log_prints=False)
def ladder(agreement: str, at: str | None = None) -> int | State:
    """Fire one agreement's due ladder steps at `at`, send the messages, show the result.

    Its final state says what was delivered (`outcome`)."""
    logger = get_run_logger()
    app = bootstrap()
    if too_late("nhắc việc", agreement, app.now()):
        return 0
    when = _now(app, at).isoformat()
    items, failures = fire_steps(when, agreement)
    show_failures(app, failures)
    report = deliver()
    if not failures:
        publish(agreement, when)
    sentence = summary_sentence([i.action for i in items], agreement)
    logger.info(sentence)
    state = outcome(app, sentence, report, failures)
    return len(items) if state.is_completed() else state


@flow(name="sweep")
def sweep(at: str | None = None, send: bool = True) -> int | State:
    """Catch up every agreement: fire whatever is due (missed runs included), do review
    steps whose time has passed, send, show.

    One batch for all agreements (a task per agreement would cost Prefect ~50 ms each).
    An agreement whose ladder, review or view fails is set aside, recorded and reported
    (`show_failures`): the others' work goes on. The sweep's table artifact lists every
    agreement it did something for; per-agreement artifacts are published for
    PUBLISH_AT_MOST of them, the most activity first. Its final state says what was
    delivered (`outcome`).
    """
    logger = get_run_logger()
    app = bootstrap()
    when = _now(app, at).isoformat()
    progress = cast(UUID, create_progress_artifact(
        0.0, key="sweep-progress", description="Tiến độ quét / sweep progress"))
    items, failures = fire_steps(when, None)
    update_progress_artifact(progress, 40.0)
    by_agreement: dict[str, list[str]] = {}
    for item in items:
        by_agreement.setdefault(item.agreement_code, []).append(item.action)
    for code, actions in sorted(by_agreement.items()):
        logger.info(summary_sentence(actions, code))
    with app.session() as s:
        reviews_due = review_cycle.due_codes(s, app, datetime.fromisoformat(when))
    if reviews_due:  # review milestones missed while nothing ran
        reviewed, review_failures = review_steps(reviews_due, when)
        failures += review_failures
        for code, done in reviewed.items():
            for step in done:
                if step.assembled is not None:
                    publish_dossier(step)
            logger.info(describe(code, done))
    update_progress_artifact(progress, 60.0)
    failed = {f.code for f in failures}
    active = views.active_codes(app)
    busiest = sorted(by_agreement, key=lambda c: (-len(by_agreement[c]), c))
    for code in (busiest + [c for c in active if c not in by_agreement])[:PUBLISH_AT_MOST]:
        if code in failed:
            continue
        _, failure = isolation.isolated(code, "view", partial(publish_view, app, code, when))
        failures += [failure] if failure else []
    show_failures(app, failures)  # before sending: the coordinators' messages go now
    report = deliver(wait_leases=True) if send else SendReport()
    update_progress_artifact(progress, 80.0)
    create_table_artifact(sweep_rows(by_agreement) or [{"Chương trình / Agreement": "—"}],
                          key="sweep-activity",
                          description=f"Quét {_day(app, when)}: các chương trình có bước "
                                      f"nhắc việc / agreements with ladder steps")
    update_progress_artifact(progress, 100.0)
    said = f"Quét {len(active)} chương trình: {len(items)} bước / swept {len(active)} " \
           f"agreements: {len(items)} steps"
    logger.info(said)
    state = outcome(app, said, report, failures)
    return len(items) if state.is_completed() else state
