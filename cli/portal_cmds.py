"""`phoihop portal`: serve the partner reply portal."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import console, tr
from cli.store_cmds import store

LIMITS = "PHOIHOP_PORTAL_SHARED_LIMITS"  # set for worker processes: their shared limits


def portal(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port (default: setting portal_port).")
                    ] = None,
    workers: Annotated[int, typer.Option(
        min=1, help="Worker processes (rate limits shared between them).")] = 1,
) -> None:
    """Serve the reply portal (links in messages point here: setting portal_url)."""
    import uvicorn

    from portal.app import create_app
    from portal.server import PROTOCOL  # slow clients cut off (docs/portal.md)

    app = store()
    listen = port or app.settings.portal_port
    _log_setup()
    console.print(tr(f"Cổng trả lời: http://{host}:{listen} (liên kết trong thư: "
                     f"{app.settings.portal_url})",
                     f"Reply portal: http://{host}:{listen} (links in messages: "
                     f"{app.settings.portal_url})"), markup=False)
    # uvicorn's own access log would print link tokens: the portal logs masked paths instead
    if workers == 1:
        uvicorn.run(create_app(app), host=host, port=listen, access_log=False,
                    log_level="warning", http=PROTOCOL)
        return
    # Each worker builds its app (`worker_app`); their rate limits live in files of one
    # folder in memory, so N workers still allow a link 60 requests a minute, not N × 60.
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(prefix="phoihop-limits-",
                                     dir=shm if shm.is_dir() else None) as limits:
        os.environ[LIMITS] = limits
        uvicorn.run("cli.portal_cmds:worker_app", factory=True, workers=workers, host=host,
                    port=listen, access_log=False, log_level="warning", http=PROTOCOL)


def worker_app() -> Any:
    """The app of one worker process of `phoihop portal --workers N`."""
    from portal.app import create_app

    _log_setup()
    return create_app(store(), shared_limits=Path(os.environ[LIMITS]))


def _log_setup() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")


def register(app: typer.Typer) -> None:
    app.command()(portal)
