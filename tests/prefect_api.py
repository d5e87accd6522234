"""Talking to the local stack's Prefect API as its clients do: basic auth from
`<data dir>/prefect-auth` and, for changes, a CSRF token (phoihop runs Prefect's server with
both, flows/local.py:prefect_env). For tests that read the API with plain HTTP and for the
browser tests that sign in to the UI."""

from __future__ import annotations

import base64
import json
import urllib.request
import uuid
from typing import Any


def auth_header(auth: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}


def csrf_headers(api: str, auth: str) -> dict[str, str]:
    """A fresh CSRF token for a new client id (GET /csrf-token?client=…)."""
    client = str(uuid.uuid4())
    req = urllib.request.Request(f"{api}/csrf-token?client={client}", headers=auth_header(auth))
    with urllib.request.urlopen(req, timeout=10) as r:
        token = json.loads(r.read())["token"]
    return {"Prefect-Csrf-Token": token, "Prefect-Csrf-Client": client}


def api_post(api: str, path: str, body: dict[str, Any], auth: str) -> Any:
    """POST `body` to `{api}/{path}` with credentials and a CSRF token; the JSON answer."""
    headers = {"content-type": "application/json", **auth_header(auth),
               **csrf_headers(api, auth)}
    req = urllib.request.Request(f"{api}/{path.lstrip('/')}", data=json.dumps(body).encode(),
                                 headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def sign_in_script(auth: str) -> str:
    """JavaScript for `page.add_init_script`: what the UI's sign-in page stores (the auth
    string, base64, under `prefect-password`), so a test opens pages signed in."""
    stored = json.dumps(base64.b64encode(auth.encode()).decode())
    return f"window.localStorage.setItem('prefect-password', {stored});"
