"""Issue #17 point 3, "a quick phone form": what a partner sees at 360 px in real headless
Chromium. Numbers as Vietnamese (and, under ?lang=en, English) write them, an ambiguous
one asked back, errors in the page's one language, only the fields the chosen status
needs (without JavaScript too), dates as dd/mm/yyyy, a decided reply's state at the top,
a page at `/`, English labels that fit. Screenshots go to test-output/.
"""

from __future__ import annotations

import threading
import time as clock
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import uvicorn
from sqlmodel import col, select

from config.bootstrap import App
from models.links import issue
from models.tables import Contact, Obligation, Party, Reply
from portal.app import create_app
from services.replies import decide_reply
from tests.e2e.browser import ARGS, CHROMIUM, OUT, quang_tri_portal

TZ = "Asia/Ho_Chi_Minh"
CODE = "QT-KHKT-2021-2025"
LINKS = {"gddt": ("hoc-tap-suot-doi/so-gddt/2022", "so-gddt"),  # four counts
         "ldld": ("quy-khuyen-hoc/ldld/2022", "ldld")}  # a number (quy-vnd) and a count
PHONE = {"width": 360, "height": 780}
FIELDS = ("#percent", "#until", "#reason", "#indicators")
SHOWN = {"done": {"#indicators"}, "in_progress": {"#percent", "#indicators"},
         "blocked": {"#reason"}, "extension": {"#until", "#reason"}}


