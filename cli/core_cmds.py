"""validate, plan, simulate, dossier: the pure core, printed. No database is touched."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from cli.common import (
    Failure,
    FullTable,
    agreement_from,
    app_context,
    console,
    fail,
    print_json,
    problem_lines,
    read_bytes,
    replies_from,
    show_date,
    tr,
)
from core.agreement import Agreement
from core.calendar import DateOutOfRange, WorkCalendar, check_day, iso, parse_instant
from core.dossier import UnknownCycle, figures
from core.expand import Plan, expand
from core.ladder import simulate as run_simulation
from core.parse import load_agreement
from core.replies import Reply

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the JSON of cli.md.")]


FileArg = Annotated[Path, typer.Argument(help="An agreement file.", metavar="FILE")]


def validate(files: Annotated[list[Path], typer.Argument(
        help="Agreement files.", metavar="FILE")]) -> None:
    """Check agreement files against the format without touching any database; every file
    is checked, a missing one included."""
    bad = False
    for path in files:
        try:
            raw = read_bytes(path)
        except Failure as exc:  # one file missing: said, and the others still checked
            bad = True
            typer.echo(str(exc))
            continue
        agreement, problems = load_agreement(raw, str(path), app_context().parse_options)
        if problems or agreement is None:
            bad = True
            for p in problems:
                typer.echo(problem_lines([p]))
        else:
            plan = expand(agreement, app_context().calendar)
            typer.echo(f"{path}: " + tr(
                f"hợp lệ — {agreement.code}, {len(agreement.parties)} bên, "
                f"{len(plan.obligations)} nghĩa vụ",
                f"valid — {agreement.code}, {len(agreement.parties)} parties, "
                f"{len(plan.obligations)} obligations"))
    if bad:
        raise typer.Exit(1)


def plan(file: FileArg, json: JsonOpt = False) -> None:
    """Expand one agreement into its obligations and review cycles."""
    agreement = agreement_from(file)
    result = expand(agreement, app_context().calendar)
    if json:
        print_json(result.as_json())
        return
    table = FullTable(title=f"{agreement.code} — {agreement.title}", title_justify="left")
    for col in (tr("Hạn", "Due"), tr("Bên", "Party"), tr("Nội dung", "Commitment"),
                tr("Kỳ", "Period"), tr("Loại", "Kind")):
        table.add_column(col)
    for o in result.obligations:
        kind = tr("báo cáo", "report") if o.kind == "report" else tr("đánh giá", "review")
        table.add_row(show_date(o.due), o.party, o.commitment or "—", o.label, kind)
    console.print(table)
    reviews = FullTable(title=tr("Các kỳ sơ kết, tổng kết", "Review cycles"), title_justify="left")
    for col in (tr("Kỳ", "Cycle"), tr("Giai đoạn", "Covers"), tr("Họp", "Meeting"),
                tr("Chủ trì", "Host"), ""):
        reviews.add_column(col)
    for r in result.reviews:
        note = tr("tổng kết", "final") if r.final else ""
        if r.skipped:
            note = tr("bỏ qua (trước ngày ký)", "skipped (before signing)")
        reviews.add_row(str(r.cycle), f"{show_date(r.start)} – {show_date(r.end)}",
                        show_date(r.meeting), r.host, note)
    console.print(reviews)


def _planned(file: Path, replies: Path | None
             ) -> tuple[Agreement, WorkCalendar, Plan, list[Reply]]:
    """The agreement, calendar, plan and replies file that simulate and dossier share."""
    agreement = agreement_from(file)
    cal = app_context().calendar
    result = expand(agreement, cal)
    return agreement, cal, result, replies_from(replies, agreement,
                                                {o.id for o in result.obligations})


def _instant(text: str | None, tz: str, what: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_instant(text, tz)
    except DateOutOfRange as exc:
        fail(f"{what}: {exc}")
    except ValueError:
        fail(tr(f"{what}: {text!r} không phải ngày giờ ISO (ví dụ 2022-12-01T10:00:00+07:00)",
                f"{what}: {text!r} is not an ISO date-time (e.g. 2022-12-01T10:00:00+07:00)"))


def _day(text: str, what: str) -> date:
    try:
        return check_day(date.fromisoformat(text))
    except DateOutOfRange as exc:
        fail(f"{what}: {exc}")
    except ValueError:
        fail(tr(f"{what}: {text!r} không phải ngày viết YYYY-MM-DD",
                f"{what}: {text!r} is not a date written YYYY-MM-DD"))


def simulate(
    file: FileArg,
    until: Annotated[str, typer.Option(help="Last day ticked, YYYY-MM-DD.")],
    registered_at: Annotated[str | None, typer.Option(
        help="When the agreement is registered (ISO); default signed_on 00:00 local.")] = None,
    replies: Annotated[Path | None, typer.Option(help="A replies file (YAML list).")] = None,
    json: JsonOpt = False,
) -> None:
    """Run the escalation ladder on a simulated clock and list every step that fires."""
    agreement, cal, result, answered = _planned(file, replies)
    sim = run_simulation(result, cal, _day(until, "--until"),
                         _instant(registered_at, agreement.timezone, "--registered-at"),
                         answered)
    if json:
        print_json(sim.as_json(agreement.timezone))
        return
    table = FullTable(title=tr(f"Mô phỏng {agreement.code} đến {show_date(_day(until, ''))}",
                           f"Simulation of {agreement.code} through {show_date(_day(until, ''))}"),
                  title_justify="left")
    for col in (tr("Lúc", "At"), tr("Nghĩa vụ", "Obligation"), tr("Bậc", "Step"),
                tr("Việc", "Action"), tr("Gửi tới", "To"), tr("Bỏ qua", "Skipped")):
        table.add_column(col)
    actions = {"request": tr("đề nghị", "request"), "remind": tr("nhắc", "remind"),
               "escalate": tr("chuyển cấp", "escalate")}
    for e in sim.events:
        table.add_row(iso(e.at, agreement.timezone)[:16].replace("T", " "), e.obligation,
                      str(e.step), actions[e.action], ", ".join(e.to),
                      ", ".join(map(str, e.skipped)))
    console.print(table)
    if sim.unrecorded:
        console.print(tr("Quá hạn trước khi đăng ký (không nhắc): ",
                         "Overdue before registration (not chased): ")
                      + ", ".join(sim.unrecorded), markup=False)


def dossier(
    file: FileArg,
    cycle: Annotated[int, typer.Option(help="Review cycle number, from 1.")],
    at: Annotated[str, typer.Option(help="The instant the figures stand at (ISO).")],
    replies: Annotated[Path | None, typer.Option(help="A replies file (YAML list).")] = None,
    json: JsonOpt = False,
) -> None:
    """The figures of one review cycle's dossier, as they stand at a given instant."""
    agreement, cal, result, answered = _planned(file, replies)
    when = _instant(at, agreement.timezone, "--at")
    assert when is not None
    try:
        data = figures(result, cycle, when, answered, cal)
    except UnknownCycle:
        known = ", ".join(str(r.cycle) for r in result.reviews)
        fail(tr(f"{file}: chương trình {agreement.code} không có kỳ sơ kết {cycle} "
                f"(các kỳ: {known})",
                f"{file}: agreement {agreement.code} has no review cycle {cycle} "
                f"(cycles: {known})"))
    if json:
        print_json(data)
        return
    from cli.dossier_view import print_dossier

    print_dossier(agreement, data)


def register(app: typer.Typer) -> None:
    for fn in (validate, plan, simulate, dossier):
        app.command()(fn)
