"""Hostile text everywhere it is shown: issue #6, item 11.

One agreement whose every free text (title, party names and short names, contact names,
commitment and report titles, indicator labels) is a payload of `tests/hostile.py`, and
partner replies through the real portal carrying every payload in every field a partner
fills (note, reason, the name of who answered, a text indicator's value, an attachment's
file name), plus two replies carrying all payloads at once. The ladder, the coordinators'
decisions, the review cycle (through Prefect flows on a local Prefect server) and the
outbox (to an aiosmtpd server on loopback) then put that text wherever it goes.

Every surface is opened in headless Chromium with the page's Content-Security-Policy
bypassed (the pages must be safe by escaping alone; CSP is the second line), every
request intercepted, and dialogs, frames, sockets and the `window.__pwned` marker
watched. A surface passes with 0 scripts run, 0 requests to another origin (nor any
unexpected one to its own), 0 live links outside the page's origin (or the portal's, for
an e-mail), none `javascript:`, and 0 event-handler attributes or risky attributes naming
the payloads' host in the DOM. Received e-mails carry no header a payload injected and
a one-line subject. Figures go to test-output/injection-figures.json.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time as clock
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from sqlmodel import col, select

from config.bootstrap import App, bootstrap
from config.settings import MailTransport, Settings
from core.calendar import local_instant
from core.parse import load_agreement
from models.links import LinkRefused, issue, token_of
from models.migrate import upgrade
from models.tables import Agreement, Contact, Link, Obligation, Party, Reply
from notifications.send import send_pending
from portal.app import create_app
from services import ladder as ladder_work
from services.decisions import is_decided, load
from services.imports import import_agreement
from tests import hostile
from tests.conftest import ROOT
from tests.e2e.browser import ARGS, CHROMIUM, OUT, need_chromium
from tests.smtp_sink import SmtpServer, free_port
from tests.unit.test_uploads import PDF_BYTES

TZ = "Asia/Ho_Chi_Minh"
CODE = "HOSTILE-2022"
REFUSED = "head1.p5@hostile.example"  # the mail server refuses it: an undeliverable notice
STATUSES = ("done", "in_progress", "blocked", "extension")
MAIL_ORIGIN = "http://mail.test"  # where the e-mails' HTML parts are opened
FIGURES: dict[str, Any] = {}
NAME = 250  # characters of a payload sent as a file name (a file system allows 255 bytes;
# a part header over python-multipart's 4 KiB is a malformed form: the portal's 400 page)


def _at(y: int, m: int, d: int, h: int = 8, mi: int = 0) -> datetime:
    return local_instant(date(y, m, d), time(h, mi), TZ)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# --- the world: everything a hostile agreement and hostile partners produce ---------------

@dataclass
class World:
    app: App
    portal: str
    reply_urls: dict[str, str]
    decision_urls: list[str]
    acted_urls: list[str]
    dossier_url: str
    mails: list[EmailMessage]
    ui: str
    artifacts: list[dict[str, Any]]
    flow_runs: list[dict[str, Any]]
    replies: int
    slots: dict[str, str]
    notes: dict[str, Any] = field(default_factory=dict)


def _form(client: httpx.Client, path: str) -> dict[str, str]:
    page = client.get(path)
    assert page.status_code == 200, page.text[:500]
    return {name: re.search(rf'name="{name}" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            for name in ("csrf", "form_nonce")}


def _reply(client: httpx.Client, token: str, status: str, text: str, filename: str) -> None:
    """One reply through the portal's form, `text` in every field a partner types."""
    fields = {"status": status, "reason": text, "note": text, "answered_by": text,
              "v-ghi-chu": text}
    if status == "in_progress":
        fields["percent"] = "40"
    if status == "extension":
        fields["until"] = "2023-01-20"  # 36 days: a coordinator must decide
    r = client.post(f"/r/{token}", data={**_form(client, f"/r/{token}"), **fields},
                    files={"attachment": (filename, PDF_BYTES, "application/pdf")})
    assert r.status_code == 200 and "Đã ghi nhận" in r.text, r.text[:3000]


def _decide(client: httpx.Client, token: str, comment: str) -> None:
    r = client.post(f"/d/{token}", data={**_form(client, f"/d/{token}"), "comment": comment})
    assert r.status_code == 200 and "Đã ghi nhận quyết định" in r.text, r.text[:3000]


