"""The dossier's charts as PNG bytes, drawn with Pillow in DejaVu Sans (Vietnamese glyphs).

Two charts: the on-time reporting rate per party, and the figures over the review cycles
so far (the overall on-time rate, then each indicator's total per cycle, one small panel
each). Drawing directly is a few milliseconds per chart, which matters when thousands of
dossiers are assembled at once.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from reviews.wording import Words

FONT_FILES = ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
BOLD_FILES = ("DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
WIDTH = 800
INK, MUTED, GRID, BACK = (33, 37, 41), (108, 117, 125), (222, 226, 230), (255, 255, 255)
GOOD, FAIR, POOR, NONE, BAR = (46, 125, 50), (237, 137, 0), (198, 40, 40), (173, 181, 189), \
    (31, 95, 160)
MAX_PANELS = 12


class FontMissing(RuntimeError):
    pass


@lru_cache(maxsize=16)
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    for name in BOLD_FILES if bold else FONT_FILES:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    raise FontMissing("DejaVu Sans is not installed (Debian: apt-get install fonts-dejavu-core)")


@lru_cache(maxsize=1)
def _palette() -> Image.Image:
    """White, then ramps from white to each colour drawn (anti-aliased edges and text)."""
    colours: list[tuple[int, ...]] = [BACK]
    for c in (INK, MUTED, GRID, GOOD, FAIR, POOR, NONE, BAR):
        for k in range(1, 9):
            shade = tuple(round(255 + (ch - 255) * k / 8) for ch in c)
            if max(abs(255 - ch) for ch in shade) >= 12 and shade not in colours:
                colours.append(shade)
    image = Image.new("P", (1, 1))
    image.putpalette([v for c in colours for v in c])
    return image


def _png(image: Image.Image) -> bytes:
    """An 8-bit palette PNG: a third of the bytes, and far faster to encode than RGB."""
    buf = io.BytesIO()
    image.quantize(palette=_palette(), dither=Image.Dither.NONE).save(buf, "PNG",
                                                                      compress_level=6)
    return buf.getvalue()


@lru_cache(maxsize=8192)
def _glyphs(text: str, size: int, bold: bool, anchor: str) -> tuple[Image.Image, int, int]:
    """A text drawn once as an 8-bit mask, with its offset from the anchor point: the same
    labels (party names, percentages, cycle numbers) recur across thousands of charts."""
    f = font(size, bold)
    left, top, right, bottom = (int(v) for v in f.getbbox(text, anchor=anchor))
    mask = Image.new("L", (max(right - left, 1), max(bottom - top, 1)), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, font=f, fill=255, anchor=anchor)
    return mask, left, top


def one_line(text: str) -> str:
    """Text as one drawable line: control characters and line or paragraph separators
    (U+0085, U+2028, U+2029, which an agreement file may hold) become spaces; Raqm's
    layout fails on a paragraph separator inside a line."""
    if text.isprintable():
        return text
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch
                   for ch in text)


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.image = Image.new("RGB", (width, height), BACK)
        self.draw = ImageDraw.Draw(self.image)

    def text(self, xy: tuple[int, int], text: str, size: int, bold: bool = False,
             fill: tuple[int, int, int] = INK, anchor: str = "la") -> None:
        mask, dx, dy = _glyphs(one_line(text), size, bold, anchor)
        self.image.paste(fill, (xy[0] + dx, xy[1] + dy), mask)

    def fit(self, text: str, size: int, width: int, bold: bool = False) -> str:
        f = font(size, bold)
        text = one_line(text)
        if self.draw.textlength(text, font=f) <= width:
            return text
        lo, hi = 0, len(text)  # the longest prefix that fits with "…" after it, by halves:
        while lo < hi:  # cutting a character at a time took seconds for a long label
            mid = (lo + hi + 1) // 2
            if self.draw.textlength(text[:mid] + "…", font=f) <= width:
                lo = mid
            else:
                hi = mid - 1
        return text[:lo] + "…"


def _colour(rate: object) -> tuple[int, int, int]:
    if not isinstance(rate, int | float):
        return NONE
    return GOOD if rate >= 0.8 else FAIR if rate >= 0.5 else POOR


def on_time_chart(content: dict[str, Any]) -> bytes:
    """Horizontal bars: each signatory's on-time rate (— where nothing was due yet)."""
    w = Words(content["language"], content["timezone"])
    names = content["parties"]
    parties = content["figures"]["parties"]
    row, top, left, right = 28, 54, 250, 90
    c = Canvas(WIDTH, top + row * max(len(parties), 1) + 40)
    c.text((16, 14), w["chart_rate"], 17, bold=True)
    span = WIDTH - left - right
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        x = left + int(span * tick)
        c.draw.line([(x, top - 6), (x, top + row * len(parties))], fill=GRID, width=1)
        c.text((x, top + row * len(parties) + 6), w.rate(tick), 11, fill=MUTED, anchor="ma")
    for n, p in enumerate(parties):
        y = top + n * row
        label = c.fit(names.get(p["party"], {}).get("short", p["party"]), 13, left - 24)
        c.text((left - 10, y + row // 2), label, 13, anchor="rm")
        rate = p["on_time_rate"]
        length = int(span * rate) if isinstance(rate, int | float) else 0
        if isinstance(rate, int | float):
            c.draw.rectangle([left, y + 5, left + max(length, 2), y + row - 5],
                             fill=_colour(rate))
        c.text((left + length + 8, y + row // 2), w.rate(rate), 13, bold=True, anchor="lm")
    return _png(c.image)


# The phone versions (`narrow`): drawn NARROW pixels wide at twice the sizes, for a screen
# about NARROW / 2 CSS pixels wide (a 360 px phone shows them at ~330 px, sharp on its
# 2x screen): their smallest text is then 12-13 px on screen, where the 800 px chart
# shrunk to 330 px showed 4-5 px text. One column: each party's name above its bar, one
# panel per row.
NARROW = 720
K = 2  # the phone versions' scale


def on_time_narrow(content: dict[str, Any]) -> bytes:
    """`on_time_chart` for a phone: the name on its own line above the bar."""
    w = Words(content["language"], content["timezone"])
    names = content["parties"]
    parties = content["figures"]["parties"]
    row, top, pad = 27 * K, 40 * K, 8 * K
    c = Canvas(NARROW, top + row * max(len(parties), 1) + 8 * K)
    c.text((pad, 10 * K), c.fit(w["chart_rate"], 15 * K, NARROW - 2 * pad, bold=True),
           15 * K, bold=True)
    span = NARROW - 2 * pad - 52 * K
    for n, p in enumerate(parties):
        y = top + n * row
        label = c.fit(names.get(p["party"], {}).get("short", p["party"]), 13 * K,
                      NARROW - 2 * pad)
        c.text((pad, y), label, 13 * K)
        rate = p["on_time_rate"]
        bar = y + 16 * K
        c.draw.rectangle([pad, bar, pad + span, bar + 7 * K], fill=GRID)
        length = int(span * rate) if isinstance(rate, int | float) else 0
        if isinstance(rate, int | float):
            c.draw.rectangle([pad, bar, pad + max(length, 2), bar + 7 * K], fill=_colour(rate))
        c.text((pad + span + 6 * K, bar + 4 * K), w.rate(rate), 12 * K, bold=True,
               anchor="lm")
    return _png(c.image)


def _panels(content: dict[str, Any], w: Words) -> list[tuple[str, str, Sequence[object]]]:
    history = content["history"]
    panels: list[tuple[str, str, Sequence[object]]] = [
        (w["rate"], "rate", history["on_time_rate"])]
    for i in history["indicators"][:MAX_PANELS - 1]:
        panels.append((i["label"], i["kind"], i["totals"]))
    return panels


def over_cycles_chart(content: dict[str, Any], narrow: bool = False) -> bytes:
    """Small panels, one per figure, a bar per review cycle so far (`narrow`: the phone
    version, one panel a row, at twice the sizes)."""
    w = Words(content["language"], content["timezone"])
    cycles = content["history"]["cycles"]
    panels = _panels(content, w)
    k = K if narrow else 1
    width = NARROW if narrow else WIDTH
    cols = 1 if narrow else 2
    pw, ph, top = width // cols, (150 if narrow else 180) * k, 48 * k
    rows = (len(panels) + cols - 1) // cols
    c = Canvas(width, top + rows * ph + 10 * k)
    title = (15 if narrow else 17) * k
    c.text((16, 14 * k), c.fit(w["chart_indicators"], title, width - 32, bold=True), title,
           bold=True)
    for n, (label, kind, values) in enumerate(panels):
        x0, y0 = (n % cols) * pw + 16, top + (n // cols) * ph
        _panel(c, w, (x0, y0, pw - 32, ph - 16 * k), label, kind, cycles, values, k)
    return _png(c.image)


def _panel(c: Canvas, w: Words, box: tuple[int, int, int, int], label: str,
           kind: str, cycles: Sequence[int], values: Sequence[object], k: int = 1) -> None:
    x0, y0, width, height = box
    big = 13 if k > 1 else 12  # on a phone, labels one size up
    small = 12 if k > 1 else 11
    c.text((x0, y0), c.fit(label, big * k, width, bold=True), big * k, bold=True)
    numbers = [v for v in values if isinstance(v, int | float)]
    scale = 1.0 if kind == "rate" else 100.0 if kind == "percent" else max(numbers, default=0)
    base_y, bar_top = y0 + height - 18 * k, y0 + 36 * k
    c.draw.line([(x0, base_y), (x0 + width, base_y)], fill=GRID, width=k)
    slot = width // max(len(cycles), 1)
    for i, (cycle, v) in enumerate(zip(cycles, values, strict=True)):
        cx = x0 + slot * i + slot // 2
        c.text((cx, base_y + 4 * k), f"{'Kỳ' if w.language == 'vi' else 'Cycle'} {cycle}",
               small * k, fill=MUTED, anchor="ma")
        if not isinstance(v, int | float):
            c.text((cx, base_y - 8 * k), "—", big * k, fill=MUTED, anchor="md")
            continue
        h = max(int((base_y - bar_top) * (v / scale)) if scale else 0, 1)
        half = min(30 * k, slot // 3)
        c.draw.rectangle([cx - half, base_y - h, cx + half, base_y],
                         fill=_colour(v) if kind == "rate" else BAR)
        text = w.rate(v) if kind == "rate" else (w.number(v) + ("%" if kind == "percent"
                                                                else ""))
        c.text((cx, base_y - h - 4 * k), text, small * k, bold=True, anchor="md")


def charts(content: dict[str, Any]) -> dict[str, bytes]:
    """File name → PNG bytes, in the order the dossier shows them."""
    return {"ty-le-dung-han.png": on_time_chart(content),
            "qua-cac-ky.png": over_cycles_chart(content)}


def narrow(content: dict[str, Any]) -> dict[str, bytes]:
    """The phone versions of `charts`, under the same names (the portal's dossier page
    offers them to screens up to 640 px wide)."""
    return {"ty-le-dung-han.png": on_time_narrow(content),
            "qua-cac-ky.png": over_cycles_chart(content, narrow=True)}
