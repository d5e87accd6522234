"""The read-only dossier page: `GET /dossier/{token}`.

The token is a capability link of purpose "dossier" bound to an agreement and a cycle
(issued when the dossier is assembled, shared with every party). The page is rendered
from the dossier stored in the Review row (`reviews.load.stored_dossier`), so it shows
exactly the stored figures. GET only, nothing written; a bad, expired or revoked link,
or a cycle with no stored dossier yet, gets the portal's one refusal page.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from models.links import LinkRefused
from portal.deps import AppDep, Lang
from portal.pages import refused
from reviews import chart, html
from reviews.load import stored_dossier

router = APIRouter()


@router.get("/dossier/{token}", response_class=HTMLResponse)
def show_dossier(request: Request, token: str, asked: Lang, app: AppDep) -> Response:
    try:
        with app.session() as s:
            data = stored_dossier(s, token, app.now())
    except LinkRefused:
        return refused(request, asked)
    return HTMLResponse(html.render(data, chart.charts(data), chart.narrow(data)),
                        headers={"Content-Security-Policy": html.CSP})