@pytest.fixture
def served(tmp_path: Any) -> Iterator[tuple[App, str, dict[str, str]]]:
    app, now, port = quang_tri_portal(tmp_path)
    base = f"http://127.0.0.1:{port}"
    urls = {}
    with app.session(write=True) as s:
        for name, (key, party) in LINKS.items():
            o = s.exec(select(Obligation).where(Obligation.key == f"{CODE}/{key}")).one()
            focal = s.exec(select(Contact).join(Party, Party.id == Contact.party_id).where(
                Party.key == party, Contact.role == "focal")).first()
            assert focal is not None
            urls[name] = base + "/r/" + issue(
                s, app.secret_key, purpose="reply", now=now[0],
                expires_at=o.deadline + timedelta(days=60), obligation_id=o.id,
                contact_id=focal.id).token
    server = uvicorn.Server(uvicorn.Config(create_app(app), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        clock.sleep(0.05)
    yield app, base, urls
    server.should_exit = True
    thread.join(timeout=10)


def replies(app: App) -> list[Reply]:
    with app.session() as s:
        return list(s.exec(select(Reply).order_by(col(Reply.id))))


def visible(page: Any) -> set[str]:
    return {f for f in FIELDS if page.locator(f).is_visible()}


def test_only_the_fields_of_the_chosen_status_with_or_without_javascript(served: Any) -> None:
    """Each status shows the fields it needs, nothing else, as the partner switches; the
    same without JavaScript (the page has none: CSS :has() does it). The done form is far
    shorter than the 1,646 px the partner scrolled."""
    from playwright.sync_api import sync_playwright

    app, _, urls = served
    OUT.mkdir(exist_ok=True)
    heights = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for script in (True, False):
            page = browser.new_context(viewport=PHONE, java_script_enabled=script).new_page()
            page.goto(urls["gddt"])
            assert page.evaluate("document.scripts.length") == 0 if script else True
            for status in ("done", "in_progress", "blocked", "extension"):
                page.select_option("#status", status)
                assert visible(page) == SHOWN[status], (script, status)
                assert page.evaluate("document.documentElement.scrollWidth") <= 360
                if script:
                    heights[status] = page.evaluate("document.documentElement.scrollHeight")
                    page.screenshot(path=str(OUT / f"portal-status-{status}-360.png"),
                                    full_page=True)
            # the fallback's hints ("khi chọn …") stay hidden where :has() works
            assert not page.locator(".when").first.is_visible()
            page.context.close()
        browser.close()
    print("heights at 360 px", heights)
    assert heights["done"] < 1450 and heights["blocked"] < 1150, heights
    assert replies(app) == []


def test_vietnamese_numbers_and_an_ambiguous_one_asked_back(served: Any) -> None:
    """"1.520" is a count of 1520; "1.500" for a decimal figure is asked back with its two
    readings in Vietnamese only, nothing stored until the partner chooses; then 1500."""
    from playwright.sync_api import sync_playwright

    app, _, urls = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport=PHONE)
        page.goto(urls["ldld"])
        assert "Viết số như thường lệ: 1.520" in page.inner_text("#indicators")
        page.select_option("#status", "done")
        page.fill("#v-quy-vnd", "1.500")
        page.fill("#v-ca-nhan-khen-thuong", "1.520")
        page.fill("#answered_by", "Cao Thị Huyền")
        page.click("button[type=submit]")
        error = page.inner_text("#error-quy-vnd")
        assert error == ("Chưa rõ “1.500” là 1500 hay 1,5: chọn một cách đọc dưới đây, "
                         "hoặc gõ lại")
        choices = page.locator("#pick-quy-vnd label.choice").all_inner_texts()
        assert [c.strip() for c in choices] == ["1500 (“.” ngăn cách hàng nghìn)",
                                                "1,5 (“.” là dấu thập phân)"]
        text = page.inner_text("main")
        assert "must" not in text and "number" not in text  # one language: the page's
        assert page.locator("#error-ca-nhan-khen-thuong").count() == 0  # 1.520: a count
        assert page.input_value("#v-quy-vnd") == "1.500"  # what was typed, kept
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.screenshot(path=str(OUT / "portal-ask-back-360.png"), full_page=True)
        assert replies(app) == []

        page.check("#pick-quy-vnd input[value='1500']")
        page.click("button[type=submit]")
        assert "Đã ghi nhận trả lời" in page.content()
        browser.close()
    (reply,) = replies(app)
    assert reply.values == {"quy-vnd": 1500, "ca-nhan-khen-thuong": 1520}


def test_english_page_reads_english_numbers_and_answers_in_english(served: Any,
                                                                  tmp_path: Any) -> None:
    """Under ?lang=en: "1,520" is 1520, "63.4" a decimal; errors in English only; the
    labels (Commitment, Reporting period) do not run into their values."""
    from playwright.sync_api import sync_playwright

    app, _, urls = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport=PHONE)
        page.goto(urls["ldld"] + "?lang=en")
        overlaps = page.evaluate("""[...document.querySelectorAll('dt')].map(dt => {
            const dd = dt.nextElementSibling, a = dt.getBoundingClientRect(),
                  b = dd.getBoundingClientRect();
            return [dt.textContent, a.right <= b.left + 0.5 || a.bottom <= b.top + 0.5,
                    dt.scrollWidth <= dt.clientWidth];
        })""")
        assert [o[0] for o in overlaps] == ["Agreement", "Commitment", "Agency",
                                            "Reporting period", "Due"]
        assert all(fits and inside for _, fits, inside in overlaps), overlaps
        page.screenshot(path=str(OUT / "portal-english-360.png"), full_page=True)
        page.select_option("#status", "done")
        page.fill("#v-quy-vnd", "1,234.5")
        page.fill("#v-ca-nhan-khen-thuong", "12.5")
        fake = tmp_path / "report.pdf"
        fake.write_bytes(b"<html>not a PDF</html>")
        page.set_input_files("#attachment", str(fake))
        page.click("button[type=submit]")
        assert page.inner_text("#error-ca-nhan-khen-thuong") == "Must be a whole number ≥ 0"
        assert page.inner_text("#attachment ~ .error") == (
            "Only PDF, DOCX, XLSX, ODT, PNG, JPEG, WebP or GIF files")
        assert page.locator("#error-quy-vnd").count() == 0
        text = page.inner_text("main")
        assert "Phải" not in text and "Vui lòng" not in text
        assert "Please correct the marked fields." in text
        page.screenshot(path=str(OUT / "portal-english-errors-360.png"), full_page=True)
        page.fill("#v-ca-nhan-khen-thuong", "1,520")
        page.click("button[type=submit]")
        assert "Reply recorded" in page.content()
        browser.close()
    (reply,) = replies(app)
    assert reply.values == {"quy-vnd": 1234.5, "ca-nhan-khen-thuong": 1520}


