"""The reply portal under attack (issue #6 item 10), against the real app on SQLite and
PostgreSQL: guessed links, bad links told apart by nothing, replayed forms sent at once,
cross-site posts, GET/HEAD writing nothing, headers on every response, tokens in no log
line and no table, oversized bodies, and a schema fuzz of every route (schemathesis)
plus a form fuzz on live links (hypothesis).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import sqlite3
import threading
import time as clock_time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from benchmarks.portal import Server
from config.bootstrap import App, bootstrap
from core.calendar import local_instant
from models.links import issue, revoke, token_for
from models.tables import Contact, Link, Obligation, Party, Reply
from portal.app import create_app
from services.imports import import_agreement
from tests.conftest import QT
from tests.smtp_sink import free_port

TZ = "Asia/Ho_Chi_Minh"
KEY = "QT-KHKT-2021-2025/hoc-tap-suot-doi/so-gddt/2022"
OTHER = "QT-KHKT-2021-2025/hoc-tap-suot-doi/so-gddt/2023"
FIELD = re.compile(r'name="(csrf|form_nonce)" value="([^"]+)"')


@dataclass
class Portal:
    app: App
    client: TestClient
    token: str  # a live reply link of KEY for the focal contact of so-gddt


def link(app: App, key: str, at: datetime, *, purpose: str = "reply",
         expires: timedelta = timedelta(days=30), contact_role: str = "focal") -> str:
    """A fresh link (expiring `expires` after `at`) of `purpose` for the obligation `key`."""
    with app.session(write=True) as s:
        o = s.exec(select(Obligation).where(Obligation.key == key)).one()
        contact = s.exec(select(Contact).join(Party, col(Party.id) == Contact.party_id).where(
            Party.key == o.party, Party.agreement_id == o.agreement_id,
            Contact.role == contact_role)).first()
        return issue(s, app.secret_key, purpose=purpose, now=at, expires_at=at + expires,
                     obligation_id=o.id, contact_id=contact.id if contact else None).token


@pytest.fixture
def portal(app: App, clock: Any) -> Portal:
    clock.at = local_instant(date(2022, 5, 18), time(0, 0), TZ)
    import_agreement(app, QT.read_bytes(), str(QT))
    clock.at = local_instant(date(2022, 12, 1), time(9, 0), TZ)
    return Portal(app, TestClient(create_app(app)), link(app, KEY, clock.at))


def form_of(client: Any, token: str) -> dict[str, str]:
    page = client.get(f"/r/{token}")
    assert page.status_code == 200, page.status_code
    return dict(FIELD.findall(page.text))


def replies(app: App) -> int:
    with app.session() as s:
        return len(s.exec(select(Reply)).all())


def dump(app: App) -> list[tuple[str, list[str]]]:
    """Every row of every table (the migrations' own table too), in a stable order."""
    tables = sorted(sa.inspect(app.engine).get_table_names())
    assert {"reply", "link", "obligation"} <= set(tables)
    with app.engine.connect() as c:
        return [(t, sorted(repr(tuple(r)) for r in c.execute(sa.text(f'SELECT * FROM "{t}"'))))
                for t in tables]


def dump_text(app: App) -> str:
    """A full dump as text: SQLite's own iterdump, or every row of every table."""
    url = app.engine.url
    if url.get_backend_name() == "sqlite":
        with sqlite3.connect(str(url.database)) as conn:
            return "\n".join(conn.iterdump())
    return repr(dump(app))


def all_tokens(app: App) -> list[str]:
    """The token of every link in the database (issued here or by the code under test)."""
    with app.session() as s:
        return [token_for(app.secret_key, nonce) for nonce in s.exec(select(Link.nonce))]


def check_headers(response: httpx.Response) -> None:
    assert response.headers.get("referrer-policy") == "no-referrer", response.request.url.path
    assert response.headers.get("cache-control") == "no-store", response.request.url.path


# ---------------------------------------------------------------------------------------


def test_ten_thousand_guessed_links_are_throttled_and_never_hit(portal: Portal) -> None:
    async def guess() -> list[int]:  # in process, one address, no thread hop per request
        transport = httpx.ASGITransport(portal.client.app, client=("203.0.113.9", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://portal") as c:
            return [(await c.get(f"/r/{secrets.token_urlsafe(32)}")).status_code
                    for _ in range(10_000)]

    started = clock_time.monotonic()
    codes = asyncio.run(guess())
    seconds = clock_time.monotonic() - started
    assert 200 not in codes
    assert set(codes) == {404, 429}
    first = codes.index(429)
    refilled = int(seconds * 2) + 1  # 120 a minute: two more a second
    assert 120 <= first <= 120 + refilled
    assert codes[:120] == [404] * 120
    assert codes.count(404) <= 120 + refilled  # the rest were throttled
    assert codes.count(429) >= 10_000 - 120 - refilled


def test_bad_links_get_one_byte_identical_refusal(portal: Portal, clock: Any) -> None:
    app, client = portal.app, portal.client
    at = clock.at
    expired = link(app, OTHER, at - timedelta(days=40), expires=timedelta(days=1))
    revoked = link(app, OTHER, at, contact_role="head")
    with app.session(write=True) as s:
        revoke(s, s.exec(select(Link).order_by(col(Link.id).desc())).first(), at)  # type: ignore[arg-type]
    tampered = portal.token[:-3] + ("AAA" if not portal.token.endswith("AAA") else "BBB")
    other_purpose = link(app, KEY, at, purpose="accept", contact_role="coordinator")
    other_purpose_dossier = link(app, KEY, at, purpose="dossier")
    withdrawn = link(app, OTHER, at, contact_role="focal")
    with app.session(write=True) as s:
        o = s.exec(select(Obligation).where(Obligation.key == OTHER)).one()
        o.status = "withdrawn"
        s.add(o)
    good = form_of(client, portal.token) | {"status": "done"}
    before = dump(app)
    bad = {"unknown": secrets.token_urlsafe(32), "expired": expired, "revoked": revoked,
           "tampered": tampered, "other purpose (accept)": other_purpose,
           "other purpose (dossier)": other_purpose_dossier,
           "withdrawn obligation": withdrawn, "too long": "A" * 101}
    answers: dict[str, httpx.Response] = {}
    for name, token in bad.items():
        answers[f"GET {name}"] = client.get(f"/r/{token}")
        # a well-formed form (another link's tokens): still the refusal, not a 403
        answers[f"POST {name}"] = client.post(f"/r/{token}", data=good)
    assert {name: r.status_code for name, r in answers.items()} == {
        name: 404 for name in answers}
    bodies = {r.content for r in answers.values()}
    assert len(bodies) == 1, sorted(answers)
    assert "Đường dẫn không dùng được".encode() in bodies.pop()
    assert dump(app) == before
    # the live link still works: the refusals were not about the form or the client
    assert client.post(f"/r/{portal.token}", data=good).status_code == 200


@pytest.fixture
def live(portal: Portal) -> Iterator[str]:
    """The same app served by uvicorn on loopback, configured as `phoihop portal` does."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(portal.app), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = clock_time.monotonic() + 20
    while not server.started and clock_time.monotonic() < deadline:
        clock_time.sleep(0.02)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_fifty_identical_posts_at_once_store_one_version(portal: Portal, live: str) -> None:
    with httpx.Client(base_url=live) as c:
        form = form_of(c, portal.token) | {"status": "in_progress", "percent": "40",
                                           "answered_by": "Lê Thị Hoa"}
    gate = threading.Barrier(50)

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=live, timeout=60) as c:
            gate.wait()
            return c.post(f"/r/{portal.token}", data=form)

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(post, range(50)))
    assert [r.status_code for r in answers] == [200] * 50
    assert all("Đã ghi nhận" in r.text for r in answers)
    with portal.app.session() as s:
        stored = s.exec(select(Reply)).all()
    assert [(r.version, r.status, r.percent, r.submission) for r in stored] == [
        (1, "in_progress", 40, form["form_nonce"])]


def test_a_chunked_body_over_the_limit_is_refused_and_writes_nothing(portal: Portal,
                                                                     live: str) -> None:
    with httpx.Client(base_url=live, timeout=60) as c:
        form = form_of(c, portal.token)
        before = dump(portal.app)
        head = "&".join(f"{k}={v}" for k, v in (form | {"status": "done"}).items())

        def body() -> Iterator[bytes]:  # no Content-Length: sent chunked; fields < 1 MiB
            yield head.encode()
            for i in range(24):
                yield f"&v-{i}=".encode() + b"x" * (512 * 1024)

        r = c.post(f"/r/{portal.token}", content=body(),
                   headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413
    assert dump(portal.app) == before


def test_cross_site_or_tokenless_posts_are_refused_and_write_nothing(portal: Portal,
                                                                     clock: Any) -> None:
    app, client = portal.app, portal.client
    form = form_of(client, portal.token) | {"status": "done"}
    other = link(app, OTHER, clock.at)
    other_form = form_of(client, other) | {"status": "done"}
    before = dump(app)
    attempts = {
        "evil origin": client.post(f"/r/{portal.token}", data=form,
                                   headers={"Origin": "https://evil.example"}),
        "evil origin, same host name": client.post(
            f"/r/{portal.token}", data=form, headers={"Origin": "https://127.0.0.1.evil.example"}),
        "no form token": client.post(f"/r/{portal.token}", data={"status": "done"}),
        "no nonce": client.post(f"/r/{portal.token}", data={"status": "done",
                                                              "csrf": form["csrf"]}),
        "forged token": client.post(f"/r/{portal.token}", data=form | {"csrf": "0" * 64}),
        "another link's form": client.post(f"/r/{portal.token}", data=other_form),
        "another nonce": client.post(f"/r/{portal.token}",
                                     data=form | {"form_nonce": other_form["form_nonce"]}),
    }
    assert {k: r.status_code for k, r in attempts.items()} == {k: 403 for k in attempts}
    assert dump(app) == before
    assert client.post(f"/r/{portal.token}", data=form,
                       headers={"Origin": "null"}).status_code == 200  # our own form


def test_fifty_get_and_head_requests_change_no_row(portal: Portal) -> None:
    app, client = portal.app, portal.client
    before = dump(app)
    answers = [client.request(method, f"/r/{portal.token}" + query)
               for _ in range(25) for method, query in (("GET", ""), ("HEAD", "?lang=en"))]
    assert [r.status_code for r in answers] == [200] * 50
    assert all(r.content == b"" for r in answers[1::2])  # HEAD: headers only
    assert "Sở Giáo dục và Đào tạo" in answers[0].text
    assert dump(app) == before


def test_headers_logs_and_tables_hold_no_token(portal: Portal, clock: Any, tmp_path: Path,
                                               db_url: str) -> None:
    """Through `phoihop portal` itself (its own process, its logging), every response
    carries the privacy headers; neither its output nor any table holds a link token."""
    app = portal.app
    now = datetime.now().astimezone()  # the server runs on the wall clock
    tokens = [link(app, KEY, now, contact_role="focal"), link(app, OTHER, now),
              link(app, KEY, now, purpose="dossier")]
    guessed = [secrets.token_urlsafe(32) for _ in range(3)]
    data_dir = app.settings.data_dir
    secret = app.secret_key.decode()
    seen: list[httpx.Response] = []
    with Server(db_url, data_dir, secret, per_address=120) as server, \
            httpx.Client(base_url=server.base, timeout=30,
                         event_hooks={"response": [lambda r: seen.append(r)]}) as c:
        form = form_of(c, tokens[0]) | {"status": "done", "answered_by": "Lê Thị Hoa"}
        assert c.post(f"/r/{tokens[0]}", data=form).status_code == 200
        assert c.post(f"/r/{tokens[0]}", data=form).status_code == 200  # replayed
        assert c.get(f"/r/{tokens[0]}?lang=en").status_code == 200
        assert c.head(f"/r/{tokens[1]}").status_code == 200
        assert c.post(f"/r/{tokens[1]}", data={"status": "done"}).status_code == 403
        assert c.post(f"/r/{tokens[1]}", data=form, headers={
            "Origin": "https://evil.example"}).status_code == 403
        assert c.get(f"/dossier/{tokens[2]}").status_code == 404  # no dossier stored yet
        for g in guessed:
            assert c.get(f"/r/{g}").status_code == 404
            assert c.post(f"/r/{g}", data=form).status_code == 404
        assert c.get("/static/portal.css").status_code == 200
        assert c.get("/nothing/here").status_code == 404
        codes = [c.get(f"/r/{guessed[0]}").status_code for _ in range(120)]
        assert 429 in codes
        output = server.output()
    for response in seen:
        check_headers(response)
    assert len(seen) > 130
    every_token = set(all_tokens(app)) | set(tokens) | set(guessed)
    assert " POST /r/… 200 " in output and " GET /r/… 429 " in output  # output captured
    leaked = [t for t in every_token if t in output]
    assert not leaked
    text = dump_text(app)
    assert "so-gddt" in text  # the dump is real
    assert [t for t in every_token if t in text] == []
    with app.session() as s:
        assert len(s.exec(select(Reply)).all()) == 1


def test_app_logs_hold_no_token(portal: Portal, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = portal.client
    form = form_of(client, portal.token) | {"status": "blocked", "reason": "Chưa có kinh phí"}
    for r in (client.post(f"/r/{portal.token}", data=form),
              client.post(f"/r/{portal.token}", data=form | {"status": "extension"}),
              client.get(f"/r/{portal.token}x"), client.get("/static/portal.css")):
        check_headers(r)
    # every record but the test client's own ("HTTP Request: GET http://testserver/r/...")
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    messages = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in server)
    assert "phoihop.portal" in messages and "/r/…" in messages
    assert portal.token not in messages
    assert form["csrf"] not in messages


def test_an_unreadable_content_length_is_a_client_error(portal: Portal) -> None:
    for value in ("abc", "-1", "1e3"):
        r = portal.client.post(f"/r/{portal.token}", content=b"status=done",
                               headers={"content-length": value,
                                        "content-type": "application/x-www-form-urlencoded"})
        assert r.status_code == 400, value
        check_headers(r)
    assert replies(portal.app) == 0


def test_nul_characters_and_non_ascii_form_tokens_are_no_server_error(portal: Portal) -> None:
    """Found by the fuzz: a NUL in a typed field failed on PostgreSQL (text cannot hold
    it), a non-ASCII form token made the HMAC comparison raise: both were a 500."""
    client = portal.client
    form = form_of(client, portal.token)
    forged = client.post(f"/r/{portal.token}", data=form | {"status": "done", "csrf": "é" * 64})
    assert forged.status_code == 403
    r = client.post(f"/r/{portal.token}", data=form | {
        "status": "blocked", "reason": "Chưa có\x00 kinh phí", "note": "a\x00b",
        "answered_by": "\x00Lê Thị Hoa"})
    assert r.status_code == 200
    with portal.app.session() as s:
        reply = s.exec(select(Reply)).one()
    assert (reply.reason, reply.note, reply.answered_by) == ("Chưa có kinh phí", "ab",
                                                            "Lê Thị Hoa")


# ---- fuzzing --------------------------------------------------------------------------


@pytest.fixture
def open_portal(portal: Portal, clock: Any) -> Iterator[tuple[App, TestClient, list[str]]]:
    """The app with the per-address limit raised (one test client is every "partner"), and
    60 live links (60 requests a minute each), so the fuzz reaches the routes more often
    than the limiter."""
    app = bootstrap(portal.app.settings.model_copy(update={"portal_rate_per_address": 10**6}),
                    clock=portal.app.clock)
    with app.session() as s:
        keys = [o.key for o in s.exec(select(Obligation).where(
            Obligation.status == "open", col(Obligation.commitment).is_not(None))
            .order_by(col(Obligation.id)).limit(60))]
    yield app, TestClient(create_app(app)), [link(app, k, clock.at) for k in keys]
    app.engine.dispose()


def test_schema_fuzz_of_every_route_finds_no_server_error(open_portal: Any) -> None:
    """schemathesis over the portal's OpenAPI: random and live links, valid and invalid
    parameters; every response documented, none a 5xx."""
    _, client, tokens = open_portal
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    operations = {f"{o.method.upper()} {o.path}" for o in (
        r.ok() for r in schema.get_all_operations())}  # type: ignore[union-attr]
    assert {"GET /r/{token}", "POST /r/{token}", "GET /dossier/{token}"} <= operations
    strategy = st.one_of(
        schema.as_strategy(),
        schema.as_strategy(schemathesis.GenerationMode.NEGATIVE),
        *(schema.as_strategy(path_parameters={"token": t}) for t in tokens))
    seen: list[int] = []

    @settings(max_examples=400, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def call(case: Any) -> None:
        seen.append(case.call_and_validate().status_code)

    call()
    assert all(code < 500 for code in seen)
    assert {200, 404} <= set(seen)


FORM_KEYS = ["status", "percent", "until", "reason", "note", "answered_by", "v-gdht-dang-ky",
             "v-gdht-dat", "v-dvht-dang-ky", "csrf", "form_nonce", "lang", "v-x", ""]
form_values = st.one_of(
    st.sampled_from(["done", "in_progress", "blocked", "extension", "", "0", "100", "101",
                     "-1", "1e9", "nan", "inf", "2022-12-31", "2099-02-30", "１２", "٣",
                     "1,5", " 7 ", "<script>", "\x00", "null", "A" * 5000]),
    st.text(max_size=40))


@pytest.mark.slow
def test_form_fuzz_on_live_links_finds_no_server_error(open_portal: Any) -> None:
    """Random forms and headers posted to live links with their real form tokens (and
    sometimes without): never a 5xx; a reply is stored exactly when the answer says so."""
    app, client, tokens = open_portal
    forms = {t: form_of(client, t) for t in tokens}
    used: list[str] = []
    codes: list[int] = []

    @settings(max_examples=250, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(token=st.sampled_from(tokens), keep=st.booleans(), fresh=st.booleans(),
           fields=st.dictionaries(st.sampled_from(FORM_KEYS), form_values, max_size=8),
           headers=st.dictionaries(
               st.sampled_from(["origin", "content-type", "cookie", "accept-language",
                                "x-forwarded-for", "referer"]),
               st.sampled_from(["null", "https://evil.example", "http://127.0.0.1:8600",
                                "multipart/form-data", "text/plain", "lang=en", "lang=xx",
                                "application/x-www-form-urlencoded; charset=latin-1", ""]),
               max_size=3))
    def post(token: str, keep: bool, fresh: bool, fields: dict[str, str],
             headers: dict[str, str]) -> None:
        if fresh:
            page = client.get(f"/r/{token}")
            assert page.status_code in (200, 429)
            forms[token] = dict(FIELD.findall(page.text)) or forms[token]
        data = (forms[token] | fields) if keep else fields
        r = client.post(f"/r/{token}", data=data, headers=headers)
        assert r.status_code < 500, (r.status_code, data, headers)
        codes.append(r.status_code)
        check_headers(r)
        if r.status_code == 200:
            used.append(data.get("form_nonce", ""))

    post()
    with app.session() as s:
        stored = {r.submission for r in s.exec(select(Reply))}
    assert stored == set(used)
    assert {200, 403, 422} <= set(codes)  # the fuzz reached recording, CSRF and validation
