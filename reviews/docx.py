"""The dossier as a DOCX file in Vietnamese administrative layout (python-docx).

The form a host prints and brings to the meeting, laid out after Nghị định 30/2020/NĐ-CP:
A4, margins 20/20/30/15 mm, Times New Roman 13 pt (title 14 pt); the issuing body at the
top left and the national emblem header "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM / Độc lập -
Tự do - Hạnh phúc" at the top right, the place-and-date line under it, the title in
capitals, sections numbered I, II, III..., "Nơi nhận" and the signature block at the end.
Section titles use Word's Heading styles (restyled black Times New Roman), so the file has
an outline.

python-docx opens the template, styles it and embeds the pictures; the body itself is
written as WordprocessingML and parsed once: a dossier has hundreds of table cells, and
an object per cell costs more than the whole rest of the assembly.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from typing import Any
from xml.sax.saxutils import escape

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.style import WD_STYLE_TYPE
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Mm, Pt, RGBColor
from lxml import etree

from core.statuses import ReviewStage
from reviews import tables
from reviews.tables import Table, text
from reviews.wording import Words, place_of

FONT = "Times New Roman"
BODY_PT, TITLE_PT, TABLE_PT, SMALL_PT = 13, 14, 11, 12
TEXT_WIDTH_MM = 165  # A4 210 mm less 30 + 15 mm margins
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII")
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
CELL_STYLE = "TableText"


def clean(text: object) -> str:
    """Text safe inside WordprocessingML: XML-escaped, without characters XML forbids."""
    return escape(_ILLEGAL.sub("", str(text)))


def twips(mm: float) -> int:
    return int(mm * 56.7)


def run(text: object, bold: bool = False, italic: bool = False, size: int | None = None
        ) -> str:
    props = ("<w:b/>" if bold else "") + ("<w:i/>" if italic else "")
    if size:
        props += f'<w:sz w:val="{size * 2}"/><w:szCs w:val="{size * 2}"/>'
    inner = "<w:br/>".join(f'<w:t xml:space="preserve">{clean(part)}</w:t>'
                           for part in str(text).split("\n"))
    return f"<w:r><w:rPr>{props}</w:rPr>{inner}</w:r>"


def para(*runs: str, style: str | None = None, align: str | None = None,
         after: int | None = None, indent: bool = False) -> str:
    props = (f'<w:pStyle w:val="{style}"/>' if style else "") + \
        (f'<w:spacing w:after="{after * 20}"/>' if after is not None else "") + \
        ('<w:ind w:firstLine="567"/>' if indent else "") + \
        (f'<w:jc w:val="{align}"/>' if align else "")
    return f"<w:p><w:pPr>{props}</w:pPr>{''.join(runs)}</w:p>"


def _cell(content: str, width: int, shade: bool = False) -> str:
    fill = '<w:shd w:val="clear" w:color="auto" w:fill="E7E6E6"/>' if shade else ""
    return f'<w:tc><w:tcPr><w:tcW w:w="{width}" w:type="dxa"/>{fill}</w:tcPr>{content}</w:tc>'


def _cell_para(text: object, bold: bool = False, align: str = "left") -> str:
    jc = "" if align == "left" else f'<w:jc w:val="{align}"/>'
    return f'<w:p><w:pPr><w:pStyle w:val="{CELL_STYLE}"/>{jc}</w:pPr>{run(text, bold)}</w:p>'


def _cell_style(doc: DocumentObject) -> None:
    """One paragraph style for table cells (11 pt, tight), instead of properties per cell."""
    style = doc.styles.add_style(CELL_STYLE, WD_STYLE_TYPE.PARAGRAPH)
    style.base_style = doc.styles["Normal"]
    style.font.size = Pt(TABLE_PT)
    fmt = style.paragraph_format
    fmt.space_before, fmt.space_after, fmt.line_spacing = Pt(1), Pt(1), 1.0


def table(t: Table) -> str:
    """A bordered table: header row shaded, bold and repeated on each page; number
    columns right-aligned; a total row bold."""
    tw = [twips(w) for w in t.widths]
    xml = [f'<w:tbl><w:tblPr><w:tblStyle w:val="TableGrid"/>'
           f'<w:tblW w:w="{sum(tw)}" w:type="dxa"/><w:jc w:val="center"/>'
           f'<w:tblLayout w:type="fixed"/></w:tblPr><w:tblGrid>'
           + "".join(f'<w:gridCol w:w="{w}"/>' for w in tw) + "</w:tblGrid>"]
    xml.append("<w:tr><w:trPr><w:tblHeader/></w:trPr>" + "".join(
        _cell(_cell_para(h, True, "center"), w, shade=True)
        for h, w in zip(t.header, tw, strict=True)) + "</w:tr>")
    for n, row in enumerate(t.rows):
        bold = t.total and n == len(t.rows) - 1
        xml.append("<w:tr><w:trPr><w:cantSplit/></w:trPr>" + "".join(
            _cell(_cell_para(text(v), bold, "right" if i in t.numeric else "left"), w)
            for i, (v, w) in enumerate(zip(row, tw, strict=True))) + "</w:tr>")
    xml.append("</w:tbl>")
    return "".join(xml) + para(after=2)


def layout_table(cells: Sequence[tuple[int, str]]) -> str:
    """A borderless table placing blocks side by side (the header and signature lines)."""
    tw = [twips(w) for w, _ in cells]
    return (f'<w:tbl><w:tblPr><w:tblW w:w="{sum(tw)}" w:type="dxa"/>'
            f'<w:tblLayout w:type="fixed"/></w:tblPr><w:tblGrid>'
            + "".join(f'<w:gridCol w:w="{t}"/>' for t in tw) + "</w:tblGrid><w:tr>"
            + "".join(_cell(content or para(), t) for t, (_w, content) in zip(tw, cells,
                                                                               strict=True))
            + "</w:tr></w:tbl>")


def _style(doc: DocumentObject, name: str, size: int, bold: bool | None = None) -> None:
    style = doc.styles[name]
    style.font.size = Pt(size)
    style.font.color.rgb = RGBColor(0, 0, 0)
    if bold is not None:
        style.font.bold = bold
    fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
    for attr in ("asciiTheme", "hAnsiTheme", "eastAsiaTheme", "cstheme"):
        fonts.attrib.pop(qn(f"w:{attr}"), None)
    for attr in ("ascii", "hAnsi", "eastAsia", "cs"):
        fonts.set(qn(f"w:{attr}"), FONT)


def _new_document() -> DocumentObject:
    """A fresh document from the styled template (styled once per process)."""
    return Document(io.BytesIO(_template()))


@lru_cache(maxsize=1)
def _template() -> bytes:
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(20), Mm(20)
    section.left_margin, section.right_margin = Mm(30), Mm(15)
    _style(doc, "Normal", BODY_PT)
    normal = doc.styles["Normal"].paragraph_format
    normal.space_after, normal.line_spacing = Pt(4), 1.15
    for name, size in (("Title", TITLE_PT), ("Heading 1", BODY_PT), ("Heading 2", BODY_PT),
                       ("Heading 3", BODY_PT)):
        _style(doc, name, size, bold=True)
        fmt = doc.styles[name].paragraph_format
        fmt.space_before, fmt.space_after = Pt(10), Pt(4)
    title = doc.styles["Title"]
    title.paragraph_format.alignment = 1  # centred
    rule = title.element.get_or_add_pPr().find(qn("w:pBdr"))
    if rule is not None:  # the template's Title has a blue rule under it
        rule.getparent().remove(rule)
    doc.styles["Heading 3"].font.italic = True
    _cell_style(doc)
    _slim(doc)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


KEPT_STYLES = {"Normal", "Title", "TitleChar", "Heading1", "Heading1Char", "Heading2",
               "Heading2Char", "Heading3", "Heading3Char", CELL_STYLE, "TableGrid",
               "TableNormal", "DefaultParagraphFont", "NoList",
               # numbering.xml names these; keep them so no reference dangles
               "ListBullet", "ListBullet2", "ListBullet3", "ListNumber", "ListNumber2",
               "ListNumber3"}


def _slim(doc: DocumentObject) -> None:
    """Keep only the styles the dossier uses and drop the Word 2010 duplicate of the style
    sheet: the template's 164 styles (750 kB of XML) dominated opening and saving."""
    styles = doc.styles.element
    for style in styles.findall(qn("w:style")):
        if style.get(qn("w:styleId")) not in KEPT_STYLES:
            styles.remove(style)
    latent = styles.find(qn("w:latentStyles"))
    if latent is not None:
        styles.remove(latent)
    for rid, rel in list(doc.part.rels.items()):
        if rel.reltype.endswith("/stylesWithEffects"):
            doc.part.rels.pop(rid)


