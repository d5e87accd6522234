"""The partner portal: answer a reply link in a browser, no account needed.

GET shows the obligation and a form and never changes anything (mail scanners open
links). POST records a reply. Every bad link gets the same refusal page and status, so
unknown, tampered, expired and revoked links cannot be told apart. Tokens never reach a
log line: the access log is ours and masks them.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, Headers, MutableHeaders, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.bootstrap import App
from models.links import LinkRefused, hash_token
from notifications import events
from portal import uploads
from portal.decisions import decisions_router
from portal.i18n import TEXT
from portal.openapi import FILE, LANG, REPLY_BODY, REPLY_HEAD, REPLY_PAGE, REPLY_POST, RESPONSES
from portal.ratelimit import RateLimiter, SharedRateLimiter
from portal.services import attachment_of, csrf_ok, csrf_token, load_view, submit
from reviews.portal_routes import dossier_router
from services.replies import ReplyInvalid, ReplyRefused

HERE = Path(__file__).resolve().parent
MAX_BODY = 11 * 1024 * 1024
log = logging.getLogger("phoihop.portal")


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


def language(request: Request) -> str | None:
    """?lang=vi|en, remembered in a cookie; None means the agreement's language."""
    lang = request.query_params.get("lang") or request.cookies.get("lang")
    return lang if lang in TEXT else None


Lang = Annotated[str | None, Depends(language)]


