"""Reply links: `GET /r/{token}` shows the form, `POST /r/{token}` records a reply, and
`GET /r/{token}/files/{reply_id}` downloads an attachment of the link's obligation.

GET (and HEAD) shows the obligation and a form and never changes anything (mail
scanners open links). POST carries the form's HMAC token, and a foreign Origin is
refused. A bad link gets the portal's one refusal page (`portal.pages.refused`).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.types import Message

from core.calendar import zone
from models.links import LinkRefused
from notifications import events
from portal import uploads
from portal.csrf import csrf_ok, csrf_token
from portal.decision_text import state_of
from portal.deps import Ctx, Lang, Portal
from portal.i18n import TEXT
from portal.middleware import MAX_BODY
from portal.openapi import FILE, LANG, REPLY_BODY, REPLY_HEAD, REPLY_PAGE, REPLY_POST
from portal.pages import failed, forbidden, page, refused
from services.partner import FIELDS, attachment_of, load_view, submit
from services.replies import CLOSED, ReplyInvalid, ReplyRefused

log = logging.getLogger("phoihop.portal")
router = APIRouter()


class BodyTooLarge(Exception):
    pass


class FormRefused(Exception):
    """A POST without this link's form token: refused (403), nothing written."""


async def read_form(request: Request) -> FormData:
    """The form, the body counted as it streams: a chunked body (no Content-Length) is
    held to MAX_BODY too. One file at most; a file part is spooled to disk."""
    seen = 0

    async def receive() -> Message:
        nonlocal seen
        message = await request.receive()
        seen += len(message.get("body", b""))
        if seen > MAX_BODY:
            raise BodyTooLarge
        return message

    return await Request(request.scope, receive).form(max_files=1)


def form_page(request: Request, ctx: Portal, view: Any, lang: str, code: int = 200,
              errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
              dropped: str | None = None, asks: dict[str, list[tuple[str, str]]] | None = None
              ) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    prefill = view.prefill if values is None else None  # never over what was typed
    return page(request, "reply.html", lang, code, heading=TEXT[lang]["title"],
                o=view.info, indicators=view.indicators, history=view.history,
                errors=errors or {}, values=values or (prefill.values if prefill else {}),
                prefill=prefill, dropped=dropped, accept=uploads.ACCEPT, calendar=view.calendar,
                asks=asks or {}, state=state_of(view, lang),
                open=view.obligation.status not in CLOSED,
                fields={str(k): v for k, v in FIELDS.items()},
                token=request.path_params["token"], form_nonce=nonce,
                csrf=csrf_token(ctx.app, view.link.id or 0, nonce))


@router.get("/r/{token}", response_class=HTMLResponse, operation_id="show_reply",
            responses=REPLY_PAGE, openapi_extra={"parameters": [LANG]})
@router.head("/r/{token}", response_class=HTMLResponse, operation_id="show_head",  # scanners
             responses=REPLY_HEAD, openapi_extra={"parameters": [LANG]})
async def show(request: Request, token: str, lang: Lang, ctx: Ctx) -> HTMLResponse:
    app = ctx.app

    def read(s: Any) -> Any:
        return load_view(s, app, token, app.now(), lang)

    def in_thread() -> Any:
        with app.session() as s:
            return read(s)

    try:
        view = await (app.run_session(read, write=False) if ctx.awaited
                      else run_in_threadpool(in_thread))
    except LinkRefused:
        return refused(request, lang)
    return form_page(request, ctx, view, lang or view.agreement.language)


@router.post("/r/{token}", response_class=HTMLResponse, operation_id="answer",
             responses=REPLY_POST,
             openapi_extra={"parameters": [LANG], "requestBody": REPLY_BODY})
async def answer(request: Request, token: str, lang: Lang, ctx: Ctx) -> HTMLResponse:
    if ctx.cross_site(request):
        return forbidden()
    try:
        raw = await read_form(request)
    except BodyTooLarge:
        return HTMLResponse(TEXT["vi"]["too_large"], status_code=413)
    except (HTTPException, MultiPartException):  # malformed, or more than one file
        return failed(request, lang or "vi", 400, "bad_form")
    try:
        return await record(request, ctx, token, lang, raw)
    finally:
        await raw.close()


