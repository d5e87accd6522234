"""Small SQL helpers every persistence module shares (written once)."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

T = TypeVar("T")
# SQLite allows 999 bound parameters in a statement: an IN list is read in chunks
CHUNK = 900


class UnitOfWork(Protocol):
    """Opens a unit of work: commits on success, rolls back on error; `write=True` takes
    SQLite's write lock at BEGIN (config.bootstrap.App provides it)."""

    def session(self, *, write: bool = False) -> AbstractContextManager[Session]: ...


def table(model: Any) -> sa.Table:
    """The Core table of a SQLModel class."""
    return model.__table__


def chunks(ids: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    """`ids` in lists of at most `size` (for IN lists)."""
    items: Sequence[T] = ids if isinstance(ids, list) else list(ids)
    for i in range(0, len(items), size):
        yield list(items[i:i + size])


def insert_ignore(s: Session, model: Any, index: tuple[str, ...]) -> Any:
    """INSERT … ON CONFLICT (index) DO NOTHING in the session's dialect."""
    return _insert_ignore(s.get_bind().dialect.name, model, index)


@functools.cache
def _insert_ignore(dialect: str, model: Any, index: tuple[str, ...]) -> Any:
    """Built once per dialect and table (building cost as much as running it)."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(table(model)).on_conflict_do_nothing(index_elements=list(index))


def rewrite_files(engine: sa.Engine, tables: Sequence[Any]) -> str | None:
    """The storage of `tables` rewritten, so old versions of rows updated in place leave
    it: SQLite keeps them in freed pages and WAL frames (the whole file is rewritten,
    VACUUM, and the WAL emptied), PostgreSQL in dead row versions (VACUUM FULL). Not
    inside a transaction; it locks the tables while it runs. None, or why it could not
    (another process holding the database past the busy timeout)."""
    try:
        if engine.dialect.name == "sqlite":
            raw = engine.raw_connection()
            try:
                con = raw.driver_connection
                assert con is not None
                con.execute("VACUUM")
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                raw.close()
            return None
        names = ", ".join(engine.dialect.identifier_preparer.format_table(table(m))
                          for m in tables)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"VACUUM FULL {names}")
    except (sqlite3.Error, sa.exc.DBAPIError) as exc:
        return str(getattr(exc, "orig", exc)).splitlines()[0][:160]
    return None
