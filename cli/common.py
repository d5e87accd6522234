"""What every command shares: loading files with one-line errors, JSON output, the console."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

from babel.dates import format_date
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text
from typer import Typer
from typer.core import TyperCommand

from config.bootstrap import App, bootstrap
from config.settings import ConfigError, Settings, config_file
from core.agreement import Agreement
from core.parse import load_agreement
from core.replies import Reply, load_replies
from core.yamlnodes import Problem

# Not a terminal (a file, a pipe, a pager) and no COLUMNS given: lines as long as they
# need, never cut at 80 columns.
WIDE = 100_000


def _console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    wide = not stream.isatty() and not os.environ.get("COLUMNS")
    return Console(stderr=stderr, width=WIDE if wide else None, soft_wrap=wide)


console = _console()
err_console = _console(stderr=True)


def inert(cell: RenderableType | None) -> RenderableType:
    """User text as it is written: `[bold]` or `[link=…]` in a title is printed, never
    interpreted as rich markup (no style, no terminal hyperlink)."""
    if cell is None:
        return Text("")
    return Text(cell) if isinstance(cell, str) else cell


class PlainUsage(TyperCommand):
    """Usage lines with the arguments' names as written (`FILE...`, `[FILES]...`), not
    typer's `{files}...` for a required one."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [re.sub(r"^\{(.*)\}(\.\.\.)?$", r"\1\2", piece)
                  for piece in super().collect_usage_pieces(ctx)]
        return [re.sub(r"^(\[?)([a-z][a-z_]*)(\]?(?:\.\.\.)?)$",
                       lambda m: m[1] + m[2].upper() + m[3], piece) for piece in pieces]


def plain_usage(app: Typer) -> None:
    """Every command of `app` (and of its sub-groups) with `PlainUsage`."""
    for info in app.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = PlainUsage
    for group in app.registered_groups:
        if group.typer_instance is not None:
            plain_usage(group.typer_instance)


class FullTable(Table):
    """A table that never cuts a cell with "…" (a long cell folds onto more lines) and
    prints every cell, title and header as plain text."""

    def __init__(self, *headers: Any, title: str | None = None, **kw: Any) -> None:
        kw.setdefault("title_justify", "left")
        super().__init__(*headers, title=Text(title) if title is not None else None, **kw)

    def add_column(self, header: RenderableType = "", *args: Any, overflow: Any = "fold",
                   **kw: Any) -> None:
        super().add_column(inert(header), *args, overflow=overflow, **kw)

    def add_row(self, *cells: RenderableType | None, **kw: Any) -> None:
        super().add_row(*(inert(c) for c in cells), **kw)


class Failure(Exception):
    """Invalid input or failed work: the message is printed, the exit code is 1."""


def fail(message: str) -> NoReturn:
    raise Failure(message)


_app: App | None = None


def app_context() -> App:
    global _app
    if _app is None:
        try:
            _app = bootstrap()
        except ConfigError as exc:
            fail(str(exc))
        pin_config_file()
    return _app


def pin_config_file() -> None:
    """The TOML file found through the data dir, named in PHOIHOP_CONFIG for the processes
    started from here (Prefect workers, portal workers), which may get another
    PHOIHOP_DATA_DIR (the demo's `<data dir>/demo`) and would miss it."""
    path = config_file()
    if path is not None and not os.environ.get("PHOIHOP_CONFIG"):
        os.environ["PHOIHOP_CONFIG"] = str(path)


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        fail(tr(f"{path}: không có tệp này", f"{path}: file not found"))
    except IsADirectoryError:
        fail(tr(f"{path}: là thư mục, không phải tệp chương trình phối hợp",
                f"{path}: is a directory, not an agreement file"))
    except OSError as exc:
        fail(tr(f"{path}: không đọc được ({exc.strerror})",
                f"{path}: cannot read ({exc.strerror})"))


def agreement_from(path: Path) -> Agreement:
    agreement, problems = load_agreement(read_bytes(path), str(path), app_context().parse_options)
    if problems or agreement is None:
        fail(problem_lines(problems))
    return agreement


def replies_from(path: Path | None, agreement: Agreement, known: set[str]) -> list[Reply]:
    if path is None:
        return []
    replies, problems = load_replies(read_bytes(path), str(path), agreement.timezone, known)
    if problems:
        fail(problem_lines(problems))
    return replies


def print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def language() -> str:
    """The setting `language`; before the settings load (or when they cannot), what
    PHOIHOP_LANGUAGE says, so that even a configuration error is in the user's language."""
    if _app is not None:
        return _app.settings.language
    try:
        return app_context().settings.language
    except Failure:
        return "en" if os.environ.get("PHOIHOP_LANGUAGE") == "en" else "vi"


def tr(vi: str, en: str) -> str:
    """Vietnamese first; English when the setting says so."""
    return en if language() == "en" else vi


def problem_lines(problems: Iterable[Problem]) -> str:
    """Problems of files, `FILE:LINE:COLUMN: message` a line, in the setting's language."""
    lang = language()
    return "\n".join(p.render(lang) for p in problems)


def show_date(d: date) -> str:
    return format_date(d, "dd/MM/yyyy", locale=language())


def exit_on_failure(exc: Failure) -> NoReturn:
    err_console.print(str(exc), markup=False, highlight=False, soft_wrap=True)
    sys.exit(1)


def demo_settings(base: Settings) -> Settings:
    """The demo's own data dir and database, beside the real ones."""
    return base.model_copy(update={"data_dir": base.data_dir / "demo", "database_url": None})
