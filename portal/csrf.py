"""The reply and decision forms' anti-forgery token: an HMAC of the link and the form's
nonce under the secret key (nothing stored)."""

from __future__ import annotations

import hashlib
import hmac

from config.bootstrap import App


def csrf_token(app: App, link_id: int, form_nonce: str) -> str:
    msg = f"csrf:{link_id}:{form_nonce}".encode()
    return hmac.new(app.secret_key, msg, hashlib.sha256).hexdigest()


def csrf_ok(app: App, link_id: int, form_nonce: str, token: str) -> bool:
    # as bytes: compare_digest refuses str with non-ASCII characters (a forged token may have)
    return bool(form_nonce) and hmac.compare_digest(
        csrf_token(app, link_id, form_nonce).encode(), token.encode())
