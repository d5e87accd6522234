"""What every command shares: loading files with one-line errors, JSON output, the console."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import NoReturn

from babel.dates import format_date
from rich.console import Console

from config.bootstrap import App, bootstrap
from config.settings import ConfigError
from core.agreement import Agreement
from core.parse import load_agreement
from core.replies import Reply, load_replies

console = Console()
err_console = Console(stderr=True)


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
    return _app


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        fail(f"{path}: file not found")
    except IsADirectoryError:
        fail(f"{path}: is a directory, not an agreement file")
    except OSError as exc:
        fail(f"{path}: cannot read ({exc.strerror})")


def agreement_from(path: Path) -> Agreement:
    agreement, problems = load_agreement(read_bytes(path), str(path), app_context().parse_options)
    if problems or agreement is None:
        fail("\n".join(str(p) for p in problems))
    return agreement


def replies_from(path: Path | None, agreement: Agreement, known: set[str]) -> list[Reply]:
    if path is None:
        return []
    replies, problems = load_replies(read_bytes(path), str(path), agreement.timezone, known)
    if problems:
        fail("\n".join(str(p) for p in problems))
    return replies


def print_json(data: object) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def language() -> str:
    return app_context().settings.language


def tr(vi: str, en: str) -> str:
    """Vietnamese first; English when the setting says so."""
    return en if language() == "en" else vi


def show_date(d: date) -> str:
    return format_date(d, "dd/MM/yyyy", locale=language())


def exit_on_failure(exc: Failure) -> NoReturn:
    err_console.print(str(exc), markup=False, highlight=False, soft_wrap=True)
    sys.exit(1)