def test_extension_date_typed_as_dd_mm_yyyy_and_its_state_shown(served: Any) -> None:
    """The date is typed dd/mm/yyyy (a text field, no mm/dd/yyyy picker); a wrong one is
    refused in Vietnamese; a granted extension is said at the top of the page."""
    from playwright.sync_api import sync_playwright

    app, _, urls = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport=PHONE)
        page.goto(urls["gddt"])
        assert page.get_attribute("#until", "type") is None  # text, not a date picker
        page.select_option("#status", "extension")
        assert page.get_attribute("#until", "placeholder") == "ngày/tháng/năm"
        page.fill("#until", "31/13/2022")
        page.fill("#reason", "Chờ số liệu của các xã")
        page.click("button[type=submit]")
        assert page.inner_text("#until ~ .error") == (
            "Ngày không hợp lệ; viết theo dạng ngày/tháng/năm, ví dụ 31/12/2022")
        assert visible(page) == SHOWN["extension"]  # the status chosen is kept
        assert page.input_value("#until") == "31/13/2022"
        page.fill("#until", "29/12/2022")
        page.click("button[type=submit]")
        assert "Đã ghi nhận trả lời" in page.content()
        page.goto(urls["gddt"])
        assert page.inner_text("#state") == "Đã được gia hạn đến 29/12/2022."
        assert "29/12/2022" in page.inner_text("dl")  # the new due date
        page.screenshot(path=str(OUT / "portal-extension-granted-360.png"), full_page=True)
        browser.close()
    (reply,) = replies(app)
    assert reply.status == "extension" and reply.until == date(2022, 12, 29)
    assert reply.values == {}  # the hidden prefill-free indicators were not sent


def test_a_returned_then_accepted_report_says_so_at_the_top(served: Any) -> None:
    """Returned: the coordinator's comment on top and the form still open; accepted: "đã
    được chấp nhận" on top and no form any more."""
    from playwright.sync_api import sync_playwright

    app, _, urls = served

    def decide(decision: str, comment: str | None) -> None:
        with app.session(write=True) as s:
            last = s.exec(select(Reply).order_by(col(Reply.id).desc())).first()
            assert last is not None and last.id is not None
            decide_reply(s, app, last.id, decision, comment, app.now())

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport=PHONE)
        page.goto(urls["gddt"])
        assert page.locator("#state").count() == 0
        page.select_option("#status", "done")
        page.fill("#v-gdht-dang-ky", "1.200")
        page.click("button[type=submit]")
        page.goto(urls["gddt"])
        assert page.inner_text("#state").startswith("Đã gửi báo cáo lúc 01/12/2022 09:00")
        decide("returned", "Thiếu số liệu của <b>huyện Hải Lăng</b>")
        page.goto(urls["gddt"])
        assert page.inner_text("#state") == (
            "Báo cáo được trả lại để bổ sung ngày 01/12/2022: Thiếu số liệu của <b>huyện "
            "Hải Lăng</b>. Vui lòng gửi lại bên dưới.")
        assert page.locator("button[type=submit]").is_visible()
        page.screenshot(path=str(OUT / "portal-returned-360.png"), full_page=True)
        assert page.input_value("#v-gdht-dang-ky") == "1200"  # prefilled from the reply
        page.fill("#v-gdht-dat", "1.100")
        page.click("button[type=submit]")
        decide("accepted", None)
        page.goto(urls["gddt"])
        assert page.inner_text("#state") == ("Báo cáo đã được chấp nhận ngày 01/12/2022. "
                                             "Nội dung này đã xong, không cần gửi thêm.")
        assert page.locator("form").count() == 0
        page.screenshot(path=str(OUT / "portal-accepted-360.png"), full_page=True)
        page.goto(urls["gddt"] + "?lang=en")
        assert page.inner_text("#state").startswith("The report was accepted on 01/12/2022.")
        browser.close()
    assert [r.values for r in replies(app)] == [
        {"gdht-dang-ky": 1200}, {"gdht-dang-ky": 1200, "gdht-dat": 1100}]


def test_the_front_page_says_what_phoihop_is(served: Any) -> None:
    from playwright.sync_api import sync_playwright

    _, base, _ = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport=PHONE)
        response = page.goto(base + "/")
        assert response is not None and response.status == 200
        assert response.headers["content-type"].startswith("text/html")
        assert page.inner_text("h1") == "phoihop — theo dõi chương trình phối hợp"
        text = page.inner_text("main")
        assert "Không cần tài khoản" in text and "cán bộ theo dõi của cơ quan chủ trì" in text
        assert "detail" not in page.content()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.screenshot(path=str(OUT / "portal-home-360.png"), full_page=True)
        page.goto(base + "/?lang=en")
        assert "Need help?" in page.inner_text("main")
        page.screenshot(path=str(OUT / "portal-home-en-360.png"), full_page=True)
        browser.close()
