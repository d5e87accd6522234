"""The `review` flow: one agreement's review steps due at a time, and their dossier.

`sync` schedules a run of it at each review milestone (host notice 60 days before the
meeting, draft 7 days before, final on the meeting date, carry-over after it); the daily
`sweep` catches up any that were missed. The steps themselves are `services.reviews`'s; this
flow sends their messages and publishes each assembled dossier to the Prefect UI: a
markdown artifact keyed per agreement and cycle (its versions are the dossier's history)
and table artifacts beside it.
"""

from __future__ import annotations

from functools import partial

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run
from prefect.states import State
from prefect.tasks import exponential_backoff

from config.bootstrap import bootstrap
from core.calendar import LOCAL_ZONE, instant_at, parse_instant
from core.statuses import ReviewStage
from flows.late import too_late
from flows.report import outcome, show_failures
from reviews.markdown import dossier_key, dossier_markdown, dossier_tables, table_key
from reviews.wording import Words
from services import delivery, isolation
from services import reviews as review_cycle

BACKOFF = exponential_backoff(backoff_factor=5)


@task(retries=3, retry_delay_seconds=BACKOFF, retry_jitter_factor=0.5)
def run_steps(code: str, at: str) -> tuple[list[review_cycle.StepDone], isolation.Failure | None]:
    """Do the agreement's review steps due at `at`, each once (the stored stage says).

    A failure of the agreement's own is returned (retrying would fail the same way);
    a database error is raised, for the task's retries."""
    app = bootstrap()
    done, failure = isolation.isolated(code, "review", partial(
        review_cycle.run_due, app, code, parse_instant(at, LOCAL_ZONE)))
    return done or [], failure


@task
def publish_dossier(done: review_cycle.StepDone) -> None:
    """The dossier in the Prefect UI: markdown keyed per agreement and cycle, and tables."""
    assert done.assembled is not None
    content, code = done.assembled.content, done.assembled.code
    w = Words(content["language"], content["timezone"])
    kind = w["title_final"] if content["cycle"]["final"] else w["title_review"]
    title = f"{code}: {kind} · {w['cycle']} {done.cycle}" + (
        f" ({w['draft']})" if content["stage"] == ReviewStage.DRAFT else "")
    create_markdown_artifact(dossier_markdown(content), key=dossier_key(code, done.cycle),
                             description=title)
    for name, rows in dossier_tables(content).items():
        create_table_artifact(rows, key=table_key(code, done.cycle, name),
                              description=f"{title}: {name}")


def describe(code: str, done: list[review_cycle.StepDone]) -> str:
    """What the run did, in a sentence a coordinator reads in the run's log."""
    if not done:
        return f"Không có bước đánh giá nào đến hạn cho {code}"
    words = {"host_notice": "gửi thông báo đăng cai", "draft": "lập dự thảo hồ sơ",
             "final": "lập hồ sơ chính thức", "close": "khép kỳ và chuyển việc còn mở"}
    parts = [f"{words[d.step]} kỳ {d.cycle}" + (f" ({d.messages} thư)" if d.messages else "")
             for d in done]
    return f"Đã {', '.join(parts)} cho {code}"


@flow(name="review")
def review(agreement: str, at: str | None = None) -> list[str] | State:
    """Run the agreement's review steps due at `at`, send their messages, show the dossier.

    A failure of the steps is recorded and reported to the convener's coordinators
    (`flows.report.show_failures`); the run ends Failed then, or when every message it
    tried to send failed (`flows.report.outcome`)."""

    logger = get_run_logger()
    app = bootstrap()
    if too_late("đánh giá", agreement, app.now()):
        return []
    now = instant_at(at, app.now)
    done, failure = run_steps(agreement, now.isoformat())
    failures = [failure] if failure else []
    for step in done or []:
        if step.assembled is not None:
            publish_dossier(step)
    show_failures(app, failures)
    report = delivery.deliver(app, app.now(), worker=f"review-{flow_run.get_id()}")
    sentence = describe(agreement, done or [])
    logger.info(sentence)
    state = outcome(app, sentence, report, failures)
    return [f"{d.cycle}:{d.step}" for d in done or []] if state.is_completed() else state
