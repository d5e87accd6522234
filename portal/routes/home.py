"""`GET /`: a short page saying what phoihop is and whom to contact (not JSON).

Vietnamese first, `?lang=en` as on every page. It reads nothing and changes nothing.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from portal.deps import Lang
from portal.i18n import TEXT
from portal.openapi import HOME_PAGE, LANG
from portal.pages import page

router = APIRouter()


@router.get("/", response_class=HTMLResponse, operation_id="home", responses=HOME_PAGE,
            openapi_extra={"parameters": [LANG]})
async def home(request: Request, lang: Lang) -> HTMLResponse:
    shown = lang or "vi"
    return page(request, "home.html", shown, heading=TEXT[shown]["home_title"])
