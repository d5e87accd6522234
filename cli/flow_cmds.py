"""up, sync, sweep: the Prefect side of phoihop from the command line."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import console, fail, problem_lines, read_bytes, tr
from cli.doctor_cmds import print_checks
from cli.store_cmds import store
from config.settings import Settings
from flows.supervise import WINDOW, Restart, Stopped, Supervisor
from models.store import ImportRejected
from services.imports import import_many

if TYPE_CHECKING:
    from flows.doctor import LogWatch

CHECK_WAIT = 60.0  # seconds a start-up check may wait for the stack (the scheduler: ~5 s)


def _stop_on_signals() -> None:
    """Ctrl-C, `kill` (SIGTERM: systemd, docker stop) and a closed terminal (SIGHUP) all stop
    `up` the same clean way: KeyboardInterrupt, then `LocalStack.stop`; a second signal
    does not cut that short. SIGINT is set even where it came in ignored (a shell starts
    background jobs so): the processes `up` starts would inherit the ignore, and Ctrl-C,
    or `stop`'s SIGINT, would not reach them."""
    def stop(_signum: int, _frame: object) -> None:
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        raise KeyboardInterrupt

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, stop)


def _restarting(r: Restart) -> None:
    console.print(tr(
        f"{r.name} đã dừng (mã {r.returncode}); khởi động lại sau {r.delay:.0f} giây "
        f"(lần dừng thứ {r.failures} trong {WINDOW / 60:.0f} phút).",
        f"{r.name} stopped (exit {r.returncode}); restarting in {r.delay:.0f} s "
        f"(exit {r.failures} within {WINDOW / 60:.0f} min)."), markup=False)


def _gave_up(exc: Stopped, settings: Settings) -> str:
    if exc.why == "essential":
        why = tr(f"{exc.name} đã dừng (mã {exc.returncode}): không có nó thì không gì chạy "
                 "được, nên mọi tiến trình đều được dừng",
                 f"{exc.name} stopped (exit {exc.returncode}): nothing works without it, so "
                 "everything is stopped")
    else:
        why = tr(f"{exc.name} đã dừng {exc.failures} lần trong {WINDOW / 60:.0f} phút "
                 f"(mã {exc.returncode}); mọi tiến trình đều được dừng",
                 f"{exc.name} stopped {exc.failures} times within {WINDOW / 60:.0f} min "
                 f"(exit {exc.returncode}); everything is stopped")
    return why + tr("; xem nhật ký trong ", "; see the logs in ") + str(settings.data_dir)


def run_stack(settings: Settings, port: int | None = None, mail_sink: bool = False,
              api_workers: int = 1, workers: int = 1, portal_workers: int = 1,
              host: str = "127.0.0.1") -> None:
    """Start server, worker and deployments; sync; catch up; keep the children alive
    (flows.supervise) until Ctrl-C (or SIGTERM); stop cleanly."""
    from flows.local import LocalStack, auth_file

    _stop_on_signals()

    # sets PREFECT_API_URL before prefect is imported
    try:
        stack = LocalStack(settings, port or settings.prefect_port, api_workers=api_workers,
                           redis_url=settings.redis_url, host=host,
                           supervisor=Supervisor(report=_restarting))
    except ValueError as exc:
        fail(str(exc))
    watch = server_log_watch(settings)
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.sync import sync
    try:
        with console.status(tr("Đang khởi động Prefect…", "Starting Prefect…")):
            mailbox = stack.start_mail_sink() if mail_sink else None
            stack.start_server()
            stack.deploy()
            for n in range(1, workers + 1):
                stack.start_worker(f"phoihop-worker-{n}")
            stack.start_portal(portal_workers)
            # this sync runs inside `up`, not on a worker: no heartbeats (if `up` dies, so
            # does the run, and the next `up` syncs again); a heartbeat of it that reached
            # Prefect after its Completed event started the missed-heartbeat timer afresh
            with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
                result = asyncio.run(sync())
            run_deployment("sweep/sweep", timeout=0, tags=["phoihop"], as_subflow=False,
                           flow_run_name=tr("Quét khi khởi động", "Start-up sweep"))
        console.print(tr(
            f"Đã lên lịch {result['wanted']} lần chạy nhắc việc trong {settings.horizon_days} "
            f"ngày tới (tạo mới {result['created']}, hủy {result['cancelled']}).",
            f"{result['wanted']} ladder runs scheduled for the next {settings.horizon_days} days "
            f"(created {result['created']}, cancelled {result['cancelled']})."), markup=False)
        console.print(tr("Cổng trả lời của đối tác: ", "Partner reply portal: ")
                      + settings.portal_url, markup=False)
        if mailbox is not None:
            console.print(tr("Hộp thư mẫu (mỗi thư một tệp .eml): ",
                             "Demo mailbox (one .eml file per message): ") + str(mailbox),
                          markup=False)
        console.print(tr("Kiểm tra hệ thống:", "Self-check:"), markup=False)
        print_checks(settings, wait=CHECK_WAIT)
        watch.start()
        console.print(tr("Giao diện Prefect: ", "Prefect UI: ") + stack.ui_url
                      + tr(f"  — đăng nhập bằng chuỗi trong {auth_file(settings)}; lọc theo "
                           "thẻ agreement:<mã>. Ctrl-C để dừng.",
                           f"  — sign in with the line in {auth_file(settings)}; filter by "
                           "tag agreement:<code>. Ctrl-C to stop."),
                      markup=False)
        while True:  # a child that stops is started again; Stopped when that is no use
            stack.supervisor.check()
            time.sleep(1)
    except Stopped as exc:
        fail(_gave_up(exc, settings))
    except KeyboardInterrupt:
        console.print(tr("Đang dừng…", "Stopping…"))
    except RuntimeError as exc:
        fail(str(exc))
    finally:
        watch.stop()
        stack.stop()


