"""A party's calendar feed: `GET /c/{token}` (and HEAD) answers iCalendar.

The token is a capability link (table `feed_link`), bound to an agreement, one of its
parties and the contact it was sent to; it comes in the ladder's e-mails and on the reply
page. GET reads only. A bad, expired or revoked link gets the
portal's one refusal page.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from models.links import LinkRefused
from portal.deps import Ctx, Lang
from portal.openapi import FEED
from portal.pages import refused
from services.calendar import Feed, party_feed

router = APIRouter()


@router.get("/c/{token}", response_class=Response, operation_id="show_feed", responses=FEED)
@router.head("/c/{token}", response_class=Response, operation_id="feed_head", responses=FEED)
async def show_feed(request: Request, token: str, lang: Lang, ctx: Ctx) -> Response:
    app = ctx.app

    def read(s: Any) -> Feed:
        return party_feed(s, app, token, app.now())

    def in_thread() -> Feed:
        with app.session() as s:
            return read(s)

    try:
        feed = await (app.run_session(read, write=False) if ctx.awaited
                      else run_in_threadpool(in_thread))
    except LinkRefused:
        refusal: HTMLResponse = refused(request, lang)
        return refusal
    return Response(feed.body, media_type="text/calendar; charset=utf-8", headers={
        "Content-Disposition": f'inline; filename="{feed.filename}"',
        "Content-Security-Policy": "default-src 'none'; sandbox"})
