"""The dossier for Prefect's UI: one markdown artifact and a few table artifacts.

The markdown artifact is keyed per agreement and cycle, so each new version (draft,
final, a rebuild) shows in the artifact's history. In it, identifiers (agreement code,
party and indicator ids: validated patterns) appear as inline code, and every piece of
text that came from an agreement file or a partner (titles, names, labels, notes,
reasons) only inside fenced code blocks whose fence is longer than any run of backticks
in the text: nothing renders as a link, an image or HTML. Table artifact cells go
through `core.text.cell` (Prefect's default UI renders a cell as markdown too).
"""

from __future__ import annotations

from typing import Any

from core.statuses import ReviewStage
from core.text import artifact_key, cell, fenced
from reviews.wording import Words


def dossier_key(code: str, cycle: int) -> str:
    return artifact_key("dossier", code, f"c{cycle}")


def table_key(code: str, cycle: int, table: str) -> str:
    return artifact_key("dossier", code, f"c{cycle}", table)


def _code(text: str) -> str:
    """Inline code for identifiers (they never hold a backtick; refuse one anyway)."""
    return f"`{text.replace('`', '')}`"


def dossier_markdown(content: dict[str, Any]) -> str:
    w = Words(content["language"], content["timezone"])
    c, names = content["cycle"], content["parties"]
    kind = w["title_final"] if c["final"] else w["title_review"]
    stage = f" — {w['draft']}" if content["stage"] == ReviewStage.DRAFT else ""
    lines = [f"# {kind.capitalize()}: {_code(content['agreement']['code'])}, "
             f"{w['cycle'].lower()} {c['cycle']}{stage}", ""]
    cover = [content["agreement"]["title"],
             f"{w['covers']}: {w.date(c['covers'][0])} – {w.date(c['covers'][1])}",
             f"{w['host']}: {names[c['host']]['name']}",
             f"{w['meeting']}: {w.date(c['meeting'])}",
             f"{w['assembled']}: {w.date(content['assembled_at'])}",
             f"{w['figures_at']}: {w.local(content['at']):%H:%M} {w.date(content['at'])}"]
    lines += [fenced("\n".join(cover)), "", f"## {w['summary'].capitalize()}", ""]
    s = content["summary"]
    lines.append(" · ".join(f"{w[k]}: **{s[k]}**" for k in
                            ("due", "on_time", "late", "missing", "pending", "waived",
                             "withdrawn")))
    lines += ["", f"| {w['party']} | {w['due']} | {w['on_time']} | {w['late']} | "
                  f"{w['missing']} | {w['pending']} | {w['rate']} |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for p in content["figures"]["parties"]:
        lines.append(f"| {_code(p['party'])} | {p['due']} | {p['on_time']} | {p['late']} | "
                     f"{p['missing']} | {p['pending']} | {w.rate(p['on_time_rate'])} |")
    lines += _indicators(content, w)
    lines += _outstanding(content, w)
    nxt = content["next"]
    lines += ["", f"## {w['next'].capitalize()}", ""]
    if nxt:
        lines.append(f"{w['cycle']} {nxt['cycle']}: {_code(nxt['host'])}, "
                     f"{w['meeting'].lower()} {w.date(nxt['meeting'])}")
        lines += ["", fenced(names.get(nxt["host"], {}).get("name", nxt["host"]))]
    else:
        lines.append(w["no_next"])
    return "\n".join(lines) + "\n"


def _indicators(content: dict[str, Any], w: Words) -> list[str]:
    if not content["indicators"]:
        return []
    lines = ["", f"## {w['indicators'].capitalize()}", "",
             f"| {w['commitment']} | {w['indicator']} | {w['total']} | {w['previous']} | "
             f"{w['change']} |", "|---|---|---:|---:|---:|"]
    for i in content["indicators"]:
        lines.append(f"| {_code(i['commitment'])} | {_code(i['indicator'])} | "
                     f"{w.number(i['total'])} | {w.number(i['previous'])} | "
                     f"{w.signed(i['change'], i['kind'] == 'percent')} |")
    for r in content["ratios"]:
        lines.append(f"| {_code(r['commitment'])} | {_code(r['indicator'])} ÷ "
                     f"{_code(r['of'])} | {w.rate(r['value'])} | {w.rate(r['previous'])} | |")
    lines += ["", fenced("\n".join(f"{i['indicator']}: {i['label']}"
                                   for i in content["indicators"]))]
    return lines


def _outstanding(content: dict[str, Any], w: Words) -> list[str]:
    names = content["parties"]
    lines = ["", f"## {w['outstanding'].capitalize()} ({len(content['outstanding'])})", ""]
    if content["outstanding"]:
        lines.append(fenced("\n".join(
            f"{names.get(o['party'], {}).get('short', o['party'])}: "
            f"{o['obligation'].split('/', 1)[-1]} — {w.state(o['state'])}"
            + (f", {o['days_overdue']} ngày" if o["days_overdue"] and w.language == "vi"
               else f", {o['days_overdue']} days" if o["days_overdue"] else "")
            for o in content["outstanding"][:100])))
    else:
        lines.append(w["no_outstanding"])
    blocked = [*(b for c in content["commitments"] for b in c["blocked"]),
               *content["review_blocked"]]
    if blocked:
        lines += ["", f"### {w['blocked']} ({len(blocked)})", "", fenced("\n\n".join(
            f"{names.get(b['party'], {}).get('short', b['party'])} — "
            f"{b['obligation'].split('/', 1)[-1]}:\n{b['reason'] or '—'}"
            for b in blocked[:50]))]
    if content["carried_over"]:
        still = sum(o["state_now"] in ("missing", "pending") for o in content["carried_over"])
        lines += ["", f"### {w['carried']}: {len(content['carried_over'])} ({w['missing'].lower()}"
                      f"/{w['pending'].lower()}: {still})"]
    return lines


def dossier_tables(content: dict[str, Any]) -> dict[str, list[dict[str, object]]]:
    """Table artifacts (plain-text cells): per-party figures, indicators, outstanding."""
    w = Words(content["language"], content["timezone"])
    names = content["parties"]

    def party(pid: str) -> str:
        return cell(names.get(pid, {}).get("short", pid))

    return {
        "parties": [{w["party"]: party(p["party"]), w["due"]: p["due"],
                     w["on_time"]: p["on_time"], w["late"]: p["late"],
                     w["missing"]: p["missing"], w["pending"]: p["pending"],
                     w["rate"]: w.rate(p["on_time_rate"])}
                    for p in content["figures"]["parties"]],
        "indicators": [{w["indicator"]: cell(i["label"]), w["total"]: w.number(i["total"]),
                        w["previous"]: w.number(i["previous"]),
                        w["change"]: w.signed(i["change"], i["kind"] == "percent")}
                       for i in content["indicators"]],
        "outstanding": [{w["party"]: party(o["party"]),
                         w["obligation"]: cell(o["obligation"].split("/", 1)[-1]),
                         w["deadline"]: w.date(o["deadline"]), w["state"]: w.state(o["state"]),
                         w["overdue_days"]: o["days_overdue"]}
                        for o in content["outstanding"]],
    }
