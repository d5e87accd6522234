"""The portal's pages shared by every route: a rendered template, the one refusal page,
a failure page, and the plain-text refusals the portal answers before any page.

Every bad link (unknown, tampered, expired, revoked; a reply, decision or dossier link)
gets the same refusal page and status (404), so they cannot be told apart. A page asked
for with ?lang=vi|en remembers the language in a cookie.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from portal.i18n import TEXT

templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")


def page(request: Request, name: str, lang: str, code: int = 200, **ctx: Any
         ) -> HTMLResponse:
    """Template `name` in language `lang` (its words as `t`, and `ctx`)."""
    response = templates.TemplateResponse(request, name, {"lang": lang, "t": TEXT[lang], **ctx},
                                          status_code=code)
    if request.query_params.get("lang") in TEXT:
        response.set_cookie("lang", lang, samesite="strict", httponly=True)
    return response


def refused(request: Request, lang: str | None) -> HTMLResponse:
    """The one refusal page of every bad link (404)."""
    lang = lang or "vi"
    return page(request, "refused.html", lang, 404, heading=TEXT[lang]["refused"],
                message=TEXT[lang]["refused_text"])


def failed(request: Request, lang: str, code: int, key: str) -> HTMLResponse:
    """A request that could not be done (`TEXT[lang][key]` says why), under the title."""
    return page(request, "refused.html", lang, code, heading=TEXT[lang]["title"],
                message=TEXT[lang][key])


def forbidden() -> HTMLResponse:
    """A cross-site POST or one without its form's token (403), nothing written."""
    return HTMLResponse(TEXT["vi"]["forbidden"], status_code=403)
