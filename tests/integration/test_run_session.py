"""`App.run_session`: the portal's unit of work from the event loop, on SQLite and
PostgreSQL (there awaited through psycopg's asyncio connections)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import sqlalchemy as sa

from config.bootstrap import PG_POOL_SIZE, App


def _xs(app: App) -> list[int]:
    with app.session() as s:
        return [r[0] for r in s.execute(sa.text("SELECT x FROM probe ORDER BY x"))]


def test_run_session_commits_its_work_or_nothing(app: App):
    asyncio.run(app.run_session(lambda s: s.execute(sa.text("CREATE TABLE probe (x INTEGER)"))))

    def insert(x: int) -> Any:
        return lambda s: s.execute(sa.text("INSERT INTO probe VALUES (:x)"), {"x": x})

    assert asyncio.run(app.run_session(lambda s: (insert(1)(s), "result")[1])) == "result"

    def failing(s: Any) -> None:
        insert(2)(s)
        raise RuntimeError("refused after a write")

    with pytest.raises(RuntimeError, match="refused after a write"):
        asyncio.run(app.run_session(failing))
    # each asyncio.run is a loop of its own (as TestClient's requests): connections reused
    assert asyncio.run(app.run_session(lambda s: s.execute(
        sa.text("SELECT count(*) FROM probe")).scalar_one(), write=False)) == 1
    assert _xs(app) == [1]


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # SQLite: one at a time
def test_postgresql_transactions_overlap_in_one_event_loop(app: App):
    """While one waits for the server, the loop runs the others: 4 transactions of 0.3 s
    each take well under the 1.2 s they would one after the other."""

    async def four() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(app.run_session(
            lambda s: s.execute(sa.text("SELECT pg_sleep(0.3)"))) for _ in range(4)))
        return time.perf_counter() - started

    assert asyncio.run(four()) < 0.9


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_postgresql_pool_never_opens_more_than_its_size(app: App):
    """More transactions at a time than PG_POOL_SIZE wait for a connection instead of
    opening one each (a server process started and ended for every one)."""

    async def many() -> set[int]:
        backends: set[int] = set()

        def work(s: Any) -> None:
            backends.add(s.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
            s.execute(sa.text("SELECT pg_sleep(0.05)"))

        await asyncio.gather(*(app.run_session(work) for _ in range(PG_POOL_SIZE * 3)))
        await asyncio.gather(*(app.run_session(work) for _ in range(PG_POOL_SIZE * 3)))
        return backends

    for _ in range(2):  # a second event loop: its own pool, the first one's closed
        backends = asyncio.run(many())
        assert 1 < len(backends) <= PG_POOL_SIZE, backends
