"""What a reply costs the portal (issue #4: 50 concurrent clients), and the rate limits
its worker processes share (`phoihop portal --workers N`), on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import multiprocessing
import re
import time as clock_time
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import col, select

from benchmarks.portal import Server
from config.bootstrap import App
from core.calendar import local_instant
from models.links import issue
from models.tables import Contact, Link, Obligation, OutboxMessage, Party, Reply
from portal.app import create_app
from portal.ratelimit import SharedRateLimiter
from services.imports import import_agreement
from tests.conftest import QT

TZ = "Asia/Ho_Chi_Minh"
KEY = "QT-KHKT-2021-2025/hoc-tap-suot-doi/so-gddt/2022"
FIELD = re.compile(r'name="(csrf|form_nonce)" value="([^"]+)"')


def _link(app: App, at: Any, expires: datetime | None = None) -> str:
    with app.session(write=True) as s:
        o = s.exec(select(Obligation).where(Obligation.key == KEY)).one()
        focal = s.exec(select(Contact).join(Party, col(Party.id) == Contact.party_id).where(
            Party.key == o.party, Party.agreement_id == o.agreement_id,
            Contact.role == "focal")).first()
        assert focal is not None
        return issue(s, app.secret_key, purpose="reply", now=at,
                     expires_at=expires or o.deadline + timedelta(days=60), obligation_id=o.id,
                     contact_id=focal.id).token


@pytest.fixture
def imported(app: App, clock: Any) -> App:
    clock.at = local_instant(date(2022, 5, 18), time(0, 0), TZ)
    import_agreement(app, QT.read_bytes(), str(QT))
    clock.at = local_instant(date(2022, 12, 1), time(9, 0), TZ)
    return app


def test_a_done_reply_costs_one_transaction_of_few_statements(imported: App, clock: Any):
    """A `done` POST: one write transaction, no link looked up that cannot exist, every
    message recorded in it: 10 statements (it was 23: two reads of the page, a lookup and
    a flush per decision link, a query per message's agreement)."""
    app = imported
    token = _link(app, clock.at)
    client = TestClient(create_app(app))
    page = client.get(f"/r/{token}").text
    form = dict(FIELD.findall(page)) | {"status": "done", "v-gdht-dang-ky": "1200",
                                       "v-gdht-dat": "1100"}
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement.split(None, 1)[0].upper())

    # every engine: on PostgreSQL the POST goes through `App.run_session`'s async engine,
    # made anew for each event loop (TestClient: one a request)
    sa.event.listen(sa.Engine, "before_cursor_execute", seen)
    try:
        answer = client.post(f"/r/{token}", data=form)
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", seen)
    assert answer.status_code == 200 and "Đã ghi nhận" in answer.text
    work = [st for st in statements if st not in ("BEGIN", "COMMIT", "ROLLBACK")]
    assert 4 <= len(work) <= 8, statements  # (the pool's ping is no cursor statement)
    assert statements.count("BEGIN") <= 1  # one transaction (SQLite's BEGIN IMMEDIATE)
    with app.session() as s:
        reply = s.exec(select(Reply)).one()
        kinds = sorted(m.kind for m in s.exec(select(OutboxMessage)))
        links = s.exec(select(Link).where(Link.reply_id == reply.id)).all()
    assert kinds == ["receipt", "submission"]
    assert sorted(link.purpose for link in links) == ["accept", "return"]


def test_limiters_sharing_a_file_share_the_buckets(tmp_path: Path):
    """Two limiters on one file (as two worker processes map it) allow a key 60 requests
    a minute between them, not 60 each; the buckets refill by the shared clock."""
    now = [1000.0]
    one = SharedRateLimiter(tmp_path / "per-link", 60, lambda: now[0])
    two = SharedRateLimiter(tmp_path / "per-link", 60, lambda: now[0])
    allowed = sum(limiter.allow("link-a") for _ in range(40) for limiter in (one, two))
    assert allowed == 60
    assert one.allow("link-b") and two.allow("address-c")  # other keys: buckets of their own
    now[0] += 10  # 10 s: 10 requests more
    assert sum(two.allow("link-a") for _ in range(20)) == 10
    one.close()
    two.close()


