"""Is the database file sound? Checked before anything is read or written, never repaired.

A zero-length SQLite file would silently become a new, empty database (SQLite treats it
as one, and the migration creates every table in it); a corrupted page let `import` and
`db upgrade` report success while the portal answered 500. `check` finds both; the
shell (`config.bootstrap.App.engine`) refuses to open such a file with one line, and
`phoihop doctor` can call `check` itself. Nothing here writes to the database.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

QUICK_CHECK_ROWS = 3  # problems reported of `PRAGMA quick_check`'s list


class DatabaseDamaged(RuntimeError):
    """The database file is empty or corrupted; the message is one line."""


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL (None for PostgreSQL, memory or a URI we do not read)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database \
            or parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return None
    return Path(parsed.database)


def check_file(path: Path) -> list[str]:
    """Problems of an SQLite file, without SQLAlchemy (nothing created if it is absent):
    empty, not a database, or pages `PRAGMA quick_check` finds wrong."""
    if not path.exists():
        return []  # a new database: created by the first migration
    if path.is_dir():
        return [f"{path}: là một thư mục, không phải tệp cơ sở dữ liệu / is a directory"]
    if path.stat().st_size == 0:
        return [f"{path}: tệp cơ sở dữ liệu rỗng (0 byte); không tự tạo lại để khỏi mất dữ "
                f"liệu, hãy khôi phục từ bản sao lưu hoặc xoá tệp nếu muốn bắt đầu lại / "
                f"the database file is empty (0 bytes); it is not recreated: restore a "
                f"backup, or delete the file to start afresh"]
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        return [f"{path}: không mở được / cannot be opened ({exc})"]
    try:
        rows = [r[0] for r in conn.execute("PRAGMA quick_check").fetchmany(QUICK_CHECK_ROWS)]
    except sqlite3.DatabaseError as exc:
        return [f"{path}: không phải cơ sở dữ liệu SQLite hợp lệ / not a sound SQLite "
                f"database ({exc})"]
    finally:
        conn.close()
    if rows == ["ok"]:
        return []
    return [f"{path}: cơ sở dữ liệu bị hỏng (PRAGMA quick_check) / the database is corrupted: "
            + "; ".join(" ".join(str(r).split()) for r in rows)]


def check(engine: sa.Engine) -> list[str]:
    """Problems of the engine's database, one line each; [] when sound.

    SQLite: the file (`check_file`). PostgreSQL: the server answers (its own pages are
    its business: `amcheck` is for a DBA)."""
    path = sqlite_path(str(engine.url))
    if path is not None:
        return check_file(path)
    if engine.dialect.name == "sqlite":
        return []
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.DBAPIError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
        return [f"{engine.url.render_as_string(hide_password=True)}: không kết nối được / "
                f"cannot connect ({reason})"]
    return []


def refuse_damaged(url: str) -> None:
    """Raise DatabaseDamaged if the SQLite file of `url` is empty or corrupted."""
    path = sqlite_path(url)
    if path is None:
        return
    problems = check_file(path)
    if problems:
        raise DatabaseDamaged(problems[0])
