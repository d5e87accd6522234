"""`phoihop doctor`: the checks `phoihop up` prints after start, against a running stack."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from cli.common import app_context, console, demo_settings, fail, language, tr
from config.settings import Settings


def print_checks(settings: Settings, wait: float) -> bool:
    """Run the stack's checks, a line each as it completes (✓/✗); whether all hold."""
    from flows.doctor import run_checks

    ok = True
    for check in run_checks(settings, wait):
        console.print(check.line(language()), markup=False, highlight=False, soft_wrap=True)
        ok &= check.ok
    return ok


def doctor(
    port: Annotated[int | None, typer.Option(
        help="Port of the local Prefect server (default: PREFECT_API_URL, else "
             "prefect_port).")] = None,
    wait: Annotated[float, typer.Option(
        min=0, help="Seconds each check may wait for the stack to come up.")] = 0,
    demo: Annotated[bool, typer.Option(
        "--demo", help="Check the stack `phoihop demo` started (its own data dir).")] = False,
) -> None:
    """Check a running stack: scheduler, worker, portal, mail server, database migration.
    Exit 1 when any check fails."""
    from flows.local import client_env

    settings = demo_settings(app_context().settings) if demo else app_context().settings
    if port is None and not os.environ.get("PREFECT_API_URL"):
        port = settings.prefect_port
    os.environ.update(client_env(settings, port))  # before prefect reads its settings
    if not print_checks(settings, wait):
        fail(tr("Có kiểm tra không đạt (xem các dòng ✗ ở trên).",
                "Some checks failed (see the ✗ lines above)."))


def register(app: typer.Typer) -> None:
    app.command()(doctor)
