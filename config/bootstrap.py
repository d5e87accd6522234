"""Wire everything in one place: settings → engine, units of work, clock, calendar, parse
options, the link key, the policy and the notifiers.

One App per process: flows, tasks, the portal and the CLI all call `bootstrap()`, which
builds it once for the settings in force and hands the same one out after. Tests call it
with their own settings (a temporary SQLite file or the PostgreSQL test database) or
clock, and get their own. The layers below take what they need of it (services.ports,
notifications.send): never the settings themselves.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session

from config.settings import Settings, load_settings
from core.agreement import Ladder
from core.calendar import WorkCalendar
from core.parse import ParseOptions, ladder_from_config
from core.policy import Policy
from notifications.port import Notifier

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

Clock = Callable[[], datetime]
T = TypeVar("T")
# PostgreSQL: the connections `App.async_engine` keeps, and never exceeds (a request
# waits for one). A connection opened for one request and closed after (SQLAlchemy's
# overflow beyond its 5) costs the server a process started and ended each time.
PG_POOL_SIZE = 8


PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600
_tightened: set[Path] = set()
_checked: set[str] = set()


def make_private(data_dir: Path) -> None:
    """Files private to the account that runs phoihop, in one place (docs/storage.md).

    The umask makes everything this process and its children (the Prefect server, the
    worker, the portal) create from now on 0600/0700: databases and their WAL files,
    logs, dossiers, attachments, the secret key. An existing install is tightened once
    per process: the data dir and every folder under it 0700, every file 0600 (symlinks
    are left alone: they may point outside). Called by `bootstrap`, which every command,
    flow and the portal go through."""
    os.umask(0o077)
    data_dir = data_dir.expanduser()
    if data_dir in _tightened:
        return
    if not data_dir.is_dir():
        return  # created later (first database, key or log), 0700 by the umask
    for root, dirs, files in os.walk(data_dir):
        _chmod(Path(root), PRIVATE_DIR)
        for name in files:
            _chmod(Path(root) / name, PRIVATE_FILE)
        dirs[:] = [d for d in dirs if not (Path(root) / d).is_symlink()]
    _tightened.add(data_dir)


def _chmod(path: Path, mode: int) -> None:
    try:
        st = path.lstat()
        if not stat.S_ISLNK(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o077:
            path.chmod(stat.S_IMODE(st.st_mode) & ~0o077 | (mode & 0o700))
    except OSError:
        pass  # not ours (another owner) or gone: nothing to tighten here


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
    _async_engine: AsyncEngine | None = field(default=None, repr=False)
    _async_loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)

    @property
    def engine(self) -> sa.Engine:
        """The database engine; an SQLite file that is empty or corrupted is refused
        first (models.integrity.DatabaseDamaged), once per process, never replaced."""
        if self._engine is None:
            url = self.settings.db_url
            if url.startswith("sqlite:///"):
                self.settings.data_dir.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
                make_private(self.settings.data_dir)
            if url not in _checked:
                from models.integrity import refuse_damaged

                refuse_damaged(url)
                _checked.add(url)
            self._engine = make_engine(url)
            event.listen(self._engine, "engine_disposed", lambda _e: self._dispose_async())
        return self._engine

    @property
    def async_engine(self) -> AsyncEngine:
        """PostgreSQL only: the same database through psycopg's asyncio connections, for
        `run_session` (the portal's requests), `PG_POOL_SIZE` connections at most. Its
        pool waits in one event loop: `run_session` makes a new one for a new loop."""
        if self._async_engine is None:
            from sqlalchemy.ext.asyncio import create_async_engine

            url = self.settings.db_url
            if url.startswith("sqlite"):
                raise ValueError("async_engine is for PostgreSQL")
            self._async_engine = create_async_engine(
                url, pool_pre_ping=True, pool_size=PG_POOL_SIZE, max_overflow=0)
        return self._async_engine

    async def run_session(self, work: Callable[[Session], T], *, write: bool = True) -> T:
        """`work(session)` in a unit of work, as `with session(write=...) as s: work(s)`
        (commit on success, rollback on error), from the event loop (the portal).

        PostgreSQL: through `async_engine`, each statement awaited in the running loop
        (SQLAlchemy's `run_sync`: `work` runs in a greenlet), so the loop serves other
        requests while this one waits for the server. SQLite: `work` runs here, in one
        go (its writers take turns anyway). Why, measured: docs/performance.md, "Partner
        portal under load"."""
        if self.settings.db_url.startswith("sqlite"):
            with self.session(write=write) as s:
                return work(s)
        from sqlalchemy.ext.asyncio import AsyncSession

        loop = asyncio.get_running_loop()
        if self._async_loop is not loop:  # (uvicorn: one loop; TestClient: one a request)
            if self._async_engine is not None:
                engine, self._async_engine = self._async_engine, None
                await engine.dispose()
            self._async_loop = loop
        async with self.async_engine.connect() as conn, AsyncSession(
                bind=conn, expire_on_commit=False, sync_session_class=Session) as s:
            try:
                result = await s.run_sync(lambda sync: work(cast(Session, sync)))
                await s.commit()
            except BaseException:
                await s.rollback()
                raise
        return result

    def _dispose_async(self) -> None:
        """`engine.dispose()` closes `async_engine`'s connections too (outside an event
        loop; inside one they are let go without closing)."""
        if self._async_engine is not None:
            engine, self._async_engine = self._async_engine, None
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                asyncio.run(engine.dispose())
            else:
                engine.sync_engine.dispose(close=False)

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
                            calendar=self.calendar, language=self.settings.language)

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

    @cached_property
    def policy(self) -> Policy:
        s = self.settings
        return Policy(auto_extension_days=s.auto_extension_days,
                      link_days_after_deadline=s.link_days_after_deadline,
                      lease_seconds=s.lease_seconds, send_retries=s.send_retries,
                      portal_url=s.portal_url, sender_name=s.mail.sender_name,
                      language=s.language, data_dir=s.data_dir)

    def notifiers(self) -> dict[str, Notifier]:
        """The channels, opened for one send round (the sender closes them after it): the
        SMTP account, and the Apprise channels named in the settings. Imported here: only
        a sender pays for Apprise (~4 MiB), not the CLI or the portal."""
        from notifications.apprise_channel import AppriseNotifier
        from notifications.smtp import SmtpNotifier

        s = self.settings
        return {"email": SmtpNotifier(s.mail, s.send_deadline_seconds),
                "apprise": AppriseNotifier({k: v.get_secret_value()
                                            for k, v in s.channels.items()})}

    def now(self) -> datetime:
        return self.clock()


_process: App | None = None


def bootstrap(settings: Settings | None = None, clock: Clock = system_clock) -> App:
    """The App of this process for these settings (default: loaded from the environment
    and the TOML), built once on the wall clock and reused; another clock (a test's, the
    demo's) or other settings get an App of their own."""
    global _process
    settings = settings or load_settings()
    if clock is system_clock and _process is not None and _process.settings == settings:
        return _process
    make_private(settings.data_dir)
    app = App(settings=settings, clock=clock)
    if clock is system_clock:
        _process = app
    return app
