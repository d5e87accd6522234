"""Empty and corrupted database files are refused at start with one line, never replaced
(`import`, `db upgrade`, the portal); `models.integrity.check` is what `doctor` calls."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from models.integrity import check
from tests.conftest import QT
from tests.smtp_sink import free_port


def _run(data: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PHOIHOP_DATA_DIR": str(data), "PHOIHOP_LANGUAGE": "vi"}
    env.pop("PHOIHOP_DATABASE_URL", None)
    env.pop("PHOIHOP_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


def _refused(result: subprocess.CompletedProcess[str], words: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_a_zero_length_database_is_refused_not_replaced(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    db = data / "phoihop.db"
    db.write_bytes(b"")
    for args in (("import", str(QT)), ("db", "upgrade"), ("agreements",)):
        _refused(_run(data, *args), "tệp cơ sở dữ liệu rỗng (0 byte)")
    assert db.stat().st_size == 0  # still the operator's file, nothing created in it


def test_a_corrupted_page_is_found_at_start(tmp_path: Path):
    data = tmp_path / "data"
    assert _run(data, "import", str(QT)).returncode == 0
    db = data / "phoihop.db"
    assert check(sa.create_engine(f"sqlite:///{db}")) == []
    with db.open("r+b") as fh:  # one page in the middle of the agreements' rows
        fh.seek(4096 * 20)
        fh.write(os.urandom(4096))
    before = db.read_bytes()
    problems = check(sa.create_engine(f"sqlite:///{db}"))
    assert len(problems) == 1 and "PRAGMA quick_check" in problems[0]
    assert "\n" not in problems[0]
    for args in (("import", str(QT)), ("db", "upgrade"),
                 ("portal", "--port", str(free_port()))):
        _refused(_run(data, *args), "cơ sở dữ liệu bị hỏng")
    assert db.read_bytes() == before  # never repaired nor replaced behind the operator


def test_check_on_both_databases(app):
    assert check(app.engine) == []


@pytest.mark.parametrize("content", [b"not a database at all" * 300])
def test_a_file_that_is_not_a_database(tmp_path: Path, content: bytes):
    data = tmp_path / "data"
    data.mkdir()
    (data / "phoihop.db").write_bytes(content)
    _refused(_run(data, "db", "upgrade"), "không phải cơ sở dữ liệu SQLite hợp lệ")
