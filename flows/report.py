"""How a run tells what happened: failed agreements said out loud, and the final state."""

from __future__ import annotations

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.states import Completed, Failed, State

from config.bootstrap import App
from flows.view import fenced
from notifications.send import SendReport
from services import delivery, isolation


def show_failures(app: App, failures: list[isolation.Failure]) -> None:
    """Failed agreements, said out loud: an error line each in the run's log, an artifact
    in the Prefect UI, and a message to each one's convener coordinators (outbox)."""
    if not failures:
        return
    logger = get_run_logger()
    for f in failures:
        logger.error("Lỗi, các chương trình khác vẫn tiếp tục / failed, the others went on: %s",
                     f.line())
    isolation.report_failures(app, failures, app.now())
    create_markdown_artifact(
        "# Chương trình gặp lỗi / Agreements that failed\n\n"
        "Các chương trình khác vẫn được xử lý; lần chạy sau sẽ thử lại. / The other "
        "agreements were processed; the next run tries again.\n\n"
        + fenced("\n".join(f.line() for f in failures)),
        key="failures", description=f"{len(failures)} chương trình lỗi / agreements failed")


def outcome(app: App, done: str, report: SendReport,
            failures: list[isolation.Failure]) -> State:
    """The run's final state, as honest as its log: Failed when an agreement's work
    failed or when every message it tried to send failed (docs/flows.md)."""
    line = delivery.delivery_line(report, delivery.waiting(app))
    get_run_logger().info(line)
    if failures:
        return Failed(message=f"{done}; {len(failures)} chương trình lỗi / agreements failed: "
                              + "; ".join(f.line() for f in failures[:5]) + f"; {line}")
    if delivery.nothing_delivered(report):
        return Failed(message=f"{done}; không gửi được thư nào / nothing delivered; {line}")
    return Completed(message=f"{done}; {line}")
