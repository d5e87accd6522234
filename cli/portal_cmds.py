"""`phoihop portal`: serve the partner reply portal."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from cli.common import console, tr
from cli.store_cmds import store


def portal(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port (default: setting portal_port).")
                    ] = None,
) -> None:
    """Serve the reply portal (links in messages point here: setting portal_url)."""
    import uvicorn

    from portal.app import create_app

    app = store()
    listen = port or app.settings.portal_port
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    console.print(tr(f"Cổng trả lời: http://{host}:{listen} (liên kết trong thư: "
                     f"{app.settings.portal_url})",
                     f"Reply portal: http://{host}:{listen} (links in messages: "
                     f"{app.settings.portal_url})"), markup=False)
    # uvicorn's own access log would print link tokens: the portal logs masked paths instead
    uvicorn.run(create_app(app), host=host, port=listen, access_log=False, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command()(portal)