def server_log_watch(settings: Settings) -> LogWatch:
    """Prefect's server logs followed from now on: each ERROR becomes one console line."""
    import re

    from flows.doctor import RETRIED, LogWatch

    def say(path: Path, line: str) -> None:
        hint = next((h for pattern, h in RETRIED.items() if re.search(pattern, line)), None)
        after = tr(f" — {hint[0]}", f" — {hint[1]}") if hint else ""
        console.print(tr(f"✗ Máy chủ Prefect ghi lỗi ({path.name}): {line}{after}",
                         f"✗ Prefect's server logged an error ({path.name}): {line}{after}"),
                      markup=False, highlight=False, soft_wrap=True)

    return LogWatch([settings.data_dir / "prefect-server.log",
                     settings.data_dir / "prefect-services.log"], say)


def up(
    files: Annotated[list[Path] | None, typer.Argument(help="Agreement files to import.")] = None,
    port: Annotated[int | None, typer.Option(
        help="Port of the local Prefect server (default: the prefect_port setting, 4200)."
    )] = None,
    host: Annotated[str, typer.Option(
        help="Address Prefect's API and UI listen on; beyond loopback only with "
             "authentication (PREFECT_SERVER_API_AUTH_STRING).")] = "127.0.0.1",
    api_workers: Annotated[int, typer.Option(
        min=1, help="Prefect API processes; above 1 needs Prefect on PostgreSQL "
                    "(PREFECT_API_DATABASE_CONNECTION_URL) and Redis (redis_url).")] = 1,
    workers: Annotated[int, typer.Option(min=1, help="Prefect workers on the pool.")] = 1,
    portal_workers: Annotated[int, typer.Option(
        min=1, help="Processes of the reply portal (phoihop portal --workers).")] = 1,
) -> None:
    """Start everything: local Prefect server, work pool and worker; import; sync."""
    app = store()
    if files:
        try:
            for r in import_many(app, [(str(p), read_bytes(p)) for p in files]):
                console.print(f"{r.code}: {r.outcome}, {tr('lần', 'revision')} {r.revision}",
                              markup=False)
        except ImportRejected as exc:
            fail(problem_lines(exc.problems))
    run_stack(app.settings, port, api_workers=api_workers, workers=workers,
              portal_workers=portal_workers, host=host)


def sync_cmd(
    at: Annotated[str | None, typer.Option(help="Plan from this instant (ISO); default now.")
                  ] = None,
    horizon_days: Annotated[int | None, typer.Option(help="How many days ahead.")] = None,
) -> None:
    """Make Prefect's scheduled runs match the plan (needs a running Prefect API: `phoihop
    up` in another terminal, or PREFECT_API_URL)."""
    app = store()
    # The credentials of the stack `phoihop up` runs from this data dir, unless given
    from flows.local import auth_file

    if not os.environ.get("PREFECT_API_AUTH_STRING") and auth_file(app.settings).exists():
        os.environ["PREFECT_API_AUTH_STRING"] = auth_file(app.settings).read_text().strip()
    # Before Prefect is asked anything: without a reachable API it would start a temporary
    # server of its own (and try to send telemetry), then fail with tracebacks.
    from prefect.settings import get_current_settings

    prefect = get_current_settings()  # the environment, then Prefect's profile
    api = prefect.api.url
    if not api:
        fail(tr("Không có máy chủ Prefect để đồng bộ: chưa đặt PREFECT_API_URL. Hãy chạy "
                "`phoihop up` (nó tự đồng bộ), hoặc đặt PREFECT_API_URL tới máy chủ đang chạy.",
                "No Prefect server to sync with: PREFECT_API_URL is not set. Run `phoihop up` "
                "(it syncs by itself), or set PREFECT_API_URL to a running server."))
    auth = prefect.api.auth_string
    problem = _api_problem(str(api), auth.get_secret_value() if auth else None)
    if problem:
        fail(tr(f"Không kết nối được máy chủ Prefect tại {api} ({problem}). Hãy chạy "
                "`phoihop up`, hoặc sửa PREFECT_API_URL.",
                f"Cannot reach the Prefect server at {api} ({problem}). Run `phoihop up`, "
                "or fix PREFECT_API_URL."))
    from flows.sync import sync

    try:
        result = asyncio.run(sync(at=at, horizon_days=horizon_days))
    except Exception as exc:  # the server went away, or refused the work
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        fail(tr("Không đồng bộ được với Prefect: ", "Could not sync with Prefect: ") + reason)
    console.print(tr(f"Kế hoạch {result['wanted']}, tạo mới {result['created']}, giữ "
                     f"{result['kept']}, hủy {result['cancelled']}.",
                     f"Planned {result['wanted']}, created {result['created']}, kept "
                     f"{result['kept']}, cancelled {result['cancelled']}."), markup=False)


def _api_problem(api: str, auth: str | None, timeout: float = 3.0) -> str | None:
    """None when `<api>/health` answers 200 within `timeout` seconds, else why not (with
    the credentials of PREFECT_API_AUTH_STRING when set)."""
    import base64
    import urllib.error
    import urllib.request

    request = urllib.request.Request(api.rstrip("/") + "/health")
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return None if answer.status == 200 else f"HTTP {answer.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return str(reason) or type(exc).__name__


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command("sync")(sync_cmd)
