"""The partner portal: answer a reply link in a browser, no account needed.

GET shows the obligation and a form and never changes anything (mail scanners open
links). POST records a reply. Every bad link gets the same refusal page and status, so
unknown, tampered, expired and revoked links cannot be told apart. Tokens never reach a
log line: the access log is ours and masks them.

`create_app` only assembles: the guard (`portal.middleware`), the routes
(`portal.routes.reply`, `.dossier`, `.decisions`, `.calendar`) and what they are given
(`portal.deps.Portal`, on the app's state).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from config.bootstrap import App
from notifications import events
from portal import uploads
from portal.deps import Portal
from portal.middleware import Guard, limiters
from portal.openapi import RESPONSES
from portal.routes import calendar, decisions, dossier, home, reply

HERE = Path(__file__).resolve().parent


def create_app(app: App, *, monotonic: Callable[[], float] = time.monotonic,
               shared_limits: Path | None = None) -> FastAPI:
    """The portal. `shared_limits`: a folder where the rate limits live in files shared
    by several worker processes (`portal.ratelimit`); without it they are this process's."""
    api = FastAPI(title="phoihop portal", docs_url=None, redoc_url=None, responses=RESPONSES)
    api.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    events.warm()
    api.state.portal = Portal.of(app, uploads.folder_of(app.settings.data_dir))
    per_link, per_address = limiters(app.settings, monotonic, shared_limits)
    api.add_middleware(Guard, per_link=per_link, per_address=per_address)
    api.include_router(reply.router)
    api.include_router(dossier.router)
    api.include_router(decisions.router)
    api.include_router(calendar.router)
    api.include_router(home.router)
    return api
