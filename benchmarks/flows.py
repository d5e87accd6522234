"""Prefect at national scale: sync of the synthetic set into a local server, a sweep, a run.

Needs a free port for a local Prefect server (started and stopped here). Prefect's own
database is SQLite, or PostgreSQL with PHOIHOP_BENCH_PREFECT_DB=postgres;
PHOIHOP_BENCH_SKIP_SYNC=1 leaves the two syncs out (the ladder run and the sweep only).
With PostgreSQL, PHOIHOP_BENCH_PREFECT_API_WORKERS=N runs Prefect's API in N processes and
its services in one more (events through Redis at 127.0.0.1:6379, database 7, emptied).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.core import row
from benchmarks.synthetic import generate
from config.settings import Settings

Row = dict[str, Any]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _scheduled_count() -> int:
    from prefect.client.orchestration import get_client

    from flows.sync import SCHEDULED

    async with get_client() as client:
        return await client.count_flow_runs(flow_run_filter=SCHEDULED)


def run(count: int = 3500) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        return _run(Path(tmp), count)


def _prefect_on_postgres() -> str | None:
    """PHOIHOP_BENCH_PREFECT_DB=postgres: Prefect's own database on the local PostgreSQL
    server (a fresh database `phoihop_bench_prefect`), as for national scale."""
    if os.environ.get("PHOIHOP_BENCH_PREFECT_DB") != "postgres":
        return None
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                         autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS phoihop_bench_prefect WITH (FORCE)")
        conn.execute("CREATE DATABASE phoihop_bench_prefect")
    return "postgresql+asyncpg://postgres@127.0.0.1:5432/phoihop_bench_prefect"


REDIS_DB = "redis://127.0.0.1:6379/7"  # the benchmark's own, emptied before each run


def _api_workers(pg: str | None) -> int:
    """PHOIHOP_BENCH_PREFECT_API_WORKERS=N (with Prefect on PostgreSQL): Prefect's API in N
    processes and its services in one more, events through Redis (`REDIS_DB`), and sync
    sending 4 bulk requests at a time."""
    workers = int(os.environ.get("PHOIHOP_BENCH_PREFECT_API_WORKERS", "1"))
    if workers > 1:
        if not pg:
            raise SystemExit("PHOIHOP_BENCH_PREFECT_API_WORKERS needs "
                             "PHOIHOP_BENCH_PREFECT_DB=postgres")
        import redis

        redis.Redis.from_url(REDIS_DB).flushdb()
    if pg:
        os.environ["PHOIHOP_SYNC_CONCURRENCY"] = "4"
    return workers


def _run(directory: Path, count: int) -> list[Row]:
    from flows.local import LocalStack

    pg = _prefect_on_postgres()
    if pg:
        os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = pg
    workers = _api_workers(pg)
    backend = (f"PostgreSQL, API in {workers} processes + Redis" if workers > 1
               else "PostgreSQL" if pg else "SQLite")
    settings = Settings(data_dir=directory, database_url=f"sqlite:///{directory / 'f.db'}")
    # points Prefect at it before prefect loads
    stack = LocalStack(settings, free_port(), api_workers=workers, redis_url=REDIS_DB)
    from config.bootstrap import bootstrap
    from flows.ladder import ladder, sweep
    from flows.sync import sync
    from models.migrate import upgrade
    from services import ladder as ladder_work
    from services import reviews as cycle
    from services.imports import import_many

    now = datetime.now(UTC)
    app = bootstrap(settings, clock=lambda: now)
    upgrade(app.engine)
    import_many(app, list(generate(count)))
    rows: list[Row] = []
    try:
        stack.start_server()
        stack.deploy()
        if os.environ.get("PHOIHOP_BENCH_SKIP_SYNC") != "1":  # the sweep alone, quicker
            started = time.perf_counter()
            first = asyncio.run(sync(at=now.isoformat()))
            t_first = time.perf_counter() - started
            rows.append(row(f"sync {count:,} agreements into Prefect ({backend}), from empty",
                            f"{t_first:.0f} s, {first['created']:,} scheduled runs created "
                            f"({first['created'] / t_first:.0f}/s)", "≤ 10 min", t_first <= 600))
            started = time.perf_counter()
            again = asyncio.run(sync(at=now.isoformat()))
            t_again = time.perf_counter() - started
            rows.append(row("sync again, nothing changed",
                            f"{t_again:.0f} s, created {again['created']}, kept {again['kept']:,}",
                            "≤ 1 min", t_again <= 60 and again["created"] == 0))
            held = asyncio.run(_scheduled_count())
            rows.append(row("scheduled runs Prefect holds after sync", f"{held:,}", "", None))

        code = _first_code(app)
        started = time.perf_counter()
        ladder(agreement=code, at=now.isoformat())  # nothing due yet: the run's own cost
        t_one = time.perf_counter() - started
        rows.append(row("one ladder run, nothing due (Prefect overhead, in process)",
                        f"{t_one:.2f} s", "", None))

        # The day: 15/11/2027, requests for the yearly reports due 15/12. Everything
        # before it (ladder steps, review milestones) was done on the working day before
        # (untimed, without Prefect), as the scheduled runs would have done it.
        eve = datetime.fromisoformat("2027-11-12T08:00:00+07:00")
        ladder_work.fire_steps(app, eve)
        with app.session() as s:
            for late in cycle.due_codes(s, app, eve):
                cycle.run_due(app, late, eve)
        day = "2027-11-15T08:00:00+07:00"
        open_count = _open_count(app)
        started = time.perf_counter()
        fired = sweep(at=day, send=False)
        t_sweep = time.perf_counter() - started
        assert isinstance(fired, int), fired  # a Failed state is the sweep saying it failed
        share = fired / open_count if open_count else 0
        rows.append(row("one sweep over the whole set (no delivery)",
                        f"{t_sweep:.1f} s, {fired:,} steps ({share:.1%} of open obligations)",
                        "≤ 30 s", t_sweep <= 30))
    finally:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        # the runs' logs and events reach the server before it stops (else this process
        # retries them against a stopped server at exit, for minutes after a sweep)
        APILogWorker.drain_all(timeout=120)
        EventsWorker.drain_all(timeout=60)
        stack.stop()
        app.engine.dispose()
        if pg:
            os.environ.pop("PREFECT_API_DATABASE_CONNECTION_URL", None)
            os.environ.pop("PHOIHOP_SYNC_CONCURRENCY", None)
    return rows


def _first_code(app: Any) -> str:
    from sqlmodel import col, select

    from models.tables import Agreement

    with app.session() as s:
        return str(s.exec(select(Agreement.code).order_by(col(Agreement.id))).first())


def _open_count(app: Any) -> int:
    from sqlmodel import func, select

    from models.tables import Obligation

    with app.session() as s:
        return int(s.exec(select(func.count()).select_from(Obligation).where(
            Obligation.status == "open")).one())
