"""Wire everything in one place: settings → engine, session factory, calendar, parse options.

Flows, portal and CLI all call `bootstrap()`; tests call it with their own
settings (a temporary SQLite file or the PostgreSQL test database).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session

from config.settings import Settings, load_settings
from core.agreement import Ladder
from core.calendar import WorkCalendar
from core.parse import ParseOptions, ladder_from_config

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The wall clock, aware, in UTC: the only `now()` in the program."""
    return datetime.now(UTC)


def make_engine(url: str, **kw: Any) -> sa.Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30}, **kw)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's BEGIN be the one transaction boundary (pysqlite otherwise
            # opens transactions lazily and breaks BEGIN IMMEDIATE).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: sa.Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    return sa.create_engine(url, pool_pre_ping=True, **kw)


@dataclass
class App:
    """What the shell needs, built once from settings."""

    settings: Settings
    clock: Clock = system_clock
    _engine: sa.Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            if self.settings.db_url.startswith("sqlite:///"):
                self.settings.data_dir.mkdir(parents=True, exist_ok=True)
            self._engine = make_engine(self.settings.db_url)
        return self._engine

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on error.

        `write=True` takes SQLite's write lock at BEGIN (BEGIN IMMEDIATE), so a
        read-then-write cannot lose an update to a concurrent writer.
        """
        conn_opts = {"sqlite_begin": "IMMEDIATE"} if write else {}
        with self.engine.connect().execution_options(**conn_opts) as conn, \
                Session(bind=conn, expire_on_commit=False) as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    @cached_property
    def calendar(self) -> WorkCalendar:
        c = self.settings.calendar
        return WorkCalendar.with_overrides(c.days_off, c.working_days)

    @cached_property
    def ladders(self) -> dict[str, Ladder]:
        return {name: ladder_from_config(name, spec) for name, spec in
                self.settings.ladders.items()}

    @cached_property
    def parse_options(self) -> ParseOptions:
        from core.agreement import DEFAULT_LADDER

        return ParseOptions(ladders={"default": DEFAULT_LADDER, **self.ladders},
                            channels=frozenset(self.settings.channels),
                            calendar=self.calendar)

    @cached_property
    def secret_key(self) -> bytes:
        """The key that turns a link's stored nonce into its token (never stored in the DB)."""
        if self.settings.secret_key is not None:
            return self.settings.secret_key.get_secret_value().encode()
        path = self.settings.data_dir / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()

    def now(self) -> datetime:
        return self.clock()


def bootstrap(settings: Settings | None = None, clock: Clock = system_clock) -> App:
    return App(settings=settings or load_settings(), clock=clock)
