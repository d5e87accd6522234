"""The dossier's outputs: DOCX read back with python-docx, HTML, charts, Prefect markdown."""

from __future__ import annotations

import io
import re

import pytest
from docx import Document
from docx.shared import Pt
from PIL import Image, ImageChops, ImageDraw

from reviews import chart, docx, html, markdown
from reviews.content import ReplyDetail, build
from tests.unit.test_review_content import AGREEMENT, CAL, MEETING_1, REPLIES, at, plan

HOSTILE = ("<script>alert('x')</script> ```` ![px](http://track.example/p.png) "
           "[bấm vào đây](http://evil.example) \x07 https://bare.example")


@pytest.fixture(scope="module")
def content():
    replies = [*REPLIES, ReplyDetail(obligation="R-2024/review-1/so", at=at("2025-12-01T09:00"),
                                     status="blocked", reason=HOSTILE, note=HOSTILE)]
    return build(plan(), 1, MEETING_1, replies, CAL, stage="draft",
                 assembled_at=at("2025-12-15T08:00"))


@pytest.fixture(scope="module")
def pngs(content):
    return chart.charts(content)


def test_docx_reads_back_in_administrative_layout(content, pngs):
    doc = Document(io.BytesIO(docx.render(content, pngs)))
    section = doc.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    assert (round(section.left_margin.mm), round(section.right_margin.mm)) == (30, 15)
    normal = doc.styles["Normal"].font
    assert (normal.name, normal.size) == ("Times New Roman", Pt(13))
    assert doc.styles["Title"].font.size == Pt(14)
    header = doc.tables[0]
    left, right = (c.text for c in header.rows[0].cells)
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in right and "Độc lập - Tự do - Hạnh phúc" in right
    assert "HỘI KHUYẾN HỌC TỈNH QUẢNG TRỊ" in left  # the convener, above the host
    assert "SỞ GIÁO DỤC VÀ ĐÀO TẠO TỈNH QUẢNG TRỊ" in left
    texts = [p.text for p in doc.paragraphs]
    assert texts[0] == "DỰ THẢO"
    assert "Quảng Trị, ngày 15 tháng 12 năm 2025" in texts
    title = next(p for p in doc.paragraphs if p.style.name == "Title")
    assert title.text == "HỒ SƠ SƠ KẾT"
    headings = [p.text for p in doc.paragraphs if p.style.name == "Heading 1"]
    assert headings == ["I. TỔNG HỢP KẾT QUẢ THỰC HIỆN CHẾ ĐỘ BÁO CÁO",
                        "II. KẾT QUẢ THEO TỪNG NỘI DUNG PHỐI HỢP", "III. CHỈ TIÊU",
                        "IV. NỘI DUNG CÒN TỒN ĐỌNG", "V. KỲ ĐÁNH GIÁ TIẾP THEO"]
    subheadings = [p.text for p in doc.paragraphs if p.style.name == "Heading 2"]
    assert subheadings[:3] == ["1. Tuyên truyền về xã hội học tập", "2. Kiểm tra, đánh giá",
                               "3. Báo cáo đánh giá"]
    for label, value in (("Đơn vị chủ trì tổ chức", "Sở Giáo dục và Đào tạo tỉnh Quảng Trị"),
                         ("Ngày họp", "22/12/2025"), ("Thời gian đánh giá",
                                                      "01/01/2024 – 31/12/2025")):
        assert f"{label}: {value}" in texts
    assert len(doc.inline_shapes) == 2


def _table(doc, first_header: str, second: str | None = None):
    for t in doc.tables:
        cells = [c.text for c in t.rows[0].cells]
        if cells[0] == first_header and (second is None or cells[1] == second):
            return [[c.text for c in row.cells] for row in t.rows]
    raise AssertionError(f"no table headed {first_header!r}")


def test_docx_tables_show_the_figures(content, pngs):
    doc = Document(io.BytesIO(docx.render(content, pngs)))
    parties = _table(doc, "Đơn vị", "Phải nộp")
    assert parties[0] == ["Đơn vị", "Phải nộp", "Đúng hạn", "Muộn", "Thiếu", "Chưa đến hạn",
                          "Tỷ lệ đúng hạn"]
    assert parties[1:] == [["Tỉnh Đoàn Quảng Trị", "1", "0", "0", "1", "0", "0%"],
                           ["HKH tỉnh", "3", "2", "1", "0", "0", "66,67%"],
                           ["Sở GD&ĐT", "3", "1", "0", "2", "0", "33,33%"],
                           ["Tổng", "7", "3", "1", "3", "0", "42,86%"]]
    indicators = _table(doc, "Chỉ tiêu", "Tổng")
    assert indicators[1:] == [["Số đơn vị đăng ký", "200", "—", "—"],
                              ["Số đơn vị đạt", "150", "—", "—"],
                              ["Tỷ lệ hộ học tập", "70", "—", "—"]]
    reports = _table(doc, "Đơn vị", "Kỳ báo cáo")
    assert ["HKH tỉnh", "năm 2024", "16/12/2024 (gia hạn đến 31/12/2024)", "Đúng hạn",
            "30/12/2024", "đã nộp"] in reports
    blocked = _table(doc, "Đơn vị", "Kỳ báo cáo")  # the first such table: commitment 1
    assert any(row[3] == "Thiếu" for row in blocked)
    text = "\n".join(c.text for t in doc.tables for row in t.rows for c in row.cells)
    assert "<script>alert('x')</script>" in text  # partner text shown as text, as typed
    assert "\x07" not in text  # a character XML cannot hold is dropped, not fatal


