"""Attachments: the type read from the bytes, names made harmless, files staged and removed."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from portal import uploads
from portal.uploads import (
    DOCX,
    ODT,
    PDF,
    XLSX,
    UploadFailed,
    UploadRejected,
    content_disposition,
    display_name,
    sniff,
    stage,
)

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def image(kind: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (11, 110, 79)).save(buf, kind)
    return buf.getvalue()


def docx() -> bytes:
    from docx import Document

    buf = io.BytesIO()
    d = Document()
    d.add_paragraph("Báo cáo kết quả năm 2022")
    d.save(buf)
    return buf.getvalue()


def ooxml(main_type: str, part: str = "/xl/workbook.xml", extra: str = "") -> bytes:
    """A minimal OOXML package whose main part has `main_type` (XLSX by default)."""
    types = ('<?xml version="1.0" encoding="UTF-8"?>' + extra +
             '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
             '<Default Extension="xml" ContentType="application/xml"/>'
             f'<Override PartName="{part}" ContentType="{main_type}"/></Types>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", types)
        z.writestr(part.lstrip("/"), "<workbook/>")
    return buf.getvalue()


def xlsx() -> bytes:
    return ooxml("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml")


def odt(mimetype: bytes = ODT.encode(), first: bool = True) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        if not first:
            z.writestr("content.xml", "<office:document-content/>")
        z.writestr(zipfile.ZipInfo("mimetype"), mimetype, compress_type=zipfile.ZIP_STORED)
        z.writestr("content.xml" if first else "styles.xml", "<office:document-content/>")
    return buf.getvalue()


ACCEPTED = [
    ("pdf", lambda: PDF_BYTES, PDF),
    ("png", lambda: image("PNG"), "image/png"),
    ("jpeg", lambda: image("JPEG"), "image/jpeg"),
    ("webp", lambda: image("WEBP"), "image/webp"),
    ("gif", lambda: image("GIF"), "image/gif"),
    ("docx", docx, DOCX),
    ("xlsx", xlsx, XLSX),
    ("odt", odt, ODT),
]
REFUSED = [
    ("html", lambda: b"<!doctype html><script>alert(1)</script>"),
    ("exe", lambda: b"MZ\x90\x00" + b"\x00" * 100),
    ("text", lambda: "Báo cáo".encode()),
    ("empty", lambda: b""),
    ("pdf not at the start", lambda: b"xx%PDF-1.4"),
    ("plain zip", lambda: ooxml("application/xml", "/data.xml")),
    ("macro-enabled docm", lambda: ooxml("application/vnd.ms-word.document.macroEnabled.main+xml",
                                         "/word/document.xml")),
    ("ooxml with a DTD", lambda: ooxml(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        extra='<!DOCTYPE x [<!ENTITY a "aaaa">]>')),
    ("odp presentation", lambda: odt(b"application/vnd.oasis.opendocument.presentation")),
    ("odt mimetype not first", lambda: odt(first=False)),
    ("broken zip", lambda: b"PK\x03\x04" + b"\x00" * 64),
]


@pytest.mark.parametrize(("name", "make", "kind"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_allowed_types_are_read_from_the_bytes(tmp_path: Path, name, make, kind) -> None:
    path = tmp_path / "whatever.bin"  # the name says nothing
    path.write_bytes(make())
    assert sniff(path) == kind


@pytest.mark.parametrize(("name", "make"), REFUSED, ids=[r[0] for r in REFUSED])
def test_other_content_is_refused_whatever_its_name(tmp_path: Path, name, make) -> None:
    path = tmp_path / "bao-cao.pdf"
    path.write_bytes(make())
    assert sniff(path) is None


@pytest.mark.parametrize(("raw", "shown"), [
    ("Báo cáo 2022.pdf", "Báo cáo 2022.pdf"),
    ("../../etc/passwd", "passwd"),
    ("..\\..\\x.pdf", "x.pdf"),
    ("C:\\Users\\hoa\\Desktop\\bao-cao.docx", "bao-cao.docx"),
    ("a\x00b\x1b[31m.pdf", "ab[31m.pdf"),
    ("evil\u202egpj.pdf", "evilgpj.pdf"),  # right-to-left override removed
    ("line\r\nbreak.pdf", "linebreak.pdf"),
    ("..", "tep-dinh-kem.pdf"),
    ("", "tep-dinh-kem.pdf"),
    (None, "tep-dinh-kem.pdf"),
    ("  spaced   out .pdf", "spaced out .pdf"),
    ("Bao cao qua\u0301 da\u0300i.pdf", "Bao cao quá dài.pdf"),  # NFC
])
def test_display_names_are_harmless_text(raw, shown) -> None:
    assert display_name(raw, PDF) == shown


def test_long_names_are_capped_keeping_the_extension() -> None:
    name = display_name("Báo cáo " * 40 + ".xlsx", XLSX)
    assert len(name) <= uploads.NAME_CAP and name.endswith(".xlsx")


def test_content_disposition_has_an_ascii_fallback_and_the_utf8_name() -> None:
    header = content_disposition('Báo cáo "đợt 1"; x.pdf')
    assert header.startswith('attachment; filename="Bao cao dot 1 x.pdf"; ')
    assert header.endswith("filename*=UTF-8''B%C3%A1o%20c%C3%A1o%20%22%C4%91%E1%BB%A3t%201%22"
                           "%3B%20x.pdf")


def test_stage_writes_a_random_name_and_nothing_else(tmp_path: Path) -> None:
    folder = tmp_path / "attachments"
    staged = stage(io.BytesIO(PDF_BYTES), "../../etc/passwd", folder)
    assert staged is not None
    assert staged.temp.parent == folder and staged.temp.name.endswith(".part")
    assert uploads.STORED.match(staged.final.name) and staged.final.name.endswith(".pdf")
    assert "passwd" not in str(staged.temp) + str(staged.final)
    assert staged.name == "passwd" and staged.size == len(PDF_BYTES)
    uploads.keep(staged)
    assert [p.name for p in folder.iterdir()] == [staged.final.name]
    assert staged.final.read_bytes() == PDF_BYTES
    assert not (tmp_path / "etc").exists()


def test_stage_refusals_leave_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "attachments"
    with pytest.raises(UploadRejected, match="10 MB"):
        stage(io.BytesIO(PDF_BYTES + b"0" * uploads.MAX_BYTES), "big.pdf", folder)
    with pytest.raises(UploadRejected, match="PDF, DOCX"):
        stage(io.BytesIO(b"<html>"), "x.pdf", folder)
    assert stage(io.BytesIO(b""), "", folder) is None  # no file chosen
    assert list(folder.iterdir()) == []
    exact = stage(io.BytesIO(PDF_BYTES.ljust(uploads.MAX_BYTES, b" ")), "exact.pdf", folder)
    assert exact is not None and exact.size == uploads.MAX_BYTES
    uploads.discard(exact)
    assert list(folder.iterdir()) == []


def test_stage_into_an_unwritable_place_fails_cleanly(tmp_path: Path) -> None:
    blocker = tmp_path / "attachments"
    blocker.write_text("not a folder")
    with pytest.raises(UploadFailed):
        stage(io.BytesIO(PDF_BYTES), "x.pdf", blocker)
    assert blocker.read_text() == "not a folder"


def test_stored_file_accepts_only_names_we_make(tmp_path: Path) -> None:
    folder = tmp_path / "attachments"
    folder.mkdir()
    (tmp_path / "secret.txt").write_text("x")
    for bad in ("../secret.txt", "/etc/passwd", "secret.txt", "", None,
                "0123456789abcdef0123456789abcdef.html"):
        assert uploads.stored_file(folder, bad) is None


def test_a_rename_lost_to_a_crash_is_completed_on_first_read(tmp_path: Path) -> None:
    folder = tmp_path / "attachments"
    staged = stage(io.BytesIO(PDF_BYTES), "a.pdf", folder)
    assert staged is not None  # committed, then the process died before keep()
    path = uploads.stored_file(folder, staged.final.name)
    assert path == staged.final and path.read_bytes() == PDF_BYTES
    assert not staged.temp.exists()