def _reply_link(app: App, party: str, now: datetime) -> str:
    with app.session(write=True) as s:
        o = s.exec(select(Obligation).where(
            Obligation.key == f"{CODE}/c-text/{party}/2022")).one()
        focal = s.exec(select(Contact).join(Party, col(Party.id) == Contact.party_id).where(
            Party.agreement_id == o.agreement_id, Party.key == party,
            Contact.role == "focal")).one()
        return issue(s, app.secret_key, purpose="reply", now=now,
                     expires_at=o.deadline + timedelta(days=60), obligation_id=o.id,
                     contact_id=focal.id).token


def _api(ui: str, path: str, body: dict[str, Any]) -> Any:
    r = httpx.post(f"{ui}/api/{path}", json=body, timeout=30)
    r.raise_for_status()
    return r.json()


BASELINE = '''
from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

@flow(name="baseline")
def baseline():
    """Artifacts with no partner text: what the UI requests and links on its own."""
    create_markdown_artifact("# Baseline\\n\\nXin chào", key="baseline-markdown",
                             description="Baseline")
    create_table_artifact([{"Bên / Party": "Sở GD&ĐT"}], key="baseline-table",
                          description="Baseline")

baseline()
'''


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    need_chromium()
    from flows.local import LocalStack

    tmp = tmp_path_factory.mktemp("injection")
    saved_env = dict(os.environ)
    for k in ("PHOIHOP_CONFIG", "PHOIHOP_DATABASE_URL", "PREFECT_API_URL"):
        os.environ.pop(k, None)
    smtp = SmtpServer()
    smtp.sink.refuse[REFUSED] = "550 5.1.1 no such user"
    port = free_port()
    portal = f"http://127.0.0.1:{port}"
    settings = Settings(data_dir=tmp, database_url=f"sqlite:///{tmp / 'phoihop.db'}",
                        portal_url=portal, portal_rate_per_address=100_000,
                        mail=MailTransport(port=smtp.port))
    now = [_at(2022, 5, 18, 0)]
    app = bootstrap(settings, clock=lambda: now[0])
    upgrade(app.engine)
    raw, slots = hostile.agreement_yaml(CODE)
    import_agreement(app, raw, "hostile.yaml")
    server = uvicorn.Server(uvicorn.Config(create_app(app), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    stack = LocalStack(settings, free_port())
    flow_env = {**stack.env, "PHOIHOP_MAIL__PORT": str(smtp.port), "PHOIHOP_PORTAL_URL": portal}

    def flows(calls: str) -> None:
        script = "from flows.ladder import ladder\nfrom flows.review import review\n" + calls
        out = subprocess.run([sys.executable, "-c", script], env=flow_env, cwd=ROOT,
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]

    def ladder_step(when: datetime) -> None:
        now[0] = when
        ladder_work.fire_steps(app, when, CODE)
        send_pending(app, when, "test")

    smtp.__enter__()
    try:
        thread.start()
        while not server.started:
            clock.sleep(0.05)
        stack.start_server()
        ladder_step(_at(2022, 11, 15))  # requests for the reports due 15/12/2022
        now[0] = _at(2022, 12, 1, 9)
        client = httpx.Client(base_url=portal, timeout=30)
        tokens = {p: _reply_link(app, p, now[0]) for p in (*hostile.PARTNERS, "hkh")}
        replies = 0
        for i, payload in enumerate(hostile.PAYLOADS):
            _reply(client, tokens[hostile.PARTNERS[i % 4]], STATUSES[(i // 4) % 4],
                   payload.text, payload.text[:NAME] + ".pdf")
            replies += 1
        everything = "\n\n".join(p.text for p in hostile.PAYLOADS)
        _reply(client, tokens["p5"], "done", everything, everything[:NAME] + ".pdf")
        _reply(client, tokens["hkh"], "extension", everything, everything[-NAME:] + ".pdf")
        replies += 2
        send_pending(app, now[0], "test")  # receipts, submissions, extension requests
        ladder_step(_at(2022, 12, 8))  # reminders
        flows(f"review(agreement={CODE!r}, at={_at(2022, 12, 13).isoformat()!r})")  # draft

        ladder_step(_at(2022, 12, 15))
        now[0] = _at(2022, 12, 16, 9)
        with app.session() as s:  # a coordinator returns one report and denies one request
            links = s.exec(select(Link).where(col(Link.purpose).in_(
                ("accept", "return", "approve", "deny"))).order_by(col(Link.id))).all()
            pending = []
            for link in links:
                token = token_of(link, app.secret_key)
                try:
                    if not is_decided(s, load(s, token, now[0])):
                        pending.append((link, token))
                except LinkRefused:
                    continue
        coordinator = min(link.contact_id or 0 for link, _t in pending)
        acted: list[tuple[Link, str]] = []
        for purpose in ("return", "deny"):
            link, token = next((link, t) for link, t in pending if link.purpose == purpose
                               and link.contact_id == coordinator and link.obligation_id
                               not in {x.obligation_id for x, _t in acted})
            _decide(client, token, everything)
            acted.append((link, token))
        send_pending(app, now[0], "test")  # the decisions, to the partners

        ladder_step(_at(2022, 12, 20))  # escalation to heads: one is refused
        flows(f"review(agreement={CODE!r}, at={_at(2022, 12, 20).isoformat()!r})")  # final
        flows(f"ladder(agreement={CODE!r}, at={_at(2022, 12, 29).isoformat()!r})")
        flows(BASELINE)
        now[0] = _at(2022, 12, 29, 9)
        send_pending(app, now[0], "test")  # the undeliverable notice, if still waiting

        with app.session() as s:
            agreement = s.exec(select(Agreement).where(Agreement.code == CODE)).one()
            dossier = s.exec(select(Link).where(Link.purpose == "dossier",
                                                Link.agreement_id == agreement.id)).one()
            decisions = [f"{portal}/d/{token_of(link, app.secret_key)}" for link in s.exec(
                select(Link).where(col(Link.purpose).in_(("accept", "approve")),
                                   Link.contact_id == coordinator).order_by(col(Link.id)))]
            recorded = len(s.exec(select(Reply.id)).all())
        assert recorded == replies
        artifacts = _api(stack.ui_url, "artifacts/filter", {"limit": 200, "sort": "ID_DESC"})
        runs = _api(stack.ui_url, "flow_runs/filter", {"limit": 50})
        client.close()
        yield World(
            app=app, portal=portal,
            reply_urls={p: f"{portal}/r/{t}" for p, t in tokens.items()},
            decision_urls=decisions, acted_urls=[f"{portal}/d/{t}" for _l, t in acted],
            dossier_url=f"{portal}/dossier/{token_of(dossier, app.secret_key)}",
            mails=list(smtp.sink.messages),  # type: ignore[arg-type]
            ui=stack.ui_url, artifacts=artifacts, flow_runs=runs, replies=replies, slots=slots)
    finally:
        stack.stop()
        server.should_exit = True
        thread.join(timeout=10)
        smtp.__exit__()
        app.engine.dispose()
        os.environ.clear()
        os.environ.update(saved_env)
        OUT.mkdir(exist_ok=True)
        (OUT / "injection-figures.json").write_text(
            json.dumps(FIGURES, ensure_ascii=False, indent=2), encoding="utf-8")


# --- looking at a page in Chromium ---------------------------------------------------------

DOM = r"""() => {
  const host = /evil\.example|__pwned|javascript:|vbscript:|data:text/i;
  const risky = new Set(['href', 'src', 'srcset', 'action', 'formaction', 'poster', 'data',
    'background', 'style', 'xlink:href', 'content', 'http-equiv', 'srcdoc', 'ping',
    'codebase', 'manifest', 'cite', 'longdesc', 'lowsrc', 'dynsrc', 'icon', 'archive',
    'usemap']);
  const out = {handlers: [], attrs: [], links: [], embeds: [], scripts: document.scripts.length,
               text: document.body ? document.body.innerText : ''};
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      const n = a.name.toLowerCase(), shown = `${el.tagName} ${n}=${a.value.slice(0, 80)}`;
      if (n.startsWith('on')) out.handlers.push(shown);
      else if (risky.has(n) && host.test(a.value)) out.attrs.push(shown);
    }
  }
  const live = 'iframe, frame, object, embed, base, meta[http-equiv]';
  for (const el of document.querySelectorAll(live)) out.embeds.push(el.outerHTML.slice(0, 120));
  for (const el of document.querySelectorAll('a[href], area[href], form[action], [formaction]')) {
    const raw = el.getAttribute('href') ?? el.getAttribute('action')
      ?? el.getAttribute('formaction');
    try {
      const u = new URL(raw, document.baseURI);
      out.links.push([u.protocol, u.origin, u.href.slice(0, 120)]);
    } catch (e) { out.links.push(['bad:', '', String(raw).slice(0, 120)]); }
  }
  return out;
}"""


@dataclass
class Seen:
    """What one page did. `hits()` is every sign of hostile text come alive."""

    surface: str
    url: str
    dialogs: list[str] = field(default_factory=list)
    pwned: Any = None
    foreign: list[str] = field(default_factory=list)  # requests to other origins
    unexpected: list[str] = field(default_factory=list)  # own-origin requests not expected
    schemes: list[str] = field(default_factory=list)  # data:/blob: loads not expected
    frames: list[str] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)  # live links outside the allowed origins
    handlers: list[str] = field(default_factory=list)
    attrs: list[str] = field(default_factory=list)
    embeds: list[str] = field(default_factory=list)
    scripts: int = 0
    text: str = ""

    def hits(self) -> dict[str, list[Any]]:
        found = {"dialogs": self.dialogs, "pwned": [self.pwned] if self.pwned else [],
                 "foreign requests": self.foreign, "unexpected requests": self.unexpected,
                 "data/blob loads": self.schemes, "frames": self.frames,
                 "sockets": self.sockets, "links": self.links,
                 "handler attributes": self.handlers, "risky attributes": self.attrs,
                 "embedded elements": self.embeds}
        return {k: v for k, v in found.items() if v}


class Inspector:
    """One browser context: every request routed through `_route`, listeners per page."""

    def __init__(self, browser: Any, surface: str, origin: str, *,
                 link_origins: frozenset[str] = frozenset(),
                 own_paths: frozenset[str] | None = frozenset(),
                 schemes: tuple[str, ...] = (), allowed_foreign: frozenset[str] = frozenset(),
                 pages: dict[str, str] | None = None,
                 viewport: dict[str, int] | None = None) -> None:
        self.surface, self.origin = surface, origin
        self.link_origins = link_origins | {origin}
        self.own_paths = own_paths  # None: any request to the own origin is expected
        self.schemes, self.allowed_foreign = schemes, allowed_foreign
        self.pages = pages or {}
        self.context = browser.new_context(viewport=viewport or {"width": 1200, "height": 900},
                                           bypass_csp=True, service_workers="block")
        self.context.route("**/*", self._route)
        self.seen: list[Seen] = []
        self.current: Seen | None = None

    def _route(self, route: Any) -> None:
        url = route.request.url
        seen = self.current
        if url in self.pages:
            route.fulfill(status=200, content_type="text/html; charset=utf-8",
                          body=self.pages[url])
            return
        target = _origin(url)
        is_document = seen is not None and url == seen.url
        if target == self.origin and (is_document or self.own_paths is None
                                      or urlsplit(url).path in self.own_paths):
            route.continue_()
            return
        if seen is not None:
            if target == self.origin:
                seen.unexpected.append(url[:160])
            elif target not in self.allowed_foreign:
                seen.foreign.append(url[:160])
        route.abort()

    def open(self, url: str, *, wait_text: str | None = None,
             act: Callable[[Any], None] | None = None, screenshot: str | None = None) -> Seen:
        seen = Seen(self.surface, url)
        self.current = seen
        page = self.context.new_page()

        def on_dialog(dialog: Any) -> None:
            seen.dialogs.append(f"{dialog.type}: {dialog.message}"[:120])
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("websocket", lambda ws: None if _origin(ws.url.replace("ws", "http", 1))
                == self.origin else seen.sockets.append(ws.url))

        def on_request(request: Any) -> None:
            u = request.url
            if u.startswith(("data:", "blob:")) and not u.startswith(self.schemes):
                seen.schemes.append(u[:80])

        page.on("request", on_request)
        page.goto(url, wait_until="load")
        if wait_text is not None:
            page.wait_for_function(
                "t => document.body && document.body.innerText.includes(t)", arg=wait_text,
                timeout=45_000)
            page.wait_for_timeout(1500)  # what renders after the text: images, widgets
        if act is not None:
            act(page)
            page.wait_for_load_state("load")
        page.wait_for_timeout(250)  # onerror/ontoggle/onfocus handlers fire after load
        seen.pwned = page.evaluate("window.__pwned || (window.parent && window.parent.__pwned)")
        seen.frames = [f.url[:120] for f in page.frames if f != page.main_frame]
        dom = page.evaluate(DOM)
        seen.handlers, seen.attrs, seen.embeds = dom["handlers"], dom["attrs"], dom["embeds"]
        seen.scripts, seen.text = dom["scripts"], dom["text"]
        for protocol, origin, href in dom["links"]:
            if protocol not in ("http:", "https:") or origin not in self.link_origins:
                seen.links.append(f"{protocol} {href}")
        if screenshot:
            OUT.mkdir(exist_ok=True)
            page.screenshot(path=str(OUT / screenshot), full_page=screenshot.endswith("-full.png"))
        page.close()
        self.current = None
        self.seen.append(seen)
        return seen

    def close(self) -> None:
        self.context.close()


def _summary(name: str, seen: list[Seen], **extra: Any) -> dict[str, Any]:
    hits = {s.url[:90]: s.hits() for s in seen if s.hits()}
    kinds: dict[str, int] = {}
    for h in hits.values():
        for kind, found in h.items():
            kinds[kind] = kinds.get(kind, 0) + len(found)
    FIGURES[name] = {"pages": len(seen), "hits": sum(kinds.values()), "pages_with_hits":
                     len(hits), "hits_by_kind": kinds, **extra}
    if hits:
        FIGURES[name]["distinct"] = sorted({str(x)[:120] for h in hits.values()
                                            for found in h.values() for x in found})
    print(f"\n{name}: {json.dumps(FIGURES[name], ensure_ascii=False)}")
    return hits


@pytest.fixture(scope="module")
def browser(world: World) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _shown_as_text(seen: Seen, names: tuple[str, ...]) -> list[str]:
    """Payloads that should be on the page as typed (escaped, not dropped) and are not."""
    return [n for n in names if hostile.by_name(n).text not in seen.text]


# --- the surfaces --------------------------------------------------------------------------

def test_agreement_files_refuse_line_breaks_and_control_characters():
    """CR/LF and other control characters cannot reach a name, subject or header through an
    agreement file: the format refuses them (they are tested in partner fields instead)."""
    unsafe = [p for p in hostile.PAYLOADS if not p.agreement_safe]
    assert {"crlf-header", "lf-header", "control-chars", "crlf-body"} <= {p.name for p in unsafe}
    lines = hostile.agreement_yaml(CODE)[0].decode().splitlines()
    refused = 0
    for p in unsafe:
        if not hostile.CONTROL.search(p.text):
            continue  # only blanks around it: stripped, not refused
        bad = [f"title: {json.dumps(p.text)}" if x.startswith("title: ") else x for x in lines]
        agreement, problems = load_agreement("\n".join(bad).encode(), "bad.yaml")
        assert agreement is None and any("control character" in str(x) for x in problems), p.name
        refused += 1
    assert refused >= 4
    assert len(hostile.PAYLOADS) >= 30
    FIGURES["corpus"] = {"payloads": len(hostile.PAYLOADS),
                         "agreement_safe": len(hostile.agreement_safe())}


def test_table_artifact_cells_are_plain_names_or_closed_code_spans():
    """Prefect's default UI renders a table artifact's cell as markdown (raw HTML kept):
    every agreement or partner text put in a cell is a plain name or a code span that no
    backtick run in it closes, on one line (regression: live images and links there)."""
    from core.text import cell
    from flows.view import ViewRow, table_rows

    active = re.compile(r"[<>\[\]!`*_~|\\#=@{}]|://|www\.|&#?\w+;")
    for p in hostile.PAYLOADS:
        shown = cell(p.text)
        assert not re.search(r"[\r\n\x00-\x1f\u2028\u2029\x85]", shown), p.name
        fence = re.match(r"`+", shown)
        if fence is None:
            assert not active.search(shown) and shown[:1].isalpha(), p.name
            continue
        inside = shown[len(fence.group()):-len(fence.group())]
        assert shown.endswith(" " + fence.group()) and inside.startswith(" "), p.name
        assert max(map(len, re.findall(r"`+", inside)), default=0) < len(fence.group()), p.name
    assert cell("Sở GD&ĐT") == "Sở GD&ĐT" and cell("Hội LHPN tỉnh") == "Hội LHPN tỉnh"
    row = ViewRow("p1", hostile.by_name("img-onerror").text, "c/p1/2022", date(2022, 12, 15),
                  "overdue", 3, 1)
    assert table_rows([row])[0]["Bên / Party"] == cell(row.party_name) != row.party_name


def test_chart_labels_of_any_text_draw_in_few_measurements():
    """A paragraph separator (U+2029, U+0085: an agreement file may hold them) made
    Pillow's Raqm layout fail and the whole dossier with it; a long label was cut one
    character at a time, a 6,000-character one taking seconds (regressions)."""
    from reviews.chart import Canvas

    canvas = Canvas(100, 100)
    measured = 0
    textlength = canvas.draw.textlength

    def counted(*args: Any, **kw: Any) -> float:
        nonlocal measured
        measured += 1
        return textlength(*args, **kw)

    canvas.draw.textlength = counted  # type: ignore[method-assign]
    for p in hostile.PAYLOADS:
        measured = 0
        label = canvas.fit(p.text, 12, 300, bold=True)
        canvas.text((0, 0), label, 12, bold=True)
        assert measured <= 2 + len(p.text).bit_length(), (p.name, measured)
    assert canvas.fit("Số hộ đạt " * 100, 12, 120).endswith("…")


@pytest.mark.proof  # the module's world: ~6 min, shared by its tests (make proofs)
def test_portal_reply_pages(world: World, browser: Any):
    """The partner's reply page: every earlier reply in the history, and the form sent back
    with errors (what was typed echoed into inputs and text areas)."""
    ins = Inspector(browser, "portal", world.portal, own_paths=frozenset({"/static/portal.css"}),
                    viewport={"width": 390, "height": 844})
    shown: dict[str, Seen] = {}
    for party, url in world.reply_urls.items():
        shown[party] = ins.open(url, screenshot=f"injection-portal-{party}.png")
    typed_in: dict[str, str] = {}
    fields = {"#reason": "script", "#note": "close-pre-textarea", "#answered_by": "attr-breakout",
              "#v-ghi-chu": "single-quote-attr"}

    def typed(page: Any) -> None:
        page.select_option("#status", "in_progress")
        page.fill("#percent", "một trăm")  # not a number: the form comes back (422)
        for selector, name in fields.items():
            page.fill(selector, hostile.by_name(name).text)
        page.click("button[type=submit]")
        page.wait_for_selector(".error")
        typed_in.update({sel: page.input_value(sel) for sel in fields})

    with world.app.session() as s:
        before = len(s.exec(select(Reply.id)).all())
    ins.open(world.reply_urls["p1"], act=typed, screenshot="injection-portal-422.png")
    with world.app.session() as s:
        assert len(s.exec(select(Reply.id)).all()) == before  # nothing recorded
    ins.close()
    hits = _summary("portal_reply", ins.seen, replies_through_portal=world.replies)
    assert hits == {}
    assert all(s.scripts == 0 for s in ins.seen)
    # what was typed comes back as typed, inert
    assert typed_in == {sel: hostile.by_name(n).text for sel, n in fields.items()}
    # shown as text, not dropped: the all-payload replies in their histories, and every
    # per-payload reply in one of the four others
    html_ones = ("script", "img-onerror", "js-link-html", "iframe", "form", "attr-breakout",
                 "markdown-link", "meta-refresh")
    assert _shown_as_text(shown["p5"], html_ones) == []
    assert _shown_as_text(shown["hkh"], html_ones) == []
    four = [shown[p] for p in hostile.PARTNERS[:4]]
    assert [n for n in html_ones if all(n in _shown_as_text(x, (n,)) for x in four)] == []


@pytest.mark.proof  # the module's world: ~6 min, shared by its tests (make proofs)
def test_decision_pages(world: World, browser: Any):
    """The coordinator's confirmation pages (every accept/approve link of one coordinator)
    and the partner's history showing the coordinator's decision comment."""
    ins = Inspector(browser, "decision", world.portal,
                    own_paths=frozenset({"/static/portal.css"}),
                    viewport={"width": 390, "height": 844})
    confirm = 0
    for n, url in enumerate(world.decision_urls):
        seen = ins.open(url, screenshot="injection-decision.png" if n == 0 else None)
        confirm += "Kiểm tra nội dung dưới đây" in seen.text
    for url in world.acted_urls:
        ins.open(url)
    ins.close()
    hits = _summary("decision", ins.seen, confirmation_pages=confirm)
    assert hits == {}
    assert confirm >= 2  # the two all-payload replies at least are still to decide
    assert all(s.scripts == 0 for s in ins.seen)


@pytest.mark.proof  # the module's world: ~6 min, shared by its tests (make proofs)
def test_dossier_page(world: World, browser: Any):
    """The review dossier page the portal serves (reviews/html.py): party names, titles,
    labels, notes and blocked reasons."""
    ins = Inspector(browser, "dossier", world.portal, own_paths=frozenset(),
                    schemes=("data:image/png",))
    seen = ins.open(world.dossier_url, screenshot="injection-dossier.png")
    ins.close()
    hits = _summary("dossier", ins.seen)
    assert hits == {}
    assert seen.scripts == 0
    assert _shown_as_text(seen, (world.slots["title"], world.slots["p1.name"])) == []


@pytest.mark.proof  # the module's world: ~6 min, shared by its tests (make proofs)
def test_mail_headers(world: World):
    """CR/LF, NEL, U+2028/2029 and encoded words in names, titles and typed text: every
    received message has only our header names, once each, and a one-line subject."""
    bad: list[str] = []
    for m in world.mails:
        names = [k.lower() for k in m]
        extra = set(names) - hostile.MAIL_HEADERS
        if extra or len(names) != len(set(names)):
            bad.append(f"{m['Subject']!s:.60}: headers {names}")
        subject, to = str(m["Subject"]), str(m["To"])
        if any(c in subject + to for c in "\r\n"):
            bad.append(f"multi-line header: {subject[:60]!r} / {to[:60]!r}")
        for part in m.walk():
            if part is not m and {k.lower() for k in part} - hostile.MAIL_HEADERS:
                bad.append(f"{subject[:60]}: part headers {list(part.keys())}")
    FIGURES["mail_headers"] = {"messages": len(world.mails), "hits": len(bad)}
    print(f"\nmail headers: {len(world.mails)} messages, {len(bad)} hits")
    assert bad == []
    subjects = [str(m["Subject"]) for m in world.mails]
    # every kind of message that shows hostile text arrived
    kinds = {"receipt": "Đã ghi nhận trả lời", "submission": "đã nộp chờ xem xét",
             "extension_request": "gia hạn chờ duyệt", "ladder": "cần báo cáo",
             "host_notice": "Đơn vị chủ trì", "dossier": "Hồ sơ sơ kết",
             "decision returned": "trả lại để bổ sung", "decision denied": "Không đồng ý gia hạn",
             "undeliverable": "Không gửi được thư tới"}
    counted = {k: sum(v in s for s in subjects) for k, v in kinds.items()}
    FIGURES["mail_headers"]["by_kind"] = counted
    assert [k for k, n in counted.items() if n == 0] == []


@pytest.mark.proof  # the module's world: ~6 min, shared by its tests (make proofs)
def test_mail_html_bodies(world: World, browser: Any):
    """Every received message's HTML part, opened as a page of its own (no CSP: a mail
    client may not have one). Links may point only at the portal."""
    pages = {}
    for n, m in enumerate(world.mails):
        body = m.get_body(("html",))
        if body is not None:
            pages[f"{MAIL_ORIGIN}/{n}.html"] = body.get_content()
    ins = Inspector(browser, "mail", MAIL_ORIGIN, link_origins=frozenset({world.portal}),
                    own_paths=frozenset(), pages=pages)
    shots = {"Đã ghi nhận trả lời": "receipt", "gia hạn chờ duyệt": "extension-request",
             "đã nộp chờ xem xét": "submission", "cần báo cáo": "ladder",
             "trả lại để bổ sung": "decision", "Không gửi được": "undeliverable",
             "Hồ sơ sơ kết": "dossier"}
    for n, m in enumerate(world.mails):
        url = f"{MAIL_ORIGIN}/{n}.html"
        if url not in pages:
            continue
        name = next((f"injection-mail-{v}.png" for k, v in list(shots.items())
                     if k in str(m["Subject"])), None)
        if name:
            shots = {k: v for k, v in shots.items() if f"-{v}.png" != name}
        ins.open(url, screenshot=name)
    ins.close()
    hits = _summary("mail_html", ins.seen, messages=len(world.mails))
    assert hits == {}
    assert len(pages) == len(world.mails) and all(s.scripts == 0 for s in ins.seen)


def _artifact_text(a: dict[str, Any]) -> str:
    """A text the artifact's page shows once its data has rendered."""
    if a["type"] == "table":
        rows = json.loads(a["data"]) if isinstance(a["data"], str) else a["data"]
        return next(iter(rows[0])) if rows else a["key"]
    first = a["data"].splitlines()[0]
    return re.sub(r"[#`*]", "", first).strip()[:40]


@pytest.mark.proof  # the module's world: ~6 min, shared by its tests (make proofs)
def test_prefect_ui_artifacts(world: World, browser: Any):
    """Every artifact the flows published (ladder summary and obligations, the dossier's
    markdown and tables, draft and final), in both of Prefect's UIs: the artifact pages,
    the key pages, the artifacts list and the flow runs' pages. What the UI requests and
    links on its own is measured on baseline artifacts without partner text."""
    ours = [a for a in world.artifacts if not a["key"].startswith("baseline")
            and a["type"] in ("markdown", "table")]
    base = [a for a in world.artifacts if a["key"].startswith("baseline")]
    assert {a["key"] for a in ours} >= {
        "hostile-2022-summary", "hostile-2022-obligations", "dossier-hostile-2022-c1",
        "dossier-hostile-2022-c1-parties", "dossier-hostile-2022-c1-indicators"}
    seen_all: list[Seen] = []
    own: dict[str, list[str]] = {}
    for ui, prefix in (("v1", ""), ("v2", "/v2")):
        probe = Inspector(browser, f"prefect-{ui}-baseline", world.ui, own_paths=None,
                          schemes=(f"blob:{world.ui}",), allowed_foreign=frozenset())
        for a in base:
            probe.open(f"{world.ui}{prefix}/artifacts/artifact/{a['id']}",
                       wait_text=_artifact_text(a))
        probe.close()
        foreign = frozenset(_origin(u) for s in probe.seen for u in s.foreign)
        chrome_links = frozenset(link.split(" ", 1)[1] for s in probe.seen for link in s.links)
        own[ui] = sorted(foreign) + sorted(chrome_links)
        ins = Inspector(browser, f"prefect-{ui}", world.ui, own_paths=None,
                        schemes=(f"blob:{world.ui}",), allowed_foreign=foreign,
                        link_origins=frozenset(_origin(u) for u in chrome_links))
        for a in ours:
            ins.open(f"{world.ui}{prefix}/artifacts/artifact/{a['id']}",
                     wait_text=_artifact_text(a),
                     screenshot=f"injection-prefect-{ui}-{a['key']}-full.png")
        for key in sorted({a["key"] for a in ours}):
            ins.open(f"{world.ui}{prefix}/artifacts/key/{key}", wait_text=f"Created {key}")
        ins.open(f"{world.ui}{prefix}/artifacts", wait_text="hostile-2022-summary")
        for run in world.flow_runs:
            if run["flow_id"] and run["name"]:
                ins.open(f"{world.ui}{prefix}/runs/flow-run/{run['id']}", wait_text=run["name"])
        ins.close()
        seen_all += ins.seen
        dossier = next(s for s in ins.seen if "/artifacts/artifact/" in s.url and any(
            a["key"] == "dossier-hostile-2022-c1" and a["id"] in s.url for a in ours))
        assert _shown_as_text(dossier, (world.slots["title"],)) == [], ui
    hits = _summary("prefect_ui", seen_all, artifacts=len(ours),
                    ui_own_requests_and_links=own)
    assert hits == {}