def test_docx_in_english():
    agreement = AGREEMENT.replace("SUPPORT", "hkh").replace("version: 1\n",
                                                          "version: 1\nlanguage: en\n")
    from core.expand import expand
    from core.parse import load_agreement

    a, _ = load_agreement(agreement.encode(), "r.yaml")
    assert a is not None
    c = build(expand(a, CAL), 1, MEETING_1, REPLIES, CAL, stage="final")
    doc = Document(io.BytesIO(docx.render(c, chart.charts(c))))
    texts = [p.text for p in doc.paragraphs]
    assert "REVIEW DOSSIER" in texts and "DỰ THẢO" not in texts and "DRAFT" not in texts
    assert "SOCIALIST REPUBLIC OF VIETNAM" in doc.tables[0].rows[0].cells[1].text
    assert "Quảng Trị, 22 December 2025" in texts


def test_html_escapes_partner_text_and_loads_nothing(content, pngs):
    page = html.render(content, pngs)
    assert "<script" not in page.replace("&lt;script", "")
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert re.findall(r'(?:src|href)="([^"]*)"', page) == [
        html.data_uri(pngs["ty-le-dung-han.png"]), html.data_uri(pngs["qua-cac-ky.png"])]
    assert '<a ' not in page and "<link" not in page
    assert "DỰ THẢO" in page and "Sở Giáo dục và Đào tạo tỉnh Quảng Trị" in page
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert style is not None and style.group(1) == html.STYLE  # the hash in CSP matches


def _outside_fences(text: str) -> str:
    out, fence = [], None
    for line in text.splitlines():
        m = re.match(r"^(`{3,})", line)
        if fence is None and m:
            fence = m.group(1)
        elif fence is not None and line == fence:
            fence = None
        elif fence is None:
            out.append(line)
    assert fence is None, "a fence was left open"
    return "\n".join(out)


def test_markdown_keeps_partner_text_in_fences(content):
    text = markdown.dossier_markdown(content)
    assert "`````text" in text  # longer than the 4-backtick run in the partner's text
    outside = _outside_fences(text)
    for needle in ("http", "<script", "![", "](", "Thiếu kinh phí", "Tuyên truyền",
                   "Sở Giáo dục"):
        assert needle not in outside, needle
    assert "Thiếu kinh phí" in text and HOSTILE.replace("\x07", "") in text
    assert "\x07" not in text
    assert "| `so` | 3 | 1 | 0 | 2 | 0 | 33,33% |" in outside
    assert markdown.dossier_key("QT-KHKT-2021-2025", 1) == "dossier-qt-khkt-2021-2025-c1"
    tables = markdown.dossier_tables(content)
    assert tables["parties"][0] == {"Đơn vị": "Tỉnh Đoàn Quảng Trị", "Phải nộp": 1,
                                    "Đúng hạn": 0, "Muộn": 0, "Thiếu": 1, "Chưa đến hạn": 0,
                                    "Tỷ lệ đúng hạn": "0%"}
    assert [r["Nghĩa vụ"] for r in tables["outstanding"]] == [
        "review-1/doan", "review-1/so", "tt/so/2025"]


def test_charts_are_png_with_vietnamese_glyphs(pngs):
    for data in pngs.values():
        image = Image.open(io.BytesIO(data))
        assert image.format == "PNG" and image.width == chart.WIDTH
    font = chart.font(28)

    def draw(text: str) -> Image.Image:
        im = Image.new("L", (80, 60), 0)
        ImageDraw.Draw(im).text((10, 5), text, font=font, fill=255)
        return im

    missing = draw("\U000f0000")  # a code point no font has: the "no glyph" box
    for ch in "ệỆđĐưƯởẫ":
        assert ImageChops.difference(draw(ch), missing).getbbox() is not None, ch
    assert ImageChops.difference(draw("ệ"), draw("e")).getbbox() is not None
