"""Plan, import and overdue listing on the national synthetic set (issue: the core and store)."""

from __future__ import annotations

import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.synthetic import generate, large_agreement
from config.bootstrap import bootstrap
from config.settings import Settings
from core.calendar import WorkCalendar
from core.expand import expand
from core.parse import load_agreement
from models.migrate import upgrade
from models.queries import overdue_at
from services.imports import import_many

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
Row = dict[str, Any]


class NoPostgres(Exception):
    """The benchmarks' PostgreSQL server did not answer: its rows say so."""


@contextmanager
def pg_schema(prefix: str = "bench", base: str = PG_URL) -> Iterator[str]:
    """The URL of `base` on a schema of its own in the shared test database, dropped
    afterwards; NoPostgres (with the server's first line) when it cannot be created."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, pool_pre_ping=True)  # the server may restart meanwhile
    try:
        with admin.begin() as c:
            c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        raise NoPostgres(str(exc).splitlines()[0]) from exc
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as c:
            c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def row(name: str, figure: str, target: str, ok: bool | None, floor: str = "") -> Row:
    return {"benchmark": name, "figure": figure, "target": target, "ok": ok, "floor": floor}


def plan_large() -> Row:
    raw = large_agreement()
    agreement, _ = load_agreement(raw, "large.yaml")
    assert agreement is not None
    expand.cache_clear()
    seconds, plan = timed(lambda: expand(agreement, WorkCalendar()))
    return row("plan: one 13-party agreement, monthly reports",
               f"{seconds * 1000:.0f} ms for {len(plan.obligations)} obligations", "< 1 s",
               seconds < 1)


def sqlite_floor(n: int, directory: Path) -> float:
    """Plain sqlite3: one executemany of n 9-column rows into WAL, one transaction."""
    conn = sqlite3.connect(directory / "floor.db")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("create table o (id integer primary key, key text, a int, party text, "
                 "label text, kind text, due text, deadline text, status text)")
    rows = [(i, f"k{i}", i % 3500, "p", "2024", "report", "2024-12-16",
             "2024-12-16T17:00:00", "open") for i in range(n)]
    def insert() -> None:
        conn.executemany("insert into o values (?,?,?,?,?,?,?,?,?)", rows)
        conn.commit()

    seconds, _ = timed(insert)
    conn.close()
    return seconds


def import_and_list(label: str, url: str, files: list[tuple[str, bytes]], directory: Path,
                    floor: float | None, has_target: bool) -> list[Row]:
    app = bootstrap(Settings(database_url=url, data_dir=directory),
                    clock=lambda: datetime(2021, 1, 1, tzinfo=UTC))
    upgrade(app.engine)
    seconds, results = timed(lambda: import_many(app, files))
    added = sum(r.added for r in results)
    ratio = f"{seconds / floor:.0f}× floor ({floor * 1000:.0f} ms)" if floor else ""
    out = [row(f"import {len(files):,} agreements into {label}",
               f"{seconds:.1f} s, {added:,} obligations", "≤ 60 s" if has_target else "",
               seconds <= 60 if has_target else None, ratio)]
    worst = 0.0
    total = 0
    for day in ("2022-06-30", "2024-01-15", "2025-12-20", "2028-07-01"):
        at = datetime.fromisoformat(f"{day}T08:00:00+07:00")
        with app.session() as s:
            t, (_page, total) = timed(partial(overdue_at, s, at, limit=100))
        worst = max(worst, t)
    out.append(row(f"overdue listing at 4 dates ({label})",
                   f"worst {worst * 1000:.0f} ms (e.g. {total:,} overdue)", "≤ 0.5 s",
                   worst <= 0.5))
    app.engine.dispose()
    return out


def run(count: int = 3500) -> list[Row]:
    files = list(generate(count))
    rows = [plan_large()]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        probe = [load_agreement(raw, name)[0] for name, raw in files[:50]]
        per = sum(len(expand(a, WorkCalendar()).obligations) for a in probe if a) / len(probe)
        floor = sqlite_floor(int(per * count), directory)
        rows += import_and_list("SQLite", f"sqlite:///{directory / 'bench.db'}", files,
                                directory, floor, True)
        try:
            with pg_schema() as url:
                rows += import_and_list("PostgreSQL", url, files, directory, None, False)
        except NoPostgres as exc:
            rows.append(row("import into PostgreSQL", "no server: " + str(exc)[:60], "", None))
    return rows
