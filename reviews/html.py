"""The dossier as one self-contained HTML page (Jinja2, autoescaped).

No external resource: the style sheet is inline (allowed by its hash in the page's
Content-Security-Policy), the charts are PNG data URIs, there is no script. Every piece
of partner text goes through autoescaping.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from reviews.wording import Words, place_of

TEMPLATES = Path(__file__).resolve().parent / "templates"
STYLE = (TEMPLATES / "dossier.css").read_text(encoding="utf-8")
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CSP = (f"default-src 'none'; img-src data:; style-src 'sha256-{STYLE_HASH}'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def render(content: dict[str, Any], pngs: dict[str, bytes]) -> str:
    w = Words(content["language"], content["timezone"])
    names = content["parties"]
    titles = {c["id"]: c["title"] for c in content["commitments"]}

    def name(pid: str, short: bool = True) -> str:
        p = names.get(pid)
        return pid if p is None else p["short" if short else "name"]

    def what(x: dict[str, Any]) -> str:
        return titles.get(x["commitment"], x["commitment"]) if x["commitment"] \
            else w["review_report"]

    assembled = w.local(content["assembled_at"]).date()
    place_date = w.place_date(place_of([name(content["agreement"]["convener"], False),
                                        name(content["cycle"]["host"], False)]), assembled)
    by_commitment: dict[str, list[dict[str, Any]]] = {}
    for i in content["indicators"]:
        by_commitment.setdefault(i["commitment"], []).append(i)
    return _env.get_template("dossier.html.j2").render(
        c=content, w=w, name=name, what=what, style=STYLE, titles=titles,
        indicator_groups=by_commitment,
        charts=[(w["chart_rate"], data_uri(pngs["ty-le-dung-han.png"])),
                (w["chart_indicators"], data_uri(pngs["qua-cac-ky.png"]))],
        lang=w.language, place_date=place_date)
