"""The dossier page a party opens from its read-only link, in real headless Chromium.

Served by the portal (uvicorn on loopback) under its own Content-Security-Policy: the
inline style sheet (allowed by hash) and the PNG charts (data URIs) load, nothing else
does, partner text shows as text. Screenshots go to test-output/.
"""

from __future__ import annotations

import threading
import time as clock
from datetime import date, time

import pytest
import uvicorn
from playwright.sync_api import sync_playwright

from config.bootstrap import bootstrap
from config.settings import Settings
from core.calendar import local_instant
from models.migrate import upgrade
from portal.app import create_app
from reviews import chart
from services.imports import import_agreement
from services.replies import record_reply
from services.reviews import assemble
from tests.conftest import QT
from tests.e2e.browser import ARGS, CHROMIUM, OUT, need_chromium
from tests.smtp_sink import free_port

TZ = "Asia/Ho_Chi_Minh"
HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
CODE = "QT-KHKT-2021-2025"


@pytest.fixture
def served(tmp_path):
    need_chromium()
    now = [local_instant(date(2022, 5, 18), time(0, 0), TZ)]
    port = free_port()
    app = bootstrap(Settings(data_dir=tmp_path, portal_url=f"http://127.0.0.1:{port}"),
                    clock=lambda: now[0])
    upgrade(app.engine)
    import_agreement(app, QT.read_bytes(), str(QT))
    with app.session(write=True) as s:
        for key, status, when, extra in (
                ("hoc-tap-suot-doi/so-gddt/2022", "done", date(2022, 12, 12),
                 {"values": {"gdht-dang-ky": 1200, "gdht-dat": 1100}, "note": HOSTILE}),
                ("hoc-tap-suot-doi/hlhpn/2022", "done", date(2022, 12, 28),
                 {"values": {"gdht-dang-ky": 5400, "gdht-dat": 4980}}),
                ("quy-khuyen-hoc/ldld/2022", "blocked", date(2022, 12, 10),
                 {"reason": "Chưa vận động được doanh nghiệp; đề xuất lùi sang quý I/2023"}),
                ("review-1/so-gddt", "done", date(2022, 11, 18), {})):
            record_reply(s, app, obligation_key=f"{CODE}/{key}", status=status,
                         at=local_instant(when, time(9, 0), TZ), source="test", **extra)
    now[0] = local_instant(date(2022, 12, 20), time(8, 0), TZ)
    with app.session(write=True) as s:
        url = assemble(s, app, CODE, 1, "final", now[0], tmp_path / "out").url
    server = uvicorn.Server(uvicorn.Config(create_app(app), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        clock.sleep(0.05)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


def test_dossier_page_in_chromium(served):
    OUT.mkdir(exist_ok=True)
    refused_requests: list[str] = []
    console: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 1500})
        page.on("requestfailed", lambda r: refused_requests.append(r.url))
        page.on("console", lambda m: console.append(m.text))
        response = page.goto(served)
        assert response is not None and response.status == 200
        assert page.title() == f"HỒ SƠ SƠ KẾT — {CODE} — Kỳ đánh giá 1"
        assert page.locator("h1").inner_text() == "HỒ SƠ SƠ KẾT"
        # The inline style sheet applied (its hash is in the CSP): Times New Roman, tables.
        assert "Times New Roman" in page.evaluate(
            "getComputedStyle(document.body).fontFamily")
        assert page.evaluate("getComputedStyle(document.querySelector('th')).backgroundColor"
                             ) == "rgb(231, 230, 230)"
        # Both charts decoded from their data URIs.
        sizes = page.evaluate("[...document.images].map(i => [i.complete, i.naturalWidth])")
        assert sizes == [[True, chart.WIDTH], [True, chart.WIDTH]]
        # The partner's markup is shown as text and never ran.
        assert page.evaluate("window.pwned") is None
        assert page.get_by_text(HOSTILE, exact=False).count() == 1
        assert page.get_by_text("đề xuất lùi sang quý I/2023", exact=False).count() >= 1
        row = page.locator("tr", has_text="Sở GD&ĐT").first.inner_text()
        # 2022 report and review report on time; the 2022-H1 report (15/07) missing.
        assert row.split("\t") == ["Sở GD&ĐT", "3", "2", "0", "1", "0", "66,67%"]
        page.screenshot(path=str(OUT / "dossier-html.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(OUT / "dossier-html-390.png"))
        browser.close()
    assert not [u for u in refused_requests if not u.startswith("data:")]
    assert not [m for m in console if "Content Security Policy" in m]


# Every word of the page's text on one line, or broken only after a hyphen or a slash
# (where line breaking may: "LĐ-/TB&XH"), never inside ("Tổn g", "Tuy ên"): the words
# broken elsewhere. A token longer than 40 characters (a pasted address, markup typed by
# a partner) fits no line on a phone and may break anywhere.
BROKEN_WORDS = """() => {
  const broken = [];
  const top = (node, i) => {
    const r = document.createRange();
    r.setStart(node, i);
    r.setEnd(node, i + 1);
    const box = [...r.getClientRects()].find(b => b.width > 0);
    return box ? Math.round(box.top) : null;
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const re = /\\S+/g;
    let m;
    while ((m = re.exec(node.data)) !== null) {
      if (m[0].length > 40) continue;
      for (let i = m.index + 1; i < m.index + m[0].length; i++) {
        const before = top(node, i - 1), here = top(node, i);
        if (before !== null && here !== null && here > before
            && !"-/".includes(node.data[i - 1])) { broken.push(m[0]); break; }
      }
    }
  }
  return broken;
}"""


def test_dossier_page_on_a_phone(served):
    """At 360 px no word is broken inside (the total row's "Tổng", parties' names), and
    the charts are their phone versions: the smallest chart text is 12 px or more on
    screen (the 800 px charts shrunk to the screen showed 4-5 px text)."""
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 360, "height": 780})
        assert page.goto(served).status == 200
        assert page.evaluate(BROKEN_WORDS) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        shown = page.evaluate("[...document.images].map(i => [i.complete, i.naturalWidth, "
                              "i.getBoundingClientRect().width])")
        assert [(done, natural) for done, natural, _ in shown] == [
            (True, chart.NARROW), (True, chart.NARROW)]
        # the phone charts' smallest text is 12 px at scale K: on screen 12 × K × shown/natural
        assert all(12 * chart.K * width / natural >= 10.5 for _, natural, width in shown), shown
        assert page.get_by_text("Tổng", exact=True).count() >= 1
        page.screenshot(path=str(OUT / "dossier-html-360.png"), full_page=True)
        for n, image in enumerate(page.locator("figure").all()):
            image.screenshot(path=str(OUT / f"dossier-chart-{n + 1}-360.png"))
        browser.close()