class Dossier:
    """Collects the body's XML; `picture` embeds a PNG through python-docx."""

    def __init__(self, doc: DocumentObject, w: Words, names: tables.Names) -> None:
        self.doc, self.w, self.names = doc, w, names
        self.parts: list[str] = []
        self.pictures = 0

    def add(self, xml: str) -> None:
        self.parts.append(xml)

    def text(self, text: str, label: str | None = None, bold: bool = False,
             italic: bool = False, align: str | None = None) -> None:
        runs = [run(label + ": ", bold=True)] if label else []
        self.add(para(*runs, run(text, bold, italic), align=align))

    def heading(self, level: int, text: str) -> None:
        self.add(para(run(text), style=f"Heading{level}"))

    def picture(self, png: bytes | None) -> None:
        if not png:
            return
        self.pictures += 1
        inline = self.doc.part.new_pic_inline(io.BytesIO(png), Mm(TEXT_WIDTH_MM), None)
        inline.find(qn("wp:docPr")).set("id", str(self.pictures))
        drawing = etree.tostring(inline, encoding="unicode")
        self.add(f'<w:p><w:pPr><w:jc w:val="center"/></w:pPr><w:r><w:drawing>{drawing}'
                 f"</w:drawing></w:r></w:p>")

    def finish(self) -> bytes:
        """The document part parsed once from the collected body and the template's page
        setup (moving hundreds of parsed elements into the template's tree costs more)."""
        sect = etree.tostring(self.doc.element.body.sectPr, encoding="unicode")
        self.doc.part._element = parse_xml(  # the part's XML, saved as is
            f'<w:document {nsdecls("w", "r", "wp", "a", "pic")}><w:body>'
            + "".join(self.parts) + sect + "</w:body></w:document>")
        buf = io.BytesIO()
        self.doc.save(buf)
        return buf.getvalue()


