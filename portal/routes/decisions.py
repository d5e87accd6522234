"""Coordinator decision links: `GET /d/{token}` confirms, `POST /d/{token}` acts.

A decision link (purpose accept, return, approve or deny) is bound to one reply, its
obligation and one coordinator. GET shows what the agency sent and a form, and changes
nothing (mail scanners open links). POST carries the form's HMAC token, and a foreign
Origin is refused, as on the reply form. A decision is recorded once: acting again,
through this link or its sibling, gets the "already decided" page (409) and changes
nothing. Bad, expired and revoked links get the portal's one refusal page (404). The
portal's rate limits apply (`portal.middleware`). After the decision committed, its Prefect
event (`phoihop.decision.<decision>`, notifications.events) is emitted: the `deliver`
deployment sends the partner's decision message at once (docs/flows.md).
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from config.bootstrap import App
from core.calendar import zone
from core.statuses import Decision
from models.links import LinkRefused
from notifications import events
from notifications.decision_messages import describe
from notifications.wording import show_date
from portal.csrf import csrf_ok, csrf_token
from portal.decision_text import WORDS
from portal.deps import AppDep, Ctx, Lang
from portal.openapi import DECISION_BODY, DECISION_PAGE, DECISION_POST, LANG
from portal.pages import forbidden, page, refused
from services.decisions import AlreadyDecided, CommentRequired, Pending, act, is_decided, load

router = APIRouter()


def _already_text(s: Session, p: Pending, lang: str) -> str:
    w = WORDS[lang]
    r = p.reply
    if r.decision in (Decision.ACCEPTED, Decision.RETURNED, Decision.GRANTED,
                      Decision.DENIED) and r.decided_at:
        when = r.decided_at.astimezone(zone(p.agreement.timezone)).strftime("%d/%m/%Y %H:%M")
        what = w[f"already_{r.decision}"].replace("{when}", when)
    elif r.decision == Decision.SUPERSEDED:
        what = w["already_superseded"]
    else:
        what = w["already_replaced"]
    return w["already_text"].replace("{what}", what)


def decision_page(request: Request, name: str, lang: str, code: int = 200, **ctx: Any
                  ) -> HTMLResponse:
    """A decision page: the portal's page with the decision words (`d`) too."""
    return page(request, name, lang, code, d=WORDS[lang], **ctx)


def already(request: Request, s: Session, p: Pending, lang: str) -> HTMLResponse:
    return decision_page(request, "decision_already.html", lang, 409,
                         heading=WORDS[lang]["already"], message=_already_text(s, p, lang))


def confirm(request: Request, app: App, s: Session, p: Pending, lang: str, code: int = 200,
            error: str = "", comment: str = "") -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    return decision_page(request, "decision.html", lang, code,
                         heading=WORDS[lang][f"heading_{p.purpose}"], purpose=p.purpose,
                         r=describe(s, p.reply, lang), error=error, comment=comment,
                         form_nonce=nonce, csrf=csrf_token(app, p.link.id or 0, nonce))


@router.get("/d/{token}", response_class=HTMLResponse, operation_id="show_decision",
            responses=DECISION_PAGE, openapi_extra={"parameters": [LANG]})
def show_decision(request: Request, token: str, asked: Lang, app: AppDep) -> HTMLResponse:
    try:
        with app.session() as s:
            p = load(s, token, app.now())
            lang = asked or p.agreement.language
            if is_decided(s, p):
                return already(request, s, p, lang)
            return confirm(request, app, s, p, lang)
    except LinkRefused:
        return refused(request, asked)


@router.post("/d/{token}", response_class=HTMLResponse, operation_id="decide",
             responses=DECISION_POST,
             openapi_extra={"parameters": [LANG], "requestBody": DECISION_BODY})
async def decide(request: Request, token: str, asked: Lang, ctx: Ctx) -> HTMLResponse:
    app = ctx.app
    form = {k: str(v) for k, v in (await request.form()).items()}
    if ctx.cross_site(request):  # "null" rests on the form token
        return forbidden()
    now = app.now()
    comment = form.get("comment", "")
    try:
        with app.session(write=True) as s:
            p = load(s, token, now)
            lang = asked or p.agreement.language
            if not csrf_ok(app, p.link.id or 0, form.get("form_nonce", ""),
                           form.get("csrf", "")):
                return forbidden()
            p = act(s, app, token, comment, now)
            decision, due = p.reply.decision, p.obligation.due
            taken = events.DecisionTaken(p.obligation.key, p.agreement.code,
                                         p.obligation.party, p.reply.id or 0,
                                         p.reply.version, str(decision))
    except LinkRefused:
        return refused(request, asked)
    except AlreadyDecided:
        with app.session() as s:
            p = load(s, token, now)
            return already(request, s, p, asked or p.agreement.language)
    except CommentRequired:
        with app.session() as s:
            p = load(s, token, now)
            lang = asked or p.agreement.language
            return confirm(request, app, s, p, lang, 422,
                           error=WORDS[lang]["comment_required"], comment=comment)
    events.decision_taken(taken)  # committed: the automations may act on it
    return decision_page(request, "decision_done.html", lang, heading=WORDS[lang]["done"],
                         message=WORDS[lang][f"done_{decision}"].replace(
                             "{due}", show_date(due, lang)))
