"""import, agreements, obligations, db upgrade: what is stored, and getting it there."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from cli.common import (
    FullTable,
    app_context,
    console,
    fail,
    print_json,
    problem_lines,
    read_bytes,
    show_date,
    tr,
)
from config.bootstrap import App
from core.calendar import LOCAL_ZONE, iso, parse_instant, zone
from core.statuses import ListedStatus
from models.migrate import upgrade
from models.queries import (
    agreements_summary,
    count_next_steps,
    list_obligations,
    next_steps,
)
from models.store import ImportRejected, RegistrationRefused
from notifications import events
from services.imports import import_many, seal_channels

STATUS_VI: dict[str, str] = {
    ListedStatus.OPEN: "đang mở", ListedStatus.OVERDUE: "quá hạn",
    ListedStatus.UPCOMING: "sắp đến hạn",
    ListedStatus.SUBMITTED: "đã nộp", ListedStatus.ACCEPTED: "đã chấp nhận",
    ListedStatus.WAIVED: "được miễn", ListedStatus.WITHDRAWN: "đã rút",
    ListedStatus.UNRECORDED: "quá hạn trước khi đăng ký"}

_migrated = False


def store() -> App:
    """The App with its database at the current schema (migrated on first use)."""
    global _migrated
    app = app_context()
    if not _migrated:
        try:
            upgrade(app.engine)
        except Exception as exc:  # a database that cannot be reached or migrated
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            fail(tr(f"{app.settings.masked_db_url()}: không mở được cơ sở dữ liệu ({reason})",
                    f"{app.settings.masked_db_url()}: cannot open the database ({reason})"))
        _migrated = True
    return app


def status_label(status: str) -> str:
    return tr(STATUS_VI.get(status, status), status)


FilesArg = Annotated[list[Path], typer.Argument(help="Agreement files.", metavar="FILE")]


def import_(
    files: FilesArg,
    registered_at: Annotated[str | None, typer.Option(
        help="When the agreement was really registered (ISO, e.g. 2024-01-15 or "
             "2024-01-15T08:00:00+07:00; without an offset, in the agreement's time zone), "
             "for an agreement that started before phoihop: "
             "items due before it are unrecorded, later ones open (overdue ones are chased). "
             "First import only; default now.")] = None,
) -> None:
    """Validate agreement files and store them (nothing is stored if any file is invalid)."""
    raw = [(str(p), read_bytes(p)) for p in files]
    app = store()
    if registered_at is not None:  # read in each agreement's time zone by import_many
        try:
            parse_instant(registered_at, "UTC")
        except ValueError:
            fail(tr(f"--registered-at: {registered_at!r} không phải ngày giờ ISO "
                    "(ví dụ 2024-01-15T08:00:00+07:00)",
                    f"--registered-at: {registered_at!r} is not an ISO date-time "
                    "(e.g. 2024-01-15T08:00:00+07:00)"))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=console, transient=True, disable=len(raw) < 5) as bar:
        task = bar.add_task(tr("Đang nhập", "Importing"), total=len(raw))
        try:
            results = import_many(app, raw, progress=lambda _r: bar.advance(task),
                                  registered_at=registered_at)
        except ImportRejected as exc:
            fail(problem_lines(exc.problems) + "\n" + tr("Không lưu gì.", "Nothing was stored."))
        except RegistrationRefused as exc:
            if exc.stored is None:
                fail(tr(f"--registered-at: {registered_at} là ngày trong tương lai. Không lưu gì.",
                        f"--registered-at: {registered_at} is in the future. Nothing was "
                        "stored."))
            fail(tr(f"--registered-at: {exc.code} đã được đăng ký lúc "
                    f"{iso(exc.stored, LOCAL_ZONE)}; chỉ dùng cho lần nhập đầu. "
                    "Không lưu gì.",
                    f"--registered-at: {exc.code} was registered at "
                    f"{iso(exc.stored, LOCAL_ZONE)}; it applies to a first import "
                    "only. Nothing was stored."))
    for r in results:
        if r.outcome == "unchanged":
            line = tr(f"{r.code}: không thay đổi (lần {r.revision})",
                      f"{r.code}: unchanged (revision {r.revision})")
        else:
            what = tr("mới", "new") if r.outcome == "created" else tr("sửa đổi", "amended")
            line = tr(f"{r.code}: {what}, lần {r.revision} — thêm {r.added}, cập nhật "
                      f"{r.updated}, rút {r.withdrawn}, quá hạn trước khi đăng ký {r.unrecorded}",
                      f"{r.code}: {what}, revision {r.revision} — added {r.added}, updated "
                      f"{r.updated}, withdrawn {r.withdrawn}, unrecorded {r.unrecorded}")
            # with a Prefect server (PREFECT_API_URL), its automation re-syncs the agreement
            events.agreement_imported(r.code, r.outcome, r.revision)
        console.print(line, markup=False, highlight=False)


def agreements() -> None:
    """The stored agreements, with open and overdue counts."""
    app = store()
    with app.session() as s:
        rows = agreements_summary(s, app.now())
    table = FullTable(title=tr("Chương trình phối hợp", "Agreements"))
    table.add_column(tr("Mã", "Code"))
    table.add_column(tr("Tên", "Title"), min_width=12)
    table.add_column(tr("Giai đoạn", "Period"), min_width=10)
    for col in (tr("Bên", "Parties"), tr("Mở", "Open"), tr("Quá hạn", "Overdue"),
                tr("Đã nộp", "Submitted"), tr("Lần", "Rev.")):
        table.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        table.add_row(r.code, r.title, f"{show_date(r.period_start)} – {show_date(r.period_end)}",  # type: ignore[arg-type]
                      str(r.parties), str(r.open), str(r.overdue), str(r.submitted),
                      str(r.revision))
    console.print(table)


Status = ListedStatus  # what `--status` takes (`open` is `overdue` and `upcoming` together)
TABLE_LIMIT = 200  # rows a table shows unless --limit or --all


def obligations(
    agreement: Annotated[str | None, typer.Option(help="Agreement code.")] = None,
    party: Annotated[str | None, typer.Option(help="Party id.")] = None,
    status: Annotated[Status | None, typer.Option(
        help="open (= overdue + upcoming), overdue, upcoming, submitted, accepted, waived, "
             "withdrawn or unrecorded.")] = None,
    at: Annotated[str | None, typer.Option(
        help="The instant 'overdue' and 'upcoming' are measured at (ISO); default now.")
    ] = None,
    limit: Annotated[int | None, typer.Option(
        min=1, help=f"Show at most N rows (the table's default: {TABLE_LIMIT}; "
                    "--json: all).")] = None,
    all_rows: Annotated[bool, typer.Option("--all", help="Show every row.")] = False,
    json: Annotated[bool, typer.Option(
        "--json", help="Print the rows as JSON (all of them unless --limit).")] = False,
) -> None:
    """The stored obligations, filtered; sorted by deadline. A table shows the first 200
    and says how many it leaves out; --all or --limit N shows more."""
    if all_rows and limit is not None:
        raise typer.BadParameter("--all and --limit exclude each other", param_hint="--all")
    app = store()
    when = app.now()
    if at is not None:
        try:
            when = parse_instant(at, LOCAL_ZONE)
        except ValueError:
            fail(tr(f"--at: {at!r} không phải ngày giờ ISO", f"--at: {at!r} is not an ISO "
                    "date-time"))
    shown = limit if limit is not None else (None if all_rows or json else TABLE_LIMIT)
    with app.session() as s:
        rows, total = list_obligations(s, at=when, agreement=agreement, party=party,
                                       status=status.value if status else None, limit=shown)
    if json:
        data: dict[str, object] = {"obligations": [{
            "id": r.key, "agreement": r.agreement, "commitment": r.commitment,
            "party": r.party, "label": r.label, "kind": r.kind, "due": str(r.due),
            "deadline": iso(r.deadline, r.timezone), "status": r.shown_status(when),
            "last_step": r.last_step,
            "next_fire": iso(r.next_fire, r.timezone) if r.next_fire else None,
        } for r in rows], "total": total}
        if limit is not None:
            data["limit"] = limit
            data["truncated"] = len(rows) < total
        print_json(data)
        return
    table = FullTable(title=tr(f"Nghĩa vụ ({len(rows)}/{total})",
                               f"Obligations ({len(rows)}/{total})"))
    for col in (tr("Hạn", "Due"), tr("Chương trình", "Agreement"), tr("Bên", "Party"),
                tr("Nội dung", "Commitment"), tr("Kỳ", "Period"), tr("Trạng thái", "Status"),
                tr("Bậc đã tới", "Last rung")):
        table.add_column(col)
    for r in rows:
        state = r.shown_status(when)
        style = "red" if state == "overdue" else ""
        table.add_row(show_date(r.due), r.agreement, r.party, r.commitment or "—", r.label,  # type: ignore[arg-type]
                      status_label(state), "—" if r.last_step is None else str(r.last_step),
                      style=style)
    console.print(table)
    if len(rows) < total:
        console.print(tr(
            f"Đang hiện {len(rows)} trong {total} dòng (theo hạn); còn {total - len(rows)} "
            "dòng nữa: thêm --all để xem hết, hoặc --limit N.",
            f"Showing {len(rows)} of {total} rows (by deadline); {total - len(rows)} more: "
            "add --all to see them all, or --limit N."), markup=False, highlight=False)


def print_next_steps(app: App, after: datetime, limit: int = 15, env: str = "") -> None:
    """The next `limit` steps the ladder sends, and how many are planned in all (`env`:
    what the command that lists the rest needs before it, e.g. the demo's data dir)."""
    with app.session() as s:
        steps = next_steps(s, after, limit)
        total = count_next_steps(s, after)
    table = FullTable(title=tr(f"Bước nhắc việc sắp gửi ({len(steps)}/{total}, sớm nhất trước)",
                               f"What the ladder sends next ({len(steps)}/{total}, "
                               "soonest first)"))
    for col in (tr("Lúc", "At"), tr("Chương trình", "Agreement"), tr("Nghĩa vụ", "Obligation"),
                tr("Bên", "Party")):
        table.add_column(col)
    for st in steps:
        local = st.at.astimezone(zone(st.timezone))
        table.add_row(f"{show_date(local.date())} {local:%H:%M}", st.agreement, st.obligation,
                      st.party)
    console.print(table)
    if len(steps) < total:
        see = f"{env}phoihop obligations --status open --all"
        console.print(tr(f"Còn {total - len(steps)} bước nữa, của các nghĩa vụ đang mở: {see}",
                         f"{total - len(steps)} more, of the open obligations: {see}"),
                      markup=False, highlight=False, soft_wrap=True)


db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the current schema (creates it when new), and seal the
    inline channel URLs stored before phoihop sealed them (docs/storage.md)."""
    app = store()
    console.print(tr(f"Cơ sở dữ liệu đã ở phiên bản mới nhất: {app.settings.masked_db_url()}",
                     f"Database at the current schema: {app.settings.masked_db_url()}"),
                  markup=False)
    done, why = seal_channels(app, app.engine)
    if done.rows:
        console.print(tr(
            f"Đã niêm phong kênh ghi thẳng trong {done.contacts} đầu mối, {done.agreements} "
            f"chương trình, {done.messages} tin nhắn",
            f"Sealed the inline channels of {done.contacts} contacts, {done.agreements} "
            f"agreements, {done.messages} messages"), markup=False)
        if why is not None:
            console.print(tr(
                f"Chưa ghi lại được tệp cơ sở dữ liệu ({why}): bản cũ, đọc được, của các kênh "
                "còn trong phần trống của tệp tới khi bị ghi đè; dừng phoihop rồi chạy VACUUM",
                f"The database files could not be rewritten ({why}): the old, readable "
                "copies of the channels stay in their free space until overwritten; stop "
                "phoihop and run VACUUM"), markup=False)
    if done.unopened:
        console.print(tr(
            f"{done.unopened} kênh đã niêm phong không mở được: khóa bí mật đã đổi từ khi "
            "lưu (khôi phục khóa cũ, hoặc nhập lại chương trình đã sửa)",
            f"{done.unopened} sealed channels cannot be opened: the secret key changed "
            "since they were stored (restore the old key, or import the agreement amended)"),
            markup=False)


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
    app.command()(agreements)
    app.command()(obligations)
    app.add_typer(db_app, name="db")