def _name(content: dict[str, Any], pid: str, short: bool = True) -> str:
    p = content["parties"].get(pid)
    return pid if p is None else p["short" if short else "name"]


def _header(d: Dossier, content: dict[str, Any], assembled: date) -> None:
    w = d.w
    host = _name(content, content["cycle"]["host"], short=False)
    convener = _name(content, content["agreement"]["convener"], short=False)
    if content["stage"] == ReviewStage.DRAFT:
        d.add(para(run(w["draft"], bold=True, size=SMALL_PT), after=0))
    left = "".join([
        para(run(convener.upper(), size=SMALL_PT), align="center", after=0)
        if convener != host else "",
        para(run(host.upper(), bold=True, size=SMALL_PT), align="center", after=0),
        para(run("———", size=SMALL_PT), align="center", after=0)])
    right = "".join([
        para(run(w["nation"], bold=True, size=SMALL_PT), align="center", after=0),
        para(run(w["motto"], bold=True, size=BODY_PT), align="center", after=0),
        para(run("———————————", size=SMALL_PT), align="center", after=0)])
    d.add(layout_table([(68, left), (97, right)]))
    d.add(para(run(w.place_date(place_of([convener, host]), assembled), italic=True),
               align="right"))


def _cover(d: Dossier, content: dict[str, Any]) -> None:
    w, cycle = d.w, content["cycle"]
    d.add(para(run(w["title_final"] if cycle["final"] else w["title_review"]), style="Title"))
    d.text(content["agreement"]["title"], bold=True, align="center")
    covers = f"{w.date(cycle['covers'][0])} – {w.date(cycle['covers'][1])}"
    d.text(f"{w['cycle']} {cycle['cycle']}: {covers}", italic=True, align="center")
    at = w.local(content["at"])
    for label, value in ((w["agreement"], content["agreement"]["code"]),
                         (w["cycle"], str(cycle["cycle"])), (w["covers"], covers),
                         (w["host"], _name(content, cycle["host"], short=False)),
                         (w["meeting"], w.date(cycle["meeting"])),
                         (w["assembled"], w.date(content["assembled_at"])),
                         (w["figures_at"], f"{at:%H:%M} {w.date(at.date())}")):
        d.text(value, label=label)


def _summary(d: Dossier, content: dict[str, Any], pngs: dict[str, bytes]) -> None:
    w, s = d.w, content["summary"]
    d.text("; ".join(f"{w[k]}: {s[k]}" for k in ("due", "on_time", "late", "missing",
                                                  "pending", "waived", "withdrawn")) + ".")
    if s["waived"] or s["withdrawn"] or s["unrecorded"]:
        d.text(w["waived_note"] + (f" {w['unrecorded']}: {s['unrecorded']}."
                                   if s["unrecorded"] else ""), italic=True)
    d.add(table(tables.parties(content, w, d.names)))
    d.picture(pngs.get("ty-le-dung-han.png"))


