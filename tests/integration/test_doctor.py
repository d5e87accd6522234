"""`phoihop doctor` without a running stack: each check fails on its own, in one line naming
where to look, and a damaged database is said to be damaged, never opened as a new one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.smtp_sink import free_port


def _doctor(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PHOIHOP_DATA_DIR": str(data), "PHOIHOP_LANGUAGE": "vi",
           "PHOIHOP_MAIL__PORT": str(free_port()), "PHOIHOP_PORTAL_URL":
           f"http://127.0.0.1:{free_port()}"}
    for k in ("PHOIHOP_DATABASE_URL", "PHOIHOP_CONFIG", "PREFECT_API_URL"):
        env.pop(k, None)
    return subprocess.run([sys.executable, "-m", "cli.main", "doctor", "--port",
                           str(free_port()), *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_nothing_running_every_check_says_where_to_look(tmp_path: Path) -> None:
    data = tmp_path / "data"
    migrated = subprocess.run([sys.executable, "-m", "cli.main", "db", "upgrade"],
                              env={**os.environ, "PHOIHOP_DATA_DIR": str(data)},
                              capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    done = _doctor(data)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("✓ Cơ sở dữ liệu ở bản cấu trúc mới nhất"), lines
    assert [ln[0] for ln in lines] == ["✓", "✗", "✗", "✗", "✗"], lines
    assert "phoihop config" in lines[1]  # the mail server: the configuration to check
    assert str(data / "portal.log") in lines[2]
    assert str(data / "phoihop-worker-1.log") in lines[3]
    assert str(data / "prefect-server.log") in lines[4]
    assert "Traceback" not in done.stdout + done.stderr


def test_an_empty_database_file_is_damaged_not_new(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "phoihop.db").write_bytes(b"")
    done = _doctor(data)
    assert done.returncode == 1
    assert done.stdout.splitlines()[0].startswith("✗ Cơ sở dữ liệu bị hỏng"), done.stdout
    assert (data / "phoihop.db").stat().st_size == 0  # nothing created in it
    assert "Traceback" not in done.stdout + done.stderr
