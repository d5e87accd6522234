"""A partner answers a reply link on a phone-sized screen in real headless Chromium."""

from __future__ import annotations

import threading
import time as clock
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from sqlmodel import select

from models.links import issue
from models.tables import Contact, Obligation, Party, Reply
from portal.app import create_app
from tests.e2e.browser import ARGS, CHROMIUM, OUT, quang_tri_portal

TZ = "Asia/Ho_Chi_Minh"


@pytest.fixture
def served(tmp_path):
    app, now, port = quang_tri_portal(tmp_path)
    with app.session(write=True) as s:
        o = s.exec(select(Obligation).where(
            Obligation.key == "QT-KHKT-2021-2025/hoc-tap-suot-doi/so-gddt/2022")).one()
        focal = s.exec(select(Contact).join(Party, Party.id == Contact.party_id).where(
            Party.key == "so-gddt", Contact.role == "focal")).one()
        token = issue(s, app.secret_key, purpose="reply", now=now[0],
                      expires_at=o.deadline + timedelta(days=60), obligation_id=o.id,
                      contact_id=focal.id).token
    server = uvicorn.Server(uvicorn.Config(create_app(app), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        clock.sleep(0.05)
    yield app, f"http://127.0.0.1:{port}/r/{token}"
    server.should_exit = True
    thread.join(timeout=10)


def test_phone_reply_with_errors_then_success(served):
    from playwright.sync_api import sync_playwright

    app, url = served
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 360, "height": 780})
        page.goto(url)
        assert "Sở Giáo dục và Đào tạo tỉnh Quảng Trị" in page.content()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scroll
        page.screenshot(path=str(OUT / "portal-form-360.png"), full_page=True)

        page.select_option("#status", "done")
        page.fill("#v-gdht-dang-ky", "100")
        page.fill("#v-gdht-dat", "150")
        page.click("button[type=submit]")
        assert page.locator(".error").first.is_visible()
        assert page.input_value("#v-gdht-dat") == "150"  # entered values kept
        page.screenshot(path=str(OUT / "portal-errors-360.png"), full_page=True)
        with app.session() as s:
            assert s.exec(select(Reply)).all() == []

        page.fill("#v-gdht-dat", "90")
        page.fill("#answered_by", "Lê Thị Hoa")
        page.fill("#note", "<b>đã</b> gửi bản giấy")
        page.click("button[type=submit]")
        assert "Đã ghi nhận trả lời" in page.content()
        page.screenshot(path=str(OUT / "portal-done-360.png"), full_page=True)
        browser.close()
    with app.session() as s:
        (reply,) = s.exec(select(Reply)).all()
    assert reply.status == "done" and reply.values["gdht-dat"] == 90
    assert reply.note == "<b>đã</b> gửi bản giấy"


def test_phone_reply_with_an_attachment(served, tmp_path):
    """A wrong file comes back next to its field; a PDF is recorded, listed and downloaded."""
    from playwright.sync_api import sync_playwright

    from portal.uploads import folder_of

    app, url = served
    OUT.mkdir(exist_ok=True)
    fake = tmp_path / "bao-cao.pdf"
    fake.write_bytes(b"<html><script>alert(1)</script></html>")  # named .pdf, is not one
    real = tmp_path / "Báo cáo kết quả 2022.pdf"
    real.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 360, "height": 780},
                                      accept_downloads=True)
        page = context.new_page()
        page.goto(url)
        assert page.locator("#attachment").is_visible()
        page.select_option("#status", "done")
        page.fill("#v-gdht-dang-ky", "1200")
        page.fill("#answered_by", "Lê Thị Hoa")
        page.set_input_files("#attachment", str(fake))
        page.click("button[type=submit]")
        error = page.locator("#attachment ~ .error").first
        assert error.is_visible() and "Chỉ nhận tệp PDF" in error.inner_text()
        assert page.input_value("#v-gdht-dang-ky") == "1200"  # entered values kept
        assert page.input_value("#answered_by") == "Lê Thị Hoa"
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.screenshot(path=str(OUT / "portal-attachment-error-360.png"), full_page=True)
        with app.session() as s:
            assert s.exec(select(Reply)).all() == []

        page.set_input_files("#attachment", str(real))
        page.click("button[type=submit]")
        assert "Đã ghi nhận trả lời" in page.content()
        page.goto(url)
        link = page.locator(".history .file a")
        assert link.inner_text() == "Báo cáo kết quả 2022.pdf"
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.screenshot(path=str(OUT / "portal-attachment-360.png"), full_page=True)
        with page.expect_download() as got:
            link.click()
        download = got.value
        assert download.suggested_filename == "Báo cáo kết quả 2022.pdf"
        assert Path(download.path()).read_bytes() == real.read_bytes()
        browser.close()
    with app.session() as s:
        (reply,) = s.exec(select(Reply)).all()
    assert reply.attachment_name == "Báo cáo kết quả 2022.pdf"
    assert reply.attachment_type == "application/pdf" and reply.answered_by == "Lê Thị Hoa"
    stored = list(folder_of(app.settings.data_dir).iterdir())
    assert [f.name for f in stored] == [reply.attachment_path]
