"""`phoihop demo`: the two example agreements, alive on a clock set inside their lifetime.

The demo keeps its own database (`<data dir>/demo/`), imports the examples as if
registered on their signing days, records the example replies at their times, and
runs the ladder once a day up to the demo's "today", so that some obligations are
answered, some upcoming and some overdue at different rungs.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated

import typer

from cli.common import (
    FullTable,
    console,
    demo_settings,
    fail,
    pin_config_file,
    problem_lines,
    read_bytes,
    show_date,
    tr,
)
from cli.store_cmds import print_next_steps, status_label
from config.bootstrap import App, bootstrap, system_clock
from config.settings import ConfigError, load_settings
from core.calendar import LOCAL_ZONE, iso, local_instant, zone
from core.expand import expand
from core.parse import load_agreement
from core.replies import load_replies
from core.statuses import ListedStatus, ReplyStatus
from models.migrate import upgrade
from models.queries import list_obligations
from services.imports import import_agreement
from services.ladder import enqueue_fired, tick
from services.replies import record_reply

EXAMPLES = Path(__file__).resolve().parents[1] / "config" / "examples"  # copies of shared/
RECENT_DAYS = 30
REPLIES = ("quang-tri-replies.yaml", "thanh-hoa-demo-replies.yaml")


class DemoClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def seed(app: App, clock: DemoClock, examples: Path, today: date) -> int:
    """Import the examples at their signing, replay the replies, tick daily; steps fired."""
    upgrade(app.engine)
    agreements = []
    for name in ("quang-tri-2021-2025.yaml", "thanh-hoa-2024-2030.yaml"):
        raw = read_bytes(examples / name)
        agreement, problems = load_agreement(raw, name, app.parse_options)
        if agreement is None:
            fail(problem_lines(problems))
        agreements.append((agreement, raw, name))
    replies = []
    for (agreement, _raw, _name), file in zip(agreements, REPLIES, strict=True):
        known = {o.id for o in expand(agreement, app.calendar).obligations}
        found, problems = load_replies(read_bytes(examples / file), file, LOCAL_ZONE, known)
        if problems:
            fail(problem_lines(problems))
        replies += found
    pending = sorted(replies, key=lambda r: r.at)
    starts = {a.signed_on: (a, raw, name) for a, raw, name in agreements}
    fired = 0
    day = min(starts)
    while day <= today:
        if day in starts:
            _a, raw, name = starts[day]
            clock.at = local_instant(day, time(0, 0), LOCAL_ZONE)
            import_agreement(app, raw, name)
        now = local_instant(day, time(8, 0), LOCAL_ZONE)
        clock.at = now
        with app.session(write=True) as s:
            while pending and pending[0].at <= now:
                r = pending.pop(0)
                record_reply(s, app, obligation_key=r.obligation, status=r.status, at=r.at,
                             until=r.until, values=dict(r.values), source="demo",
                             percent=50 if r.status == ReplyStatus.IN_PROGRESS else None)
            items = tick(s, app, now)
            fired += len(items)
            if (today - day).days < RECENT_DAYS:  # the last days' messages go to the mailbox
                enqueue_fired(s, app, items, now)
        day += timedelta(days=1)
    return fired


def show_today(app: App, today: date) -> None:
    now = local_instant(today, time(8, 0), LOCAL_ZONE)
    soon = now + timedelta(days=30)
    with app.session() as s:
        overdue, n_overdue = list_obligations(s, at=now, status=ListedStatus.OVERDUE, limit=12)
        upcoming, _ = list_obligations(s, at=now, status=ListedStatus.UPCOMING, limit=500)
        done, n_done = list_obligations(s, at=now, status=ListedStatus.SUBMITTED, limit=8)
    due_soon = [r for r in upcoming if r.deadline <= soon]
    at = iso(now, LOCAL_ZONE)
    env = f"PHOIHOP_DATA_DIR={app.settings.data_dir} "  # the demo's own data dir
    for title, rows, total, status in (
        (tr("Quá hạn", "Overdue"), overdue, n_overdue, ListedStatus.OVERDUE),
        (tr("Đến hạn trong 30 ngày tới", "Due in the next 30 days"), due_soon[:12],
         len(due_soon), ListedStatus.UPCOMING),
        (tr("Đã nộp", "Submitted"), done, n_done, ListedStatus.SUBMITTED),
    ):
        table = FullTable(title=f"{title} ({len(rows)}/{total})", title_justify="left")
        for col in (tr("Hạn", "Due"), tr("Chương trình", "Agreement"), tr("Bên", "Party"),
                    tr("Nội dung", "Commitment"), tr("Kỳ", "Period"), tr("Trạng thái", "Status"),
                    tr("Bậc", "Rung")):
            table.add_column(col)
        for r in rows:
            table.add_row(show_date(r.due), r.agreement, r.party, r.commitment or "—",  # type: ignore[arg-type]
                          r.label, status_label(r.shown_status(now)),
                          "—" if r.last_step is None else str(r.last_step))
        console.print(table)
        if len(rows) < total:  # what the table leaves out, and how to see it
            see = f"{env}phoihop obligations --status {status} --at {at} --all"
            console.print(tr(f"Còn {total - len(rows)} dòng nữa; xem hết: {see}",
                             f"{total - len(rows)} more rows; to see them all: {see}"),
                          markup=False, highlight=False, soft_wrap=True)
    print_next_steps(app, now, env=env)


def demo(
    today: Annotated[str | None, typer.Option(
        help="The demo's today, YYYY-MM-DD (default: today).")] = None,
    examples: Annotated[Path, typer.Option(help="Folder of the example agreements.")] = EXAMPLES,
    server: Annotated[bool, typer.Option(
        help="Start Prefect, a worker and sync (--no-server: tables only).")] = True,
    port: Annotated[int, typer.Option(help="Port of the local Prefect server.")] = 4200,
) -> None:
    """The two example agreements alive: history replayed to today, then everything started."""
    try:
        day = (date.fromisoformat(today) if today
               else system_clock().astimezone(zone(LOCAL_ZONE)).date())
    except ValueError:
        fail(tr(f"--today: {today!r} không phải ngày viết YYYY-MM-DD",
                f"--today: {today!r} is not a date written YYYY-MM-DD"))
    try:
        base = load_settings()
    except ConfigError as exc:
        fail(str(exc))
    pin_config_file()  # the demo's processes get <data dir>/demo: the same TOML for them
    settings = demo_settings(base)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "phoihop.db").unlink(missing_ok=True)
    clock = DemoClock(local_instant(day, time(8, 0), LOCAL_ZONE))
    app = bootstrap(settings, clock=clock)
    with console.status(tr("Đang dựng dữ liệu mẫu…", "Building the demo data…")):
        fired = seed(app, clock, examples, day)
    console.print(tr(
        f"Hôm nay của bản mẫu: {show_date(day)} — đã chạy thang nhắc việc mỗi ngày từ ngày ký, "
        f"{fired} bước đã gửi. Cơ sở dữ liệu: {settings.db_url}",
        f"Demo today: {show_date(day)} — the ladder ran daily since signing, {fired} steps "
        f"fired. Database: {settings.db_url}"), markup=False)
    show_today(app, day)
    if server:
        from cli.flow_cmds import run_stack

        run_stack(settings, port, mail_sink=True)


def register(app: typer.Typer) -> None:
    app.command()(demo)