def create_app(app: App, *, monotonic: Callable[[], float] = time.monotonic,
               shared_limits: Path | None = None) -> FastAPI:
    """The portal. `shared_limits`: a folder where the rate limits live in files shared
    by several worker processes (`portal.ratelimit`); without it they are this process's."""
    api = FastAPI(title="phoihop portal", docs_url=None, redoc_url=None, responses=RESPONSES)
    templates = Jinja2Templates(directory=HERE / "templates")
    api.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    events.warm()
    attachments = uploads.folder_of(app.settings.data_dir)
    per_link: RateLimiter | SharedRateLimiter
    per_address: RateLimiter | SharedRateLimiter
    if shared_limits is None:
        per_link = RateLimiter(60, monotonic)
        per_address = RateLimiter(app.settings.portal_rate_per_address, monotonic)
    else:
        per_link = SharedRateLimiter(shared_limits / "per-link", 60, monotonic)
        per_address = SharedRateLimiter(shared_limits / "per-address",
                                        app.settings.portal_rate_per_address, monotonic)
    origin = urlparse(app.settings.portal_url)
    # PostgreSQL: a request's database work is awaited in the event loop
    # (`App.run_session`), so other requests go on while it waits for the server.
    # SQLite: a POST's transaction runs in the loop, one at a time (its writers take
    # turns anyway); a GET's read in a worker thread.
    awaited = not app.settings.db_url.startswith("sqlite")

    class Guard:
        """Limits, refusals before routing, security headers on every response and the
        masked access log. Plain ASGI: Starlette's BaseHTTPMiddleware (`@api.middleware`)
        ran each request through an extra task and memory streams, ~0.5 ms of CPU."""

        def __init__(self, inner: ASGIApp) -> None:
            self.inner = inner

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await self.inner(scope, receive, send)
                return
            started = time.perf_counter()
            # as Request(scope).url.path has it
            path = scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
            masked = "/".join(p if i < 2 else "…" for i, p in enumerate(path.split("/")))
            client = scope.get("client")
            address = client[0] if client else "?"
            length = Headers(scope=scope).get("content-length") or "0"
            status = 0

            async def sending(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    headers = MutableHeaders(scope=message)
                    headers["Referrer-Policy"] = "no-referrer"
                    headers["Cache-Control"] = "no-store"
                    headers["X-Content-Type-Options"] = "nosniff"
                    if "content-security-policy" not in headers:  # a route may set its own
                        headers["Content-Security-Policy"] = (
                            "default-src 'none'; style-src 'self'; form-action 'self'; "
                            "base-uri 'none'; frame-ancestors 'none'")
                await send(message)

            refusal: Response | None = None
            if not length.isascii() or not length.isdigit():  # uvicorn refuses these too
                refusal = HTMLResponse(TEXT["vi"]["forbidden"], status_code=400)
            elif int(length) > MAX_BODY:
                refusal = HTMLResponse("413", status_code=413)
            elif not per_address.allow(address) or (
                    path.startswith(("/r/", "/d/"))
                    and not per_link.allow(hash_token(path[3:]))):
                refusal = HTMLResponse(TEXT["vi"]["too_many"], status_code=429)
            if refusal is not None:
                await refusal(scope, receive, sending)
            else:
                await self.inner(scope, receive, sending)
            log.info("%s %s %s %d %.0fms", address, scope["method"], masked, status,
                     (time.perf_counter() - started) * 1000)

    api.add_middleware(Guard)

    def page(request: Request, name: str, lang: str, code: int = 200, **ctx: Any
             ) -> HTMLResponse:
        response = templates.TemplateResponse(request, name, {"lang": lang, "t": TEXT[lang],
                                                              **ctx}, status_code=code)
        if request.query_params.get("lang") in TEXT:
            response.set_cookie("lang", lang, samesite="strict", httponly=True)
        return response

    def refused(request: Request, lang: str | None) -> HTMLResponse:
        lang = lang or "vi"
        return page(request, "refused.html", lang, 404, heading=TEXT[lang]["refused"],
                    message=TEXT[lang]["refused_text"])

    def form_page(request: Request, view: Any, lang: str, code: int = 200,
                  errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                  dropped: str | None = None) -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        prefill = view.prefill if values is None else None  # never over what was typed
        return page(request, "reply.html", lang, code, heading=TEXT[lang]["title"],
                    o=view.info, indicators=view.indicators, history=view.history,
                    errors=errors or {}, values=values or (prefill.values if prefill else {}),
                    prefill=prefill, dropped=dropped, accept=uploads.ACCEPT,
                    token=request.path_params["token"], form_nonce=nonce,
                    csrf=csrf_token(app, view.link.id or 0, nonce))

    def failed(request: Request, lang: str, code: int, key: str) -> HTMLResponse:
        return page(request, "refused.html", lang, code, heading=TEXT[lang]["title"],
                    message=TEXT[lang][key])

    @api.get("/r/{token}", response_class=HTMLResponse, operation_id="show_reply",
             responses=REPLY_PAGE, openapi_extra={"parameters": [LANG]})
    @api.head("/r/{token}", response_class=HTMLResponse, operation_id="show_head",  # scanners
              responses=REPLY_HEAD, openapi_extra={"parameters": [LANG]})
    async def show(request: Request, token: str, lang: Lang) -> HTMLResponse:
        def read(s: Any) -> Any:
            return load_view(s, app, token, app.now(), lang)

        def in_thread() -> Any:
            with app.session() as s:
                return read(s)

        try:
            view = await (app.run_session(read, write=False) if awaited
                          else run_in_threadpool(in_thread))
        except LinkRefused:
            return refused(request, lang)
        return form_page(request, view, lang or view.agreement.language)

    @api.post("/r/{token}", response_class=HTMLResponse, operation_id="answer",
              responses=REPLY_POST,
              openapi_extra={"parameters": [LANG], "requestBody": REPLY_BODY})
    async def answer(request: Request, token: str, lang: Lang) -> HTMLResponse:
        # A foreign Origin is refused outright. Under Referrer-Policy: no-referrer browsers
        # send "Origin: null" for our own form, so "null" rests on the HMAC form token.
        sent_origin = request.headers.get("origin")
        if sent_origin and sent_origin != "null" and urlparse(sent_origin).netloc != origin.netloc:
            return HTMLResponse(TEXT["vi"]["forbidden"], status_code=403)
        try:
            raw = await read_form(request)
        except BodyTooLarge:
            return HTMLResponse(TEXT["vi"]["too_large"], status_code=413)
        except (HTTPException, MultiPartException):  # malformed, or more than one file
            return failed(request, lang or "vi", 400, "bad_form")
        try:
            return await record(request, token, lang, raw)
        finally:
            await raw.close()

    async def record(request: Request, token: str, lang: str | None, raw: FormData
                     ) -> HTMLResponse:
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
                return HTMLResponse(TEXT["vi"]["forbidden"], status_code=403)
            try:
                staged = await run_in_threadpool(uploads.stage, upload.file, upload.filename,
                                                 attachments)
            except uploads.UploadRejected as exc:
                upload_error = str(exc)
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
                                staged.attachment if staged else None, upload_error)
            return view, new, events.ReplyRecorded(
                view.obligation.key, view.agreement.code, view.obligation.party,
                reply.id or 0, reply.version, reply.status), reply.recorded_at

        try:
            # one write transaction (PostgreSQL: awaited, SQLite: here, in one go)
            view, new, recorded, when_at = await app.run_session(transaction)
        except FormRefused:
            uploads.discard(staged)
            return HTMLResponse(TEXT["vi"]["forbidden"], status_code=403)
        except (LinkRefused, ReplyRefused):
            uploads.discard(staged)
            return refused(request, lang)
        except ReplyInvalid as exc:
            uploads.discard(staged)
            with app.session() as s:
                view = load_view(s, app, token, now, lang)
            return form_page(request, view, lang or view.agreement.language, 422,
                             errors=exc.errors, values=form,
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
        from core.calendar import zone

        when = when_at.astimezone(zone(view.agreement.timezone)).strftime("%d/%m/%Y %H:%M")
        return page(request, "done.html", shown, heading=TEXT[shown]["thanks"], when=when,
                    version=recorded.version, status=recorded.status)

    @api.get("/r/{token}/files/{reply_id}", response_class=FileResponse,
             operation_id="download", openapi_extra={"parameters": [LANG]},
             responses={200: {"description": "The file, as an attachment", "content": FILE}})
    def download(request: Request, token: str, reply_id: str, lang: Lang) -> Response:
        """A reply's attachment, for the link's own obligation only; never shown inline."""
        try:
            with app.session() as s:
                path, name, kind = attachment_of(s, token, reply_id, app.now(), attachments)
        except LinkRefused:
            return refused(request, lang)
        return FileResponse(path, media_type=kind, headers={
            "Content-Disposition": uploads.content_disposition(name),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox"})

    api.include_router(dossier_router(app))
    api.include_router(decisions_router(app))
    return api
