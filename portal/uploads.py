"""Attachments on a reply: one file, checked by its content, stored under a name we choose.

- At most `MAX_BYTES` (10 MiB); PDF, DOCX, XLSX, ODT, PNG, JPEG, WebP and GIF. The type is
  read from the bytes (magic numbers; for DOCX/XLSX the zip's `[Content_Types].xml`, for
  ODT its leading `mimetype` entry), never from the file's name or the browser's
  Content-Type.
- Stored as `<data dir>/attachments/<32 random hex>.<ext>`: no part of the sender's file
  name reaches the file system. The name is kept only as display text (`display_name`).
- Written first to `.<random>.part` in the same folder (`stage`); renamed to its final
  name once the reply row has committed (`keep`), deleted otherwise (`discard`). A crash
  between the commit and the rename leaves the `.part` file, which `stored_file`
  completes on first download (the committed row proves it belongs to a reply).
"""

from __future__ import annotations

import os
import re
import secrets
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote
from xml.etree import ElementTree

from models.replies import Attachment

MAX_BYTES = 10 * 1024 * 1024
NAME_CAP = 120  # characters of a display name
CHUNK = 256 * 1024
FOLDER = "attachments"

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODT = "application/vnd.oasis.opendocument.text"
EXTENSIONS = {PDF: "pdf", DOCX: "docx", XLSX: "xlsx", ODT: "odt", "image/png": "png",
              "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
OOXML_MAIN = {  # the main part's content type in [Content_Types].xml → the document type
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": DOCX,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": XLSX,
}
STORED = re.compile(r"^[0-9a-f]{32}\.(pdf|docx|xlsx|odt|png|jpg|webp|gif)$")
ACCEPT = ".pdf,.docx,.xlsx,.odt,.png,.jpg,.jpeg,.webp,.gif"


class UploadRejected(Exception):
    """The file is not acceptable (too big, not an allowed type); shown next to the field,
    in the page's language (`text`); `str()` is "Vietnamese / English"."""

    def __init__(self, vi: str, en: str) -> None:
        super().__init__(f"{vi} / {en}")
        self.vi, self.en = vi, en

    def text(self, language: str) -> str:
        return self.en[:1].upper() + self.en[1:] if language == "en" else self.vi


class UploadFailed(Exception):
    """The server could not store the file (folder missing or not writable, disk full)."""


def folder_of(data_dir: Path) -> Path:
    return data_dir / FOLDER


def sniff(path: Path) -> str | None:
    """The content type the bytes show, if it is one we take; None otherwise."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(path)
    return None


def _zip_kind(path: Path) -> str | None:
    """ODT by its leading `mimetype` entry; DOCX/XLSX by the main part's content type."""
    try:
        with zipfile.ZipFile(path) as z:
            entries = z.infolist()
            if entries and entries[0].filename == "mimetype" and entries[0].file_size < 200:
                if z.read(entries[0]).strip() == ODT.encode():
                    return ODT
                return None
            info = next((e for e in entries if e.filename == "[Content_Types].xml"), None)
            if info is None or info.file_size > 1024 * 1024:
                return None
            xml = z.read(info)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError,
            NotImplementedError, ValueError, zlib.error):
        return None
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:  # OOXML never declares one
        return None
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return None
    found = {OOXML_MAIN[e.get("ContentType", "")] for e in root
             if e.tag.endswith("}Override") and e.get("ContentType") in OOXML_MAIN}
    return found.pop() if len(found) == 1 else None


def display_name(raw: str | None, content_type: str) -> str:
    """The sender's file name as display text: the last path segment, no control
    characters or separators, NFC, at most NAME_CAP characters (the extension kept)."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")  # Cc, Cf, …
    name = " ".join(name.split()).strip(" .")
    if not name:
        name = f"tep-dinh-kem.{EXTENSIONS[content_type]}"
    if len(name) > NAME_CAP:
        _, dot, ext = name.rpartition(".")
        suffix = f".{ext}" if dot and 0 < len(ext) <= 8 else ""
        name = name[:NAME_CAP - len(suffix)].rstrip(" .") + suffix
    return name


def content_disposition(name: str) -> str:
    """`attachment` with an ASCII fallback name and the UTF-8 name (RFC 6266 / 5987)."""
    plain = unicodedata.normalize("NFKD", name.replace("đ", "d").replace("Đ", "D"))
    plain = re.sub(r"[^A-Za-z0-9._ -]", "", plain.encode("ascii", "ignore").decode())
    plain = plain.strip(" .") or "attachment"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


@dataclass(frozen=True)
class Staged:
    """A checked file written under its temporary name, waiting for the reply's commit."""

    temp: Path
    final: Path
    name: str
    content_type: str
    size: int

    @property
    def attachment(self) -> Attachment:
        return Attachment(name=self.name, path=self.final.name, content_type=self.content_type)


def stage(source: BinaryIO, raw_name: str | None, folder: Path) -> Staged | None:
    """Copy an uploaded file into `folder` under a temporary name and check it.

    None when no file was chosen (an empty part without a name). UploadRejected (nothing
    left behind) when it is too big or not an allowed type; UploadFailed when it cannot
    be written.
    """
    token = secrets.token_hex(16)
    temp = folder / f".{token}.part"
    size = 0
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise UploadFailed(f"{folder}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > MAX_BYTES:
                    raise UploadRejected("Tệp lớn hơn 10 MB", "the file is larger than 10 MB")
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size == 0 and not raw_name:
            temp.unlink()
            return None
        kind = sniff(temp)
        if kind is None:
            raise UploadRejected("Chỉ nhận tệp PDF, DOCX, XLSX, ODT, PNG, JPEG, WebP hoặc GIF",
                                 "only PDF, DOCX, XLSX, ODT, PNG, JPEG, WebP or GIF files")
    except UploadRejected:
        temp.unlink(missing_ok=True)
        raise
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise UploadFailed(f"{folder}: {exc.strerror or exc}") from exc
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return Staged(temp, folder / f"{token}.{EXTENSIONS[kind]}", display_name(raw_name, kind),
                  kind, size)


def keep(staged: Staged) -> None:
    """After the reply committed: give the file its final name."""
    os.replace(staged.temp, staged.final)


def discard(staged: Staged | None) -> None:
    """The reply was not recorded (or was a replay): remove the staged file."""
    if staged is not None:
        staged.temp.unlink(missing_ok=True)  # never renamed before the commit


def stored_file(folder: Path, stored: str | None) -> Path | None:
    """The file a reply row names, if the name is one we made and the file is there."""
    if not stored or not STORED.match(stored):
        return None
    path = folder / stored
    if not path.is_file():
        temp = folder / f".{stored.split('.', 1)[0]}.part"
        if not temp.is_file():
            return None
        try:
            os.replace(temp, path)  # the commit happened, the rename did not (a crash)
        except OSError:
            return None
    return path
