"""The dossier's tables as plain text, once for the DOCX and the HTML page alike.

Each builder returns a `Table`: header, rows of cell texts (a cell may carry a state for
the page's colour, as `Cell`), column widths in millimetres for the printed form, which
columns are numbers, whether the last row is a total.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.statuses import ObligationStatus
from reviews.wording import Words


@dataclass(frozen=True)
class Cell:
    text: str
    state: str  # on_time | late | missing | pending


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str | Cell]]
    widths: tuple[int, ...]
    numeric: frozenset[int] = field(default_factory=frozenset)
    total: bool = False


def text(cell: str | Cell) -> str:
    return cell.text if isinstance(cell, Cell) else cell


class Names:
    """Party names and commitment titles of one dossier."""

    def __init__(self, content: dict[str, Any]) -> None:
        self.parties = content["parties"]
        self.titles = {c["id"]: c["title"] for c in content["commitments"]}

    def party(self, pid: str, short: bool = True) -> str:
        p = self.parties.get(pid)
        return pid if p is None else p["short" if short else "name"]

    def what(self, item: dict[str, Any], w: Words) -> str:
        c = item["commitment"]
        return self.titles.get(c, c) if c else w["review_report"]


def _rate_of(totals: dict[str, int]) -> float | None:
    base = totals["on_time"] + totals["late"] + totals["missing"]
    return None if base == 0 else round(totals["on_time"] / base, 4)


def parties(content: dict[str, Any], w: Words, n: Names) -> Table:
    rows: list[list[str | Cell]] = [
        [n.party(p["party"]), str(p["due"]), str(p["on_time"]), str(p["late"]),
         str(p["missing"]), str(p["pending"]), w.rate(p["on_time_rate"])]
        for p in content["figures"]["parties"]]
    t = content["figures"]["totals"]
    rows.append([w["total"], str(t["due"]), str(t["on_time"]), str(t["late"]),
                 str(t["missing"]), str(t["pending"]), w.rate(_rate_of(t))])
    return Table([w["party"], w["due"], w["on_time"], w["late"], w["missing"], w["pending"],
                  w["rate"]], rows, (49, 18, 20, 16, 16, 22, 24), frozenset(range(1, 7)),
                 total=True)


def reports(reports: Sequence[dict[str, Any]], w: Words, n: Names) -> Table:
    rows: list[list[str | Cell]] = []
    for r in reports:
        state = w.state(r["state"])
        if r["status"] in (ObligationStatus.WAIVED, ObligationStatus.UNRECORDED):
            state += f" ({w[r['status']].lower()})"
        due = w.date(r["due"]) + (f" ({w['extended']} {w.date(r['extended_to'])})"
                                  if r["extended_to"] else "")
        latest = w.reply(r["latest"]) + (f" {r['percent']}%" if r["percent"] is not None else "")
        if r["decision"]:
            latest += f", {w.decision(r['decision'])}"
        rows.append([n.party(r["party"]), w.period(r["label"]), due, Cell(state, r["state"]),
                     w.date(r["done_at"]) if r["done_at"] else "—", latest])
    return Table([w["party"], w["period"], w["deadline"], w["state"], w["date"], w["latest"]],
                 rows, (38, 27, 30, 24, 22, 24))


def notes(items: Iterable[dict[str, Any]], w: Words, n: Names) -> Table:
    return Table([w["party"], w["period"], w["notes"]], [
        [n.party(x["party"]), f"{w.period(x['label'])}\n{w.date(x['at'])}",
         x["text"] + (f"\n— {x['answered_by']}" if x["answered_by"] else "")]
        for x in items], (38, 30, 97))


def blocked(items: Iterable[dict[str, Any]], w: Words, n: Names) -> Table:
    return Table([w["party"], w["period"], w["reason"]], [
        [n.party(b["party"]), f"{w.period(b['label'])}\n{w.date(b['at'])}",
         (b["reason"] or "—") + (f"\n{b['note']}" if b["note"] else "")]
        for b in items], (38, 30, 97))


def indicator_totals(mine: Sequence[dict[str, Any]], w: Words) -> Table:
    return Table([w["indicator"], w["total"], w["previous"], w["change"]], [
        [i["label"], w.number(i["total"]), w.number(i["previous"]),
         w.signed(i["change"], i["kind"] == "percent")] for i in mine],
        (85, 28, 28, 24), frozenset((1, 2, 3)))


def indicator_parties(mine: Sequence[dict[str, Any]], w: Words, n: Names) -> Table | None:
    reporting = sorted({p for i in mine for p in i["by_party"]})
    if not reporting:
        return None
    width = max(14, (165 - 45) // len(mine))
    return Table([w["party"], *[i["label"] for i in mine]], [
        [n.party(p), *[w.number(i["by_party"].get(p)) for i in mine]] for p in reporting],
        (45, *[width] * len(mine)), frozenset(range(1, len(mine) + 1)))


def ratios(content: dict[str, Any], w: Words) -> Table:
    return Table([w["ratio"], w["total"], w["previous"], w["change"]], [
        [f"{r['label']} ÷ {r['of_label']}", w.rate(r["value"]), w.rate(r["previous"]),
         w.signed(None if r["change"] is None else r["change"] * 100, True)]
        for r in content["ratios"]], (85, 28, 28, 24), frozenset((1, 2, 3)))


def outstanding(content: dict[str, Any], w: Words, n: Names) -> Table:
    return Table([w["party"], w["commitment"], w["period"], w["deadline"], w["state"],
                  w["overdue_days"]], [
        [n.party(o["party"]), n.what(o, w), w.period(o["label"]), w.date(o["deadline"]),
         Cell(w.state(o["state"]) + (f" ({w.reply(o['latest'])})" if o["latest"] else ""),
              o["state"]), str(o["days_overdue"] or "—")]
        for o in content["outstanding"]], (30, 55, 24, 23, 18, 15), frozenset((5,)))


def carried(content: dict[str, Any], w: Words, n: Names) -> Table:
    return Table([w["party"], w["commitment"], w["period"], w["deadline"], w["now"]], [
        [n.party(o["party"]), n.what(o, w), w.period(o["label"]), w.date(o["due"]),
         Cell(w.state(o["state_now"]) + (f" ({w.date(o['done_at'])})" if o["done_at"] else ""),
              o["state_now"])]
        for o in content["carried_over"]], (30, 60, 24, 23, 28))


def indicator_groups(content: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Indicators per commitment, in the figures' order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for i in content["indicators"]:
        groups.setdefault(i["commitment"], []).append(i)
    return list(groups.items())
