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
from markupsafe import Markup, escape

from reviews import tables
from reviews.tables import Cell, Table, text
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


def html_table(t: Table) -> Markup:
    """A table's HTML, every cell escaped (line breaks kept as <br>)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in t.header)
    body = []
    last = len(t.rows) - 1
    for k, row in enumerate(t.rows):
        cells = []
        for i, cell in enumerate(row):
            classes = (["n"] if i in t.numeric else []) + (
                [f"state-{cell.state}"] if isinstance(cell, Cell) else [])
            attr = f' class="{escape(" ".join(classes))}"' if classes else ""
            cells.append(f"<td{attr}>{str(escape(text(cell))).replace(chr(10), '<br>')}</td>")
        total = ' class="total"' if t.total and k == last else ""
        body.append(f"<tr{total}>{''.join(cells)}</tr>")
    return Markup(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
                  "</table>")


def _section(w: Words, n: tables.Names, reports: list[dict[str, Any]],
             notes: list[dict[str, Any]], blocked: list[dict[str, Any]]) -> dict[str, Any]:
    return {"reports": html_table(tables.reports(reports, w, n)) if reports else None,
            "notes": html_table(tables.notes(notes, w, n)) if notes else None,
            "blocked": html_table(tables.blocked(blocked, w, n)) if blocked else None}


def render(content: dict[str, Any], pngs: dict[str, bytes],
           narrow: dict[str, bytes] | None = None) -> str:
    """The page; `narrow`: the charts' phone versions (`reviews.chart.narrow`), offered to
    screens up to 640 px wide through <picture> (the portal's page has them)."""
    w = Words(content["language"], content["timezone"])
    n = tables.Names(content)
    assembled = w.local(content["assembled_at"]).date()
    place_date = w.place_date(place_of([n.party(content["agreement"]["convener"], False),
                                        n.party(content["cycle"]["host"], False)]), assembled)
    view = {
        "parties": html_table(tables.parties(content, w, n)),
        "commitments": [{"title": c["title"], "lead": n.party(c["lead"], False),
                         "support": ", ".join(n.party(p) for p in c["support"]),
                         **_section(w, n, c["reports"], c["notes"], c["blocked"])}
                        for c in content["commitments"]],
        "review": _section(w, n, content["review_reports"], content["review_notes"],
                           content["review_blocked"]) if content["review_reports"] else None,
        "indicators": [{"title": n.titles.get(cid, cid),
                        "totals": html_table(tables.indicator_totals(mine, w)),
                        "by_party": html_table(t) if (t := tables.indicator_parties(
                            mine, w, n)) else None}
                       for cid, mine in tables.indicator_groups(content)],
        "ratios": html_table(tables.ratios(content, w)) if content["ratios"] else None,
        "outstanding": html_table(tables.outstanding(content, w, n))
        if content["outstanding"] else None,
        "carried": html_table(tables.carried(content, w, n)) if content["carried_over"] else None,
        "withdrawn": [f"{n.party(x['party'])} — {n.what(x, w)} — {w.period(x['label'])}"
                      for x in content["withdrawn"]],
    }
    return _env.get_template("dossier.html.j2").render(
        c=content, w=w, v=view, name=n.party, style=STYLE, place_date=place_date,
        charts=[(w[key], data_uri(pngs[name]),
                 data_uri(narrow[name]) if narrow and name in narrow else None)
                for key, name in (("chart_rate", "ty-le-dung-han.png"),
                                  ("chart_indicators", "qua-cac-ky.png"))],
        lang=w.language)
