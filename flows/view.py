"""The coordinators' view, as plain data: obligation tables and summaries for artifacts.

Pure functions over rows; the flows publish what they return. Partner-supplied text
(names, titles typed into agreement files, notes) only ever appears inside fenced code
blocks in markdown, or in table cells through `cell()` (`core.text`: Prefect's default
UI renders each table cell as markdown too), so it never renders as a link, an image or
HTML.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date

from core.statuses import ListedStatus as S
from core.text import cell, fenced
from services.views import ViewRow

ACTIONS_VI = {"request": "lời đề nghị", "remind": "lời nhắc", "escalate": "chuyển cấp"}
ACTIONS_EN = {"request": "request", "remind": "reminder", "escalate": "escalation"}


def summary_sentence(actions: Sequence[str], code: str, language: str = "vi") -> str:
    """'Đã lập 3 lời nhắc, 1 chuyển cấp cho QT-KHKT-2021-2025': the steps fired and their
    messages put in the outbox, not what was delivered (`services.delivery.delivery_line`
    says that)."""
    counts = Counter(actions)
    names = ACTIONS_VI if language == "vi" else ACTIONS_EN
    parts = [f"{counts[a]} {names[a]}" for a in ("request", "remind", "escalate") if counts[a]]
    if language == "vi":
        return f"Đã lập {', '.join(parts)} cho {code}" if parts else \
            f"Không có bước nhắc việc nào đến hạn cho {code}"
    plural = [p + ("s" if not p.startswith("1 ") else "") for p in parts]
    return f"Prepared {', '.join(plural)} for {code}" if parts else \
        f"No ladder step due for {code}"


def sweep_rows(by_agreement: Mapping[str, Sequence[str]]) -> list[dict[str, object]]:
    """One row per agreement the sweep did something for: what it sent."""
    rows = []
    for code, actions in sorted(by_agreement.items()):
        c = Counter(actions)
        rows.append({"Chương trình / Agreement": code, "Đề nghị / Requests": c["request"],
                     "Nhắc / Reminders": c["remind"], "Chuyển cấp / Escalations": c["escalate"]})
    return rows


def table_rows(rows: Sequence[ViewRow]) -> list[dict[str, object]]:
    return [{"Bên / Party": cell(r.party_name), "Nghĩa vụ / Obligation": cell(r.obligation),
             "Hạn / Due": r.due.strftime("%d/%m/%Y"), "Trạng thái / Status": r.status,
             "Số ngày quá hạn / Days overdue": r.days_overdue,
             "Bậc đã tới / Last rung": "—" if r.last_step is None else r.last_step + 1}
            for r in rows]


def summary_markdown(code: str, title: str, today: date, rows: Sequence[ViewRow]) -> str:
    per_party: dict[str, Counter[str]] = {}
    for r in rows:
        per_party.setdefault(r.party, Counter())[r.status] += 1
    lines = [f"# {code} — {today:%d/%m/%Y}", "", fenced(title), "",
             "| Bên | Đang mở | Quá hạn | Đã nộp | Đã chấp nhận |", "|---|---|---|---|---|"]
    for party in sorted(per_party):
        c = per_party[party]
        lines.append(f"| `{party}` | {c[S.OPEN] + c[S.OVERDUE]} | {c[S.OVERDUE]} | "
                     f"{c[S.SUBMITTED]} | {c[S.ACCEPTED]} |")
    overdue = [r for r in rows if r.status == S.OVERDUE]
    lines += ["", f"## Quá hạn ({len(overdue)})", ""]
    if overdue:
        text = "\n".join(f"{r.party_name}: {r.obligation} — quá hạn {r.days_overdue} ngày, "
                         f"bậc {'—' if r.last_step is None else r.last_step + 1}"
                         for r in sorted(overdue, key=lambda r: -r.days_overdue)[:50])
        lines.append(fenced(text))
    else:
        lines.append("Không có nghĩa vụ quá hạn.")
    return "\n".join(lines) + "\n"
