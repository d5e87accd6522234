"""`phoihop portal`: serve the partner reply portal."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import console, fail, tr
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
    _port_free(host, listen)
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


def _port_free(host: str, port: int) -> None:
    """A port already taken is a one-line error (exit 1), before uvicorn says it with its
    own exit code 3."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        fail(tr(f"--host {host}: không phải địa chỉ dùng được ({exc.strerror})",
                f"--host {host}: not a usable address ({exc.strerror})"))
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            fail(tr(f"Không mở được cổng {host}:{port} ({exc.strerror}); cổng đang được dùng? "
                    "Chọn cổng khác bằng --port hoặc thiết lập portal_port.",
                    f"Cannot listen on {host}:{port} ({exc.strerror}); is the port in use? "
                    "Choose another with --port or the setting portal_port."))


def _log_setup() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # each worker process migrates on start (`store()`): alembic's INFO lines are noise
    logging.getLogger("alembic").setLevel(logging.WARNING)


def register(app: typer.Typer) -> None:
    app.command()(portal)
