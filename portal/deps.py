"""What the portal's routes are given, as FastAPI dependencies.

`portal.app.create_app` puts one `Portal` on the FastAPI app's state when it assembles
it; a route asks for it (`Ctx`), for the App (`AppDep`) or for the language asked
(`Lang`) in its signature. The dependencies read the request only: they add nothing to
the OpenAPI document. They are `async def` so that none costs a trip to a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import urlparse

from fastapi import Depends, Request

from config.bootstrap import App
from portal.i18n import TEXT


@dataclass(frozen=True)
class Portal:
    """One portal's collaborators (`create_app` makes it once)."""

    app: App
    attachments: Path  # where replies' attachments are stored (`portal.uploads`)
    # PostgreSQL: a request's database work is awaited in the event loop
    # (`App.run_session`), so other requests go on while it waits for the server.
    # SQLite: a POST's transaction runs in the loop, one at a time (its writers take
    # turns anyway); a GET's read in a worker thread.
    awaited: bool
    origin: str  # the host[:port] of setting portal_url

    @classmethod
    def of(cls, app: App, attachments: Path) -> Portal:
        return cls(app, attachments, awaited=not app.settings.db_url.startswith("sqlite"),
                   origin=urlparse(app.settings.portal_url).netloc)

    def cross_site(self, request: Request) -> bool:
        """A POST from a foreign Origin, refused outright. Under Referrer-Policy:
        no-referrer browsers send "Origin: null" for our own forms, so "null" rests on
        the HMAC form token."""
        sent = request.headers.get("origin")
        if not sent or sent == "null":
            return False
        return urlparse(sent).netloc != self.origin


async def get_portal(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


async def get_app(request: Request) -> App:
    portal: Portal = request.app.state.portal
    return portal.app


async def language(request: Request) -> str | None:
    """?lang=vi|en, remembered in a cookie; None means the agreement's language."""
    lang = request.query_params.get("lang") or request.cookies.get("lang")
    return lang if lang in TEXT else None


Ctx = Annotated[Portal, Depends(get_portal)]
AppDep = Annotated[App, Depends(get_app)]
Lang = Annotated[str | None, Depends(language)]
