"""The portal's read-only dossier page: `GET /dossier/{token}`.

The token is a capability link of purpose "dossier" bound to an agreement and a cycle
(issued when the dossier is assembled, shared with every party). The page is rendered
from the dossier stored in the Review row, so it shows exactly the stored figures. GET
only, nothing written; a bad, expired or revoked link, or a cycle with no stored dossier
yet, gets the portal's one refusal page. Mount with
`api.include_router(dossier_router(app))`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from sqlmodel import Session

from config.bootstrap import App
from models.links import LinkRefused, resolve
from models.tables import Agreement
from portal.i18n import TEXT
from reviews import chart, html
from reviews.load import review_row

PORTAL_TEMPLATES = Path(__file__).resolve().parent.parent / "portal" / "templates"


def stored_dossier(s: Session, token: str, now: datetime) -> dict[str, Any]:
    """The stored dossier a live dossier link names, or LinkRefused (reads only)."""
    link = resolve(s, token, now, ("dossier",))
    if link.agreement_id is None or link.cycle is None:
        raise LinkRefused
    review = review_row(s, link.agreement_id, link.cycle)
    if review is None or not review.dossier or s.get(Agreement, link.agreement_id) is None:
        raise LinkRefused
    return dict(review.dossier)


def dossier_router(app: App) -> APIRouter:
    router = APIRouter()
    templates = Jinja2Templates(directory=PORTAL_TEMPLATES)

    @router.get("/dossier/{token}", response_class=HTMLResponse)
    def show_dossier(request: Request, token: str) -> Response:
        asked = request.query_params.get("lang") or request.cookies.get("lang")
        try:
            with app.session() as s:
                data = stored_dossier(s, token, app.now())
        except LinkRefused:
            lang = asked if asked in TEXT else "vi"
            return templates.TemplateResponse(
                request, "refused.html", {"lang": lang, "t": TEXT[lang],
                                          "heading": TEXT[lang]["refused"],
                                          "message": TEXT[lang]["refused_text"]},
                status_code=404)
        page = html.render(data, chart.charts(data))
        return HTMLResponse(page, headers={"Content-Security-Policy": html.CSP})

    return router
