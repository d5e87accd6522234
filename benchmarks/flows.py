"""Prefect at national scale: sync of the synthetic set into a local server, a sweep, a run.

Needs a free port for a local Prefect server (started and stopped here, SQLite).
"""

from __future__ import annotations

import asyncio
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


def run(count: int = 3500) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        return _run(Path(tmp), count)


def _run(directory: Path, count: int) -> list[Row]:
    from flows.local import LocalStack

    settings = Settings(data_dir=directory, database_url=f"sqlite:///{directory / 'f.db'}")
    stack = LocalStack(settings, free_port())  # points Prefect at it before prefect loads
    from config.bootstrap import bootstrap
    from flows.ladder import ladder, sweep
    from flows.sync import sync
    from models.migrate import upgrade
    from models.store import import_many

    now = datetime.now(UTC)
    app = bootstrap(settings, clock=lambda: now)
    upgrade(app.engine)
    import_many(app, list(generate(count)))
    rows: list[Row] = []
    try:
        stack.start_server()
        stack.deploy()
        started = time.perf_counter()
        first = asyncio.run(sync(at=now.isoformat()))
        t_first = time.perf_counter() - started
        rows.append(row(f"sync {count:,} agreements into Prefect, from empty",
                        f"{t_first:.0f} s, {first['created']:,} scheduled runs created",
                        "≤ 10 min", t_first <= 600))
        started = time.perf_counter()
        again = asyncio.run(sync(at=now.isoformat()))
        t_again = time.perf_counter() - started
        rows.append(row("sync again, nothing changed",
                        f"{t_again:.0f} s, created {again['created']}, kept {again['kept']:,}",
                        "≤ 1 min", t_again <= 60 and again["created"] == 0))
        at = "2027-11-15T08:00:00+07:00"  # yearly requests of the 2026-2030 agreements
        with app.session() as s:
            from sqlmodel import func, select

            from models.tables import Obligation
            open_count = s.exec(select(func.count()).select_from(Obligation).where(
                Obligation.status == "open")).one()
        started = time.perf_counter()
        fired = sweep(at=at, send=False)
        t_sweep = time.perf_counter() - started
        share = fired / open_count if open_count else 0
        rows.append(row("one sweep over the whole set (no delivery)",
                        f"{t_sweep:.1f} s, {fired:,} steps ({share:.1%} of open obligations)",
                        "≤ 30 s", t_sweep <= 30))
        code = next(iter(generate(1)))[0]
        from core.parse import load_agreement

        agreement, _ = load_agreement(next(iter(generate(1)))[1], code)
        assert agreement is not None
        started = time.perf_counter()
        ladder(agreement=agreement.code, at=at)
        t_one = time.perf_counter() - started
        rows.append(row("one ladder run, in process (Prefect overhead)", f"{t_one:.2f} s",
                        "", None))
    finally:
        stack.stop()
        app.engine.dispose()
    return rows
