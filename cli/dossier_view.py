"""Human output of dossier figures (the JSON is the contract; this is for reading)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from rich.text import Text

from cli.common import FullTable, console, show_date, tr
from core.agreement import Agreement


def _pct(v: object) -> str:
    return "—" if not isinstance(v, int | float) else f"{v * 100:.1f}%"


def print_dossier(agreement: Agreement, data: dict[str, Any]) -> None:
    covers = [date.fromisoformat(x) for x in data["covers"]]
    kind = tr("tổng kết", "closing review") if data["final"] else tr("sơ kết", "review")
    at = datetime.fromisoformat(data["at"])
    console.print(Text.assemble(
        (agreement.code, "bold"),
        f" — {tr('kỳ', 'cycle')} {data['cycle']} ({kind}), "
        f"{show_date(covers[0])} – {show_date(covers[1])}; "
        f"{tr('họp', 'meeting')} {show_date(date.fromisoformat(data['meeting']))}, "
        f"{tr('chủ trì', 'host')} {data['host']}; "
        f"{tr('số liệu tính đến', 'figures as of')} {show_date(at.date())} {at:%H:%M}"))
    t = data["totals"]
    console.print(tr(
        f"Đến hạn {t['due']}: đúng hạn {t['on_time']}, muộn {t['late']}, thiếu {t['missing']}, "
        f"chưa đến hạn {t['pending']}",
        f"Due {t['due']}: on time {t['on_time']}, late {t['late']}, missing {t['missing']}, "
        f"pending {t['pending']}"))
    table = FullTable(title_justify="left")
    for col in (tr("Bên", "Party"), tr("Phải nộp", "Due"), tr("Đúng hạn", "On time"),
                tr("Muộn", "Late"), tr("Thiếu", "Missing"), tr("Chưa đến hạn", "Pending"),
                tr("Tỷ lệ đúng hạn", "On-time rate")):
        table.add_column(col)
    for p in data["parties"]:
        table.add_row(p["party"], str(p["due"]), str(p["on_time"]), str(p["late"]),
                      str(p["missing"]), str(p["pending"]), _pct(p["on_time_rate"]))
    console.print(table)
    if data["indicators"]:
        ind = FullTable(title=tr("Chỉ tiêu", "Indicators"), title_justify="left")
        for col in (tr("Nội dung", "Commitment"), tr("Chỉ tiêu", "Indicator"),
                    tr("Tổng", "Total"), tr("Theo bên", "By party")):
            ind.add_column(col)
        for i in data["indicators"]:
            by = ", ".join(f"{k}: {v}" for k, v in i["by_party"].items())
            ind.add_row(i["commitment"], i["indicator"],
                        "—" if i["total"] is None else str(i["total"]), by)
        console.print(ind)
    nxt = data["next"]
    if nxt:
        console.print(tr("Kỳ sau", "Next cycle") + f": {nxt['cycle']}, {nxt['host']}, "
                      f"{show_date(date.fromisoformat(nxt['meeting']))}")
