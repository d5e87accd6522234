"""The `phoihop` command. Exit codes: 0 success, 1 invalid input or failed work, 2 usage."""

from __future__ import annotations

import sys

import typer
from sqlalchemy.exc import DBAPIError

from cli import (
    config_cmds,
    core_cmds,
    demo_cmds,
    flow_cmds,
    portal_cmds,
    review_cmds,
    store_cmds,
)
from cli.common import Failure, exit_on_failure, plain_usage, tr

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
flow_cmds.register(app)
portal_cmds.register(app)
review_cmds.register(app)
plain_usage(app)


def main() -> None:
    try:
        app()
    except Failure as exc:
        exit_on_failure(exc)
    except KeyboardInterrupt:
        sys.exit(130)
    except DBAPIError as exc:  # read-only, full, locked or unreachable database
        reason = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
        exit_on_failure(Failure(tr(
            f"Cơ sở dữ liệu từ chối ghi/đọc ({reason}); giao dịch đang làm đã hủy, "
            "dữ liệu đã lưu trước đó còn nguyên.",
            f"The database refused the work ({reason}); the transaction in progress was "
            "rolled back, what was stored before is intact.")))
    except OSError as exc:  # disk full or unwritable files (dossiers, attachments, logs)
        exit_on_failure(Failure(tr(f"Lỗi hệ thống tệp: {exc}", f"File system error: {exc}")))


if __name__ == "__main__":
    main()
