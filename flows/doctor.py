"""Is the stack really working? The checks `phoihop up` prints after start and `phoihop doctor`
runs against a running stack, and the watch on Prefect's server log.

Each check answers one question a coordinator would otherwise find out days later: does
Prefect's scheduler create the daily sweep's runs, does a worker poll the pool, does the
portal answer, does the mail server accept a connection, is the database at the current
migration, and is it sound (`models.integrity`). A failed check names the log to read and
the likely cause.
"""

from __future__ import annotations

import asyncio
import re
import smtplib
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from config.settings import Settings

POOL = "phoihop"
SWEEP = "sweep/sweep"
WORKER_FRESH = timedelta(seconds=90)  # a worker heartbeats every 30 s (Prefect's default)
ERROR_LINE = re.compile(r"\|\s*(ERROR|CRITICAL)\s*\||^(ERROR|CRITICAL):")
# ERRORs Prefect's server logs and recovers from by itself, with what to tell the reader:
# on SQLite, its in-memory messaging consumer's write can meet another writer's lock
# ("database is locked" at once, not after the busy timeout, when a read transaction would
# have to upgrade); it retries that message (prefect/server/utilities/messaging/memory.py,
# `subscription.retry`). Seen under load on 2 cores, a few times an hour at most.
RETRIED = {
    r"Failed in consume_loop \(sqlite3\.OperationalError: database is locked\)":
        ("Prefect tự thử lại tin này", "Prefect retries this message"),
    # a read-then-write transaction on Prefect's SQLite: the server closes the worker's
    # channel, the worker reconnects within seconds and heartbeats again
    r"Worker channel heartbeat persistence failed: .*"
    r"\(sqlite3\.OperationalError: database is locked\)":
        ("worker tự kết nối lại và báo nhịp tiếp", "the worker reconnects and heartbeats on"),
    # an automation updated in place: Prefect's periodic check meets the replaced trigger
    # once; its next loop (seconds later) evaluates the new one
    r"evaluate_proactive_triggers_periodic.*"
    r"\(AssertionError: Trigger\._automation has been garbage collected\)":
        ("Prefect kiểm tra lại tự động hoá mới ở vòng sau",
         "Prefect checks the updated automation on its next loop"),
}


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, whether it holds, and if not, why and
    where to look (both in Vietnamese and English)."""

    vi: str
    en: str
    ok: bool
    why_vi: str = ""
    why_en: str = ""

    def line(self, language: str) -> str:
        mark = "✓" if self.ok else "✗"
        what = self.vi if language == "vi" else self.en
        why = self.why_vi if language == "vi" else self.why_en
        return f"{mark} {what}" + (f" — {why}" if why else "")


def _poll(probe: Callable[[], str | None], seconds: float, every: float = 1.0) -> str | None:
    """Run `probe` until it returns None (holds) or `seconds` pass; its last complaint."""
    deadline = time.monotonic() + seconds
    while True:
        complaint = probe()
        if complaint is None or time.monotonic() >= deadline:
            return complaint
        time.sleep(every)


async def _sweep_next_run() -> datetime | None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    from config.bootstrap import system_clock

    async with get_client() as client:
        runs = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["sweep"])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
                expected_start_time=FlowRunFilterExpectedStartTime.model_validate(
                    {"after_": system_clock()})),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=1)
        return runs[0].expected_start_time if runs else None


async def _worker_last_seen() -> datetime | None:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        workers = await client.read_workers_for_work_pool(POOL)
        seen = [w.last_heartbeat_time for w in workers if w.last_heartbeat_time]
        return max(seen) if seen else None


def check_scheduler(settings: Settings, wait: float) -> Check:
    log = settings.data_dir / "prefect-server.log"
    found: list[datetime] = []

    def probe() -> str | None:
        try:
            at = asyncio.run(_sweep_next_run())
        except Exception as exc:  # the API unreachable or refusing: said in the line
            return f"API: {str(exc).splitlines()[0][:160]}"
        if at is None:
            return "none"
        found.append(at)
        return None

    complaint = _poll(probe, wait, every=2.0)
    if complaint is None:
        local = found[-1].astimezone(_zone())
        return Check(f"Bộ lập lịch của Prefect đã tạo lần quét tới ({local:%H:%M %d/%m/%Y})",
                     f"Prefect's scheduler created the next sweep ({local:%H:%M %d/%m/%Y})",
                     True)
    return Check(
        "Bộ lập lịch của Prefect chưa tạo lần quét hằng ngày nào",
        "Prefect's scheduler has created no daily sweep run", False,
        f"xem {log}; nguyên nhân thường gặp: dịch vụ lập lịch lỗi vì phiên bản thư viện khác "
        f"bản đã khóa (chạy lại `make clean demo`) ({complaint})",
        f"read {log}; likely cause: the scheduler service fails on a library version other "
        f"than the locked one (run `make clean demo` again) ({complaint})")


def check_worker(settings: Settings, wait: float) -> Check:
    log = settings.data_dir / "phoihop-worker-1.log"

    from config.bootstrap import system_clock

    def probe() -> str | None:
        try:
            seen = asyncio.run(_worker_last_seen())
        except Exception as exc:
            return f"API: {str(exc).splitlines()[0][:160]}"
        if seen is None:
            return "no worker"
        age = system_clock() - seen
        return None if age <= WORKER_FRESH else f"last seen {int(age.total_seconds())} s ago"

    complaint = _poll(probe, wait, every=2.0)
    if complaint is None:
        return Check(f"Worker đang nhận việc từ hàng đợi {POOL}",
                     f"A worker polls the work pool {POOL}", True)
    return Check(
        f"Không có worker nào nhận việc từ hàng đợi {POOL}",
        f"No worker polls the work pool {POOL}", False,
        f"xem {log}; nguyên nhân thường gặp: worker đã dừng hoặc không tới được API ({complaint})",
        f"read {log}; likely cause: the worker stopped or cannot reach the API ({complaint})")


def check_portal(settings: Settings, wait: float) -> Check:
    log = settings.data_dir / "portal.log"
    url = settings.portal_url.rstrip("/") + "/r/-"

    def probe() -> str | None:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return None
        except urllib.error.HTTPError as exc:  # an answer: the portal refuses the dummy link
            return None if exc.code < 500 else f"HTTP {exc.code}"
        except OSError as exc:
            return str(getattr(exc, "reason", exc))

    complaint = _poll(probe, wait)
    if complaint is None:
        return Check(f"Cổng trả lời phản hồi tại {settings.portal_url}",
                     f"The reply portal answers at {settings.portal_url}", True)
    return Check(
        f"Cổng trả lời không phản hồi tại {settings.portal_url}",
        f"The reply portal does not answer at {settings.portal_url}", False,
        f"xem {log}; nguyên nhân thường gặp: cổng {settings.portal_port} đang bị chiếm hoặc "
        f"portal_url sai ({complaint})",
        f"read {log}; likely cause: port {settings.portal_port} is taken or portal_url is "
        f"wrong ({complaint})")


def check_mail(settings: Settings, wait: float) -> Check:
    mail = settings.mail
    where = f"{mail.host}:{mail.port}"

    def probe() -> str | None:
        try:
            kind = smtplib.SMTP_SSL if mail.ssl else smtplib.SMTP
            with kind(mail.host, mail.port, timeout=5) as smtp:
                code, _ = smtp.noop()
            return None if code == 250 else f"NOOP {code}"
        except (OSError, smtplib.SMTPException) as exc:
            return str(exc).splitlines()[0][:160] or type(exc).__name__

    complaint = _poll(probe, wait)
    if complaint is None:
        return Check(f"Máy chủ thư {where} nhận kết nối", f"The mail server {where} accepts a "
                     "connection", True)
    return Check(
        f"Máy chủ thư {where} không nhận kết nối", f"The mail server {where} refuses "
        "connections", False,
        f"xem mục [mail] trong cấu hình (`phoihop config`); nguyên nhân thường gặp: sai host "
        f"hoặc cổng, máy chủ thư chưa chạy ({complaint})",
        f"check [mail] in the configuration (`phoihop config`); likely cause: a wrong host or "
        f"port, or the mail server is not running ({complaint})")


def check_database(settings: Settings) -> Check:
    import sqlalchemy as sa

    from config.bootstrap import make_engine
    from models.integrity import check
    from models.migrate import current_and_head

    engine = make_engine(settings.db_url)
    try:
        damage = check(engine)
        if damage:
            return Check("Cơ sở dữ liệu bị hỏng", "The database is damaged", False,
                         f"{damage[0]}; không sửa tự động: khôi phục từ bản sao lưu",
                         f"{damage[0]}; nothing is repaired: restore it from a backup")
        current, head = current_and_head(engine)
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0][:160]
        where = f"{settings.masked_db_url()}: {reason}"
        return Check("Không đọc được cơ sở dữ liệu", "The database cannot be read", False,
                     where, where)
    finally:
        engine.dispose()
    if current == head:
        return Check(f"Cơ sở dữ liệu ở bản cấu trúc mới nhất ({head})",
                     f"The database is at the current migration ({head})", True)
    return Check(
        "Cơ sở dữ liệu chưa ở bản cấu trúc mới nhất", "The database is not at the current "
        "migration", False,
        f"đang ở {current or 'trống'}, cần {head}: chạy `phoihop db upgrade`",
        f"at {current or 'none'}, needs {head}: run `phoihop db upgrade`")


def run_checks(settings: Settings, wait: float = 0) -> Iterator[Check]:
    """The checks in the order a coordinator would fix them; `wait`: seconds each may wait
    for the stack to come up (what `up` gives it right after start)."""
    yield check_database(settings)
    yield check_mail(settings, min(wait, 5))
    yield check_portal(settings, wait)
    yield check_worker(settings, wait)
    yield check_scheduler(settings, wait)


def _zone() -> tzinfo:
    from core.calendar import LOCAL_ZONE, zone

    return zone(LOCAL_ZONE)  # the coordinators' zone, for the next run's time


def summarise(lines: list[str]) -> list[str]:
    """Each ERROR line of a log as one line: its message, and when a traceback follows, the
    exception it ended with (`… (InvalidRequestError: Can't evaluate bulk DML …)`)."""
    found: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not ERROR_LINE.search(line):
            continue
        cause = ""
        if i < len(lines) and lines[i].startswith("Traceback"):
            while i < len(lines) and (lines[i].startswith((" ", "\t", "Traceback"))
                                      or not lines[i].strip()):
                i += 1
            if i < len(lines):
                cause = lines[i].strip()
                i += 1
        text = line.strip()
        found.append(f"{text} ({cause[:200]})" if cause else text)
    return found


def log_errors(path: Path, start: int = 0) -> tuple[list[str], int]:
    """The ERROR lines of a Prefect log from byte `start`, one line each (`summarise`), and
    the offset read up to (the last whole line)."""
    try:
        with path.open("rb") as fh:
            fh.seek(start)
            data = fh.read()
    except FileNotFoundError:
        return [], start
    end = start + data.rfind(b"\n") + 1 if b"\n" in data else start
    return summarise(data[: end - start].decode("utf-8", errors="replace").splitlines()), end


class LogWatch:
    """Prefect's server log, followed: every new ERROR line becomes one console line through
    `say` (never left silently in a file)."""

    def __init__(self, logs: list[Path], say: Callable[[Path, str], None],
                 every: float = 2.0) -> None:
        self.offsets = {p: (p.stat().st_size if p.exists() else 0) for p in logs}
        self.say, self.every = say, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prefect-log-watch", daemon=True)

    def from_start(self) -> LogWatch:
        """Also report what the logs already hold (the start-up's errors)."""
        self.offsets = dict.fromkeys(self.offsets, 0)
        return self

    def poll(self) -> None:
        for path, start in list(self.offsets.items()):
            errors, self.offsets[path] = log_errors(path, start)
            for line in errors:
                self.say(path, line)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.poll()

    def start(self) -> LogWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