async def record(request: Request, ctx: Portal, token: str, lang: str | None, raw: FormData
                 ) -> HTMLResponse:
    app = ctx.app
    # NUL has no place in a typed answer, and PostgreSQL text cannot hold it
    form = {k: v.replace("\x00", "") for k, v in raw.items() if isinstance(v, str)}
    upload = raw.get("attachment")
    now = app.now()
    nonce, sent_token = form.get("form_nonce", ""), form.get("csrf", "")
    staged: uploads.Staged | None = None
    upload_error: str | None = None
    if isinstance(upload, UploadFile):
        # a refused link or form is refused before any file is written
        try:
            with app.session() as s:
                view = load_view(s, app, token, now, lang, page=False)
        except LinkRefused:
            return refused(request, lang)
        if not csrf_ok(app, view.link.id, nonce, sent_token):
            return forbidden()
        try:
            staged = await run_in_threadpool(uploads.stage, upload.file, upload.filename,
                                             ctx.attachments)
        except uploads.UploadRejected as exc:
            upload_error = exc.text(lang or view.agreement.language)
        except uploads.UploadFailed as exc:
            log.error("attachment not stored, reply not recorded: %s", exc)
            return failed(request, lang or view.agreement.language, 503, "store_failed")
    # Without a file, the link and the form token are checked in the transaction that
    # records the reply (one transaction, the link read once); a refusal writes nothing.
    def transaction(s: Any) -> tuple[Any, bool, events.ReplyRecorded, datetime]:
        view = load_view(s, app, token, now, lang, page=False)
        if not csrf_ok(app, view.link.id, nonce, sent_token):
            raise FormRefused
        reply, new = submit(s, app, view, form, now,
                            staged.attachment if staged else None, upload_error,
                            language=lang or view.agreement.language)
        return view, new, events.ReplyRecorded(
            view.obligation.key, view.agreement.code, view.obligation.party,
            reply.id or 0, reply.version, reply.status), reply.recorded_at

    try:
        # one write transaction (PostgreSQL: awaited, SQLite: here, in one go)
        view, new, recorded, when_at = await app.run_session(transaction)
    except FormRefused:
        uploads.discard(staged)
        return forbidden()
    except (LinkRefused, ReplyRefused):
        uploads.discard(staged)
        return refused(request, lang)
    except ReplyInvalid as exc:
        uploads.discard(staged)
        with app.session() as s:
            view = load_view(s, app, token, now, lang)
        return form_page(request, ctx, view, lang or view.agreement.language, 422,
                         errors=exc.errors, values=form, asks=exc.asks,
                         dropped=staged.name if staged else None)
    except BaseException:
        uploads.discard(staged)
        raise
    shown = lang or view.agreement.language
    if staged is not None and not new:
        uploads.discard(staged)  # a replayed form: the reply it recorded stands
    elif staged is not None:
        try:
            uploads.keep(staged)
        except OSError as exc:  # the .part file stays; the first download completes it
            log.error("attachment of reply %s not renamed: %s", recorded.reply_id, exc)
    if new:
        events.reply_recorded(recorded)
    when = when_at.astimezone(zone(view.agreement.timezone)).strftime("%d/%m/%Y %H:%M")
    return page(request, "done.html", shown, heading=TEXT[shown]["thanks"], when=when,
                version=recorded.version, status=recorded.status)


@router.get("/r/{token}/files/{reply_id}", response_class=FileResponse,
            operation_id="download", openapi_extra={"parameters": [LANG]},
            responses={200: {"description": "The file, as an attachment", "content": FILE}})
def download(request: Request, token: str, reply_id: str, lang: Lang, ctx: Ctx) -> Response:
    """A reply's attachment, for the link's own obligation only; never shown inline."""
    try:
        with ctx.app.session() as s:
            reply = attachment_of(s, token, reply_id, ctx.app.now())
    except LinkRefused:
        return refused(request, lang)
    path = uploads.stored_file(ctx.attachments, reply.attachment_path)
    kind = reply.attachment_type
    if path is None or kind not in uploads.EXTENSIONS:
        return refused(request, lang)
    return FileResponse(path, media_type=kind, headers={
        "Content-Disposition": uploads.content_disposition(reply.attachment_name or path.name),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox"})