def _hammer(path: str, out: Any) -> None:
    limiter = SharedRateLimiter(Path(path), 60, lambda: 5000.0)
    out.put(sum(limiter.allow("one-link") for _ in range(50)))


def test_limiters_in_separate_processes_share_the_limit(tmp_path: Path):
    ctx = multiprocessing.get_context("spawn")  # as uvicorn starts its workers
    out = ctx.Queue()
    workers = [ctx.Process(target=_hammer, args=(str(tmp_path / "per-link"), out))
               for _ in range(3)]
    for w in workers:
        w.start()
    counts = [out.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    assert sum(counts) == 60, counts


def test_a_full_table_refuses_and_reuses_only_refilled_slots(tmp_path: Path):
    now = [1.0]
    limiter = SharedRateLimiter(tmp_path / "tiny", 60, lambda: now[0], slots=4)
    assert all(limiter.allow(f"key-{i}") for i in range(4))
    assert not limiter.allow("key-4")  # every slot holds a live bucket: fail closed
    assert limiter.allow("key-0")  # the live ones still count
    now[0] += 61  # all refilled: as good as new, their slots may be taken
    assert limiter.allow("key-4")
    limiter.close()


@pytest.mark.slow
def test_two_worker_processes_allow_a_link_60_requests_a_minute(imported: App,
                                                               tmp_path: Path):
    """`phoihop portal --workers 2`: requests spread over both processes (a connection
    each) still meet one per-link limit of 60 a minute."""
    app = imported
    # the server runs on the wall clock
    token = _link(app, app.now(), datetime.now(UTC) + timedelta(days=1))
    secret = app.secret_key.decode()
    with Server(app.settings.db_url, tmp_path, secret, workers=2) as server:
        codes = []
        started = clock_time.monotonic()
        for _ in range(130):
            with httpx.Client(base_url=server.base, timeout=30) as c:  # a new connection
                codes.append(c.get(f"/r/{token}").status_code)
        elapsed = clock_time.monotonic() - started
        workers = _children(server)
    assert len(workers) >= 2, workers
    # each process on its own would allow up to 120; the bucket refills 1 a second
    assert codes[:60] == [200] * 60, codes
    assert set(codes) == {200, 429}
    assert codes.count(200) <= 60 + math.ceil(elapsed), (codes.count(200), elapsed)
    assert elapsed < 40, elapsed  # else the two limits could not be told apart


def _children(server: Server) -> list[int]:
    assert server.process is not None
    return _children_of(server.process.pid)


@pytest.mark.slow
def test_up_starts_the_portal_in_as_many_processes_as_asked(imported: App, tmp_path: Path):
    """`phoihop up --portal-workers 2` (scripts/scale-out.sh): the portal it starts runs
    two worker processes, and a reply link works there."""
    from unittest import mock

    from benchmarks.portal import free_port
    from flows.local import LocalStack

    app = imported
    token = _link(app, app.now(), datetime.now(UTC) + timedelta(days=1))  # the wall clock
    settings = app.settings.model_copy(update={"portal_port": free_port()})
    with mock.patch.dict("os.environ"):  # LocalStack points this process at its Prefect
        stack = LocalStack(settings, free_port())
        try:
            stack.start_portal(workers=2)
            base = f"http://127.0.0.1:{settings.portal_port}"
            deadline = clock_time.monotonic() + 60
            while True:
                try:
                    page = httpx.get(f"{base}/r/{token}", timeout=5)
                    break
                except httpx.TransportError:
                    assert clock_time.monotonic() < deadline, "the portal did not start"
                    clock_time.sleep(0.2)
            workers = _children_of(stack.processes[0].pid)
        finally:
            stack.stop()
    assert page.status_code == 200 and "QT-KHKT-2021-2025" in page.text
    assert len(workers) >= 2, workers


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found
