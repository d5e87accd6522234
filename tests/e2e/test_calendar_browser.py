"""The reply page shows the contact's calendar feed link on a phone-sized screen (real
headless Chromium), and the link answers iCalendar."""

from __future__ import annotations

import threading
import time as clock
import urllib.request
from datetime import date, timedelta

import pytest
import uvicorn
from icalendar import Calendar
from sqlmodel import select

from models.links import feed_nonces, issue, issue_feeds, token_for
from models.tables import Contact, Obligation, Party
from portal.app import create_app
from tests.e2e.browser import ARGS, CHROMIUM, OUT, quang_tri_portal

TZ = "Asia/Ho_Chi_Minh"
KEY = "QT-KHKT-2021-2025/hoc-tap-suot-doi/so-gddt/2022"


@pytest.fixture
def served(tmp_path):
    app, now, port = quang_tri_portal(tmp_path)
    with app.session(write=True) as s:
        o = s.exec(select(Obligation).where(Obligation.key == KEY)).one()
        party = s.exec(select(Party).where(Party.key == "so-gddt")).one()
        focal = s.exec(select(Contact).where(Contact.party_id == party.id,
                                             Contact.role == "focal")).one()
        token = issue(s, app.secret_key, purpose="reply", now=now[0],
                      expires_at=o.deadline + timedelta(days=60), obligation_id=o.id,
                      contact_id=focal.id).token
        (lid,) = issue_feeds(s, app.secret_key, now=now[0], wanted={
            (party.agreement_id, party.id, focal.id): now[0] + timedelta(days=400)}).values()
        feed = token_for(app.secret_key, feed_nonces(s, [lid])[lid])
    server = uvicorn.Server(uvicorn.Config(create_app(app), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        clock.sleep(0.05)
    yield f"http://127.0.0.1:{port}/r/{token}", f"http://127.0.0.1:{port}/c/{feed}"
    server.should_exit = True
    thread.join(timeout=10)


def test_the_reply_page_shows_the_calendar_link_on_a_phone(served):
    from playwright.sync_api import sync_playwright

    reply, feed = served
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 360, "height": 780})
        page.goto(reply)
        card = page.locator("#calendar")
        assert card.is_visible()
        assert "Lịch hạn báo cáo của đơn vị" in card.inner_text()
        assert "Thêm lịch từ URL" in card.inner_text()
        assert card.locator("a").get_attribute("href") == feed
        assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scroll
        card.scroll_into_view_if_needed()
        page.screenshot(path=str(OUT / "portal-calendar-360.png"), full_page=True)
        page.goto(reply + "?lang=en")
        assert "Your agency's report deadlines" in page.locator("#calendar").inner_text()
        browser.close()
    with urllib.request.urlopen(feed) as answer:  # what a phone's calendar fetches
        assert answer.headers["Content-Type"] == "text/calendar; charset=utf-8"
        events = Calendar.from_ical(answer.read()).walk("VEVENT")
    (ev,) = [e for e in events if str(e["UID"]) == f"{KEY}@phoihop"]
    assert ev.decoded("DTSTART") == date(2022, 12, 15)
    assert str(ev["URL"]) == reply  # the contact's own reply link
