"""A database that cannot be written (issue #6 item 8): a read-only SQLite file and a full
disk give one clear line and exit 1, never a traceback, and what was stored before stays.
(An attachment that cannot be stored: tests/integration/test_portal_partner.py.)"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import QT, TH


def _cli(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PHOIHOP_DATA_DIR": str(tmp_path / "data"), "PHOIHOP_LANGUAGE": "en",
           "PHOIHOP_DATABASE_URL": url}
    env.pop("PHOIHOP_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def _one_clean_line(done: subprocess.CompletedProcess[str], words: str) -> None:
    out = (done.stdout + done.stderr).strip()
    assert done.returncode == 1, out
    assert "Traceback" not in out and len(out.splitlines()) == 1, out
    assert words in out and "what was stored before is intact" in out, out


def _stored(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        assert conn.execute("pragma integrity_check").fetchone() == ("ok",)
        return [c for (c,) in conn.execute("select code from agreement order by code")]


def test_a_read_only_database(tmp_path):
    db = tmp_path / "ro.db"
    assert _cli(tmp_path, f"sqlite:///{db}", "import", str(QT)).returncode == 0
    done = _cli(tmp_path, f"sqlite:///file:{db}?mode=ro&uri=true", "import", str(TH))
    _one_clean_line(done, "readonly database")
    assert _stored(db) == ["QT-KHKT-2021-2025"]


def test_a_full_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        db = disk / "full.db"
        assert _cli(tmp_path, f"sqlite:///{db}", "import", str(QT)).returncode == 0
        filler = disk / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:  # take every byte left
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        # leave room to open the database (its -shm and a few WAL frames), not to import
        os.truncate(filler, filler.stat().st_size - 48 * 1024)
        done = _cli(tmp_path, f"sqlite:///{db}", "import", str(TH))
        _one_clean_line(done, "full")
        filler.unlink()
        assert _stored(db) == ["QT-KHKT-2021-2025"]
        assert _cli(tmp_path, f"sqlite:///{db}", "import", str(TH)).returncode == 0
        assert _stored(db) == ["QT-KHKT-2021-2025", "TH-KHKT-2024-2030"]
    finally:
        subprocess.run(["umount", str(disk)], check=False)
