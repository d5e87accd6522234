"""A coordinator approves an extension request on its confirmation page, in headless
Chromium at phone width: the page changes nothing until the button is pressed."""

from __future__ import annotations

import threading
import time as clock
from datetime import date

import pytest
import uvicorn
from sqlmodel import select

from models.links import token_of
from models.tables import Link, Obligation, Reply
from portal.app import create_app
from services.replies import record_reply
from tests.e2e.browser import ARGS, CHROMIUM, OUT, quang_tri_portal

TZ = "Asia/Ho_Chi_Minh"
KEY = "QT-KHKT-2021-2025/hoc-tap-suot-doi/so-gddt/2022"


def _due(app) -> date:
    with app.session() as s:
        return s.exec(select(Obligation.due).where(Obligation.key == KEY)).one()


@pytest.fixture
def served(tmp_path):
    app, now, port = quang_tri_portal(tmp_path)
    with app.session(write=True) as s:
        # 30/12/2022 is 15 days past the due date: more than granted automatically
        record_reply(s, app, obligation_key=KEY, status="extension", at=now[0],
                     until=date(2022, 12, 30), answered_by="Lê Thị Hoa",
                     reason="Chờ số liệu <b>cấp xã</b>", source="portal")
        link = s.exec(select(Link).where(Link.purpose == "approve")).one()
        token = token_of(link, app.secret_key)
    server = uvicorn.Server(uvicorn.Config(create_app(app), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        clock.sleep(0.05)
    yield app, f"http://127.0.0.1:{port}/d/{token}"
    server.should_exit = True
    thread.join(timeout=10)


def test_coordinator_approves_an_extension(served):
    from playwright.sync_api import sync_playwright

    app, url = served
    assert _due(app) == date(2022, 12, 15)
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 360, "height": 780})
        page.goto(url)
        body = page.content()
        assert "Đồng ý gia hạn" in body and "30/12/2022" in body and "Lê Thị Hoa" in body
        assert "Chờ số liệu &lt;b&gt;cấp xã&lt;/b&gt;" in body  # shown as typed, inert
        assert page.locator("pre.note b").count() == 0
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.screenshot(path=str(OUT / "decision-confirm-360.png"), full_page=True)
        page.reload()
        assert _due(app) == date(2022, 12, 15)  # opening the page changed nothing

        page.fill("#comment", "Đồng ý, lần này là lần cuối")
        page.click("button[type=submit]")
        assert "Đã ghi nhận quyết định" in page.content()
        assert "hạn mới: 30/12/2022" in page.content()
        page.screenshot(path=str(OUT / "decision-done-360.png"), full_page=True)

        page.goto(url)  # the same link again
        assert "Việc này đã được quyết định" in page.content()
        page.screenshot(path=str(OUT / "decision-already-360.png"), full_page=True)
        browser.close()
    assert _due(app) == date(2022, 12, 30)
    with app.session() as s:
        reply = s.exec(select(Reply)).one()
    assert (reply.decision, reply.decision_comment) == ("granted", "Đồng ý, lần này là lần cuối")