def _commitments(d: Dossier, content: dict[str, Any]) -> None:
    w, n = d.w, d.names
    for k, c in enumerate(content["commitments"], 1):
        d.heading(2, f"{k}. {c['title']}")
        d.text(n.party(c["lead"], short=False), label=w["lead"])
        if c["support"]:
            d.text(", ".join(n.party(p) for p in c["support"]), label=w["support"])
        if c["reports"]:
            d.add(table(tables.reports(c["reports"], w, n)))
        else:
            d.text(w["no_reports"], italic=True)
        _notes_and_blocked(d, c["notes"], c["blocked"])
    if content["review_reports"]:
        d.heading(2, f"{len(content['commitments']) + 1}. {w['review_report']}")
        d.add(table(tables.reports(content["review_reports"], w, n)))
        _notes_and_blocked(d, content["review_notes"], content["review_blocked"])


def _notes_and_blocked(d: Dossier, notes: Sequence[dict[str, Any]],
                       blocked: Sequence[dict[str, Any]]) -> None:
    if notes:
        d.heading(3, d.w["notes"])
        d.add(table(tables.notes(notes, d.w, d.names)))
    if blocked:
        d.heading(3, d.w["blocked"])
        d.add(table(tables.blocked(blocked, d.w, d.names)))


def _indicators(d: Dossier, content: dict[str, Any], pngs: dict[str, bytes]) -> None:
    w, n = d.w, d.names
    if not content["indicators"]:
        d.text(w["no_indicators"], italic=True)
    for cid, mine in tables.indicator_groups(content):
        d.heading(2, n.titles.get(cid, cid))
        d.add(table(tables.indicator_totals(mine, w)))
        by_party = tables.indicator_parties(mine, w, n)
        if by_party:
            d.add(table(by_party))
    if content["ratios"]:
        d.heading(2, w["ratios"])
        d.add(table(tables.ratios(content, w)))
    d.picture(pngs.get("qua-cac-ky.png"))


def _outstanding(d: Dossier, content: dict[str, Any]) -> None:
    w, n = d.w, d.names
    if content["outstanding"]:
        d.add(table(tables.outstanding(content, w, n)))
    else:
        d.text(w["no_outstanding"], italic=True)
    if content["carried_over"]:
        d.heading(2, w["carried"])
        d.add(table(tables.carried(content, w, n)))
    if content["withdrawn"]:
        d.heading(2, w["withdrawn"])
        for x in content["withdrawn"]:
            d.text(f"{n.party(x['party'])} — {n.what(x, w)} — {w.period(x['label'])}")


def _next(d: Dossier, content: dict[str, Any]) -> None:
    w, nxt = d.w, content["next"]
    if nxt is None:
        d.text(w["no_next"])
        return
    d.text(w["next_text"].format(
        cycle=nxt["cycle"], covers=f"{w.date(nxt['covers'][0])} – {w.date(nxt['covers'][1])}",
        host=_name(content, nxt["host"], short=False), meeting=w.date(nxt["meeting"])))


def _closing(d: Dossier, content: dict[str, Any]) -> None:
    vi = d.w.language == "vi"
    host = _name(content, content["cycle"]["host"], short=False)
    left = para(run("Nơi nhận:" if vi else "Distribution:", bold=True, italic=True,
                    size=SMALL_PT), after=0) + "".join(
        para(run(line, size=TABLE_PT), after=0)
        for line in (("- Các đơn vị ký kết chương trình;", "- Lưu: VT.") if vi
                     else ("- The signatories;", "- File.")))
    right = para(run(("TM. " if vi else "FOR ") + host.upper(), bold=True, size=SMALL_PT),
                 align="center")
    d.add(para())
    d.add(layout_table([(80, left), (85, right)]))


def render(content: dict[str, Any], pngs: dict[str, bytes]) -> bytes:
    """The DOCX file's bytes."""
    w = Words(content["language"], content["timezone"])
    doc = _new_document()
    kind = w["title_final"] if content["cycle"]["final"] else w["title_review"]
    doc.core_properties.title = _ILLEGAL.sub(
        "", f"{kind} {content['agreement']['code']} — {w['cycle']} {content['cycle']['cycle']}")
    doc.core_properties.language = "vi-VN" if w.language == "vi" else "en-GB"
    d = Dossier(doc, w, tables.Names(content))
    _header(d, content, w.local(content["assembled_at"]).date())
    _cover(d, content)
    sections = ((w["summary"], lambda: _summary(d, content, pngs)),
                (w["commitments"], lambda: _commitments(d, content)),
                (w["indicators"], lambda: _indicators(d, content, pngs)),
                (w["outstanding"], lambda: _outstanding(d, content)),
                (w["next"], lambda: _next(d, content)))
    for n, (title, body) in enumerate(sections):
        d.heading(1, f"{ROMAN[n]}. {title}")
        body()
    _closing(d, content)
    return d.finish()
