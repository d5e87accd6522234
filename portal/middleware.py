"""The portal's guard, around every route: limits and refusals before routing, security
headers on every response, and the masked access log (tokens never reach a log line).

Plain ASGI: Starlette's BaseHTTPMiddleware (`@api.middleware`) ran each request through
an extra task and memory streams, ~0.5 ms of CPU. Added by `portal.app.create_app`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.settings import Settings
from models.links import hash_token
from portal.i18n import TEXT
from portal.ratelimit import RateLimiter, SharedRateLimiter

MAX_BODY = 11 * 1024 * 1024
log = logging.getLogger("phoihop.portal")

Limiter = RateLimiter | SharedRateLimiter


def limiters(settings: Settings, monotonic: Callable[[], float], shared: Path | None
             ) -> tuple[Limiter, Limiter]:
    """Per link (60 a minute) and per address (setting portal_rate_per_address). `shared`:
    a folder where they live in files shared by several worker processes
    (`portal.ratelimit`); without it they are this process's."""
    if shared is None:
        return (RateLimiter(60, monotonic),
                RateLimiter(settings.portal_rate_per_address, monotonic))
    return (SharedRateLimiter(shared / "per-link", 60, monotonic),
            SharedRateLimiter(shared / "per-address", settings.portal_rate_per_address,
                              monotonic))


class Guard:
    """Limits, refusals before routing, security headers on every response and the
    masked access log."""

    def __init__(self, inner: ASGIApp, *, per_link: Limiter, per_address: Limiter) -> None:
        self.inner = inner
        self.per_link = per_link
        self.per_address = per_address

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
        elif not self.per_address.allow(address) or (
                path.startswith(("/r/", "/d/", "/c/"))
                and not self.per_link.allow(hash_token(path[3:]))):
            refusal = HTMLResponse(TEXT["vi"]["too_many"], status_code=429)
        if refusal is not None:
            await refusal(scope, receive, sending)
        else:
            await self.inner(scope, receive, sending)
        log.info("%s %s %s %d %.0fms", address, scope["method"], masked, status,
                 (time.perf_counter() - started) * 1000)
