"""The `phoihop` command. Exit codes: 0 success, 1 invalid input or failed work, 2 usage."""

from __future__ import annotations

import sys

import typer
from sqlalchemy.exc import DBAPIError

from cli import (
    calendar_cmds,
    config_cmds,
    core_cmds,
    demo_cmds,
    doctor_cmds,
    flow_cmds,
    portal_cmds,
    review_cmds,
    store_cmds,
)
from cli.common import Failure, exit_on_failure, plain_usage, tr
from models.integrity import DatabaseDamaged


def database_problems() -> list[str]:
    """The configured database's check (models.integrity.check); a check that cannot
    run is itself a problem."""
    try:
        from config.bootstrap import make_engine
        from config.settings import load_settings
        from models.integrity import check

        engine = make_engine(load_settings().db_url)
        try:
            return check(engine)
        finally:
            engine.dispose()
    except Exception as exc:  # the settings or the driver failed: nothing was checked
        return [f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"]

app = typer.Typer(
    name="phoihop",
    help="phoihop: chương trình phối hợp → nghĩa vụ, nhắc việc, chuyển cấp, sơ kết luân phiên.\n\n"
    "Coordination agreements → obligations, reminders, escalation, rotating reviews.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
core_cmds.register(app)
config_cmds.register(app)
store_cmds.register(app)
demo_cmds.register(app)
doctor_cmds.register(app)
flow_cmds.register(app)
portal_cmds.register(app)
review_cmds.register(app)
calendar_cmds.register(app)
plain_usage(app)


def main() -> None:
    try:
        app()
    except Failure as exc:
        exit_on_failure(exc)
    except KeyboardInterrupt:
        sys.exit(130)
    except DatabaseDamaged as exc:  # an empty or corrupted database file, never replaced
        exit_on_failure(Failure(str(exc)))
    except DBAPIError as exc:  # read-only, full, locked or unreachable database
        reason = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
        damage = database_problems()  # "intact" only when the check says so
        if damage:
            exit_on_failure(Failure(tr(
                f"Cơ sở dữ liệu từ chối ghi/đọc ({reason}); giao dịch đang làm đã hủy; "
                f"kiểm tra cơ sở dữ liệu: {damage[0]}",
                f"The database refused the work ({reason}); the transaction in progress was "
                f"rolled back; database check: {damage[0]}")))
        exit_on_failure(Failure(tr(
            f"Cơ sở dữ liệu từ chối ghi/đọc ({reason}); giao dịch đang làm đã hủy, "
            "dữ liệu đã lưu trước đó còn nguyên (đã kiểm tra).",
            f"The database refused the work ({reason}); the transaction in progress was "
            "rolled back, what was stored before is intact (checked).")))
    except OSError as exc:  # disk full or unwritable files (dossiers, attachments, logs)
        exit_on_failure(Failure(tr(f"Lỗi hệ thống tệp: {exc}", f"File system error: {exc}")))


if __name__ == "__main__":
    main()
