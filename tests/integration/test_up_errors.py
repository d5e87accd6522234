"""`phoihop up` that cannot start says why in one line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_an_unreachable_prefect_database_is_one_line(tmp_path: Path):
    """The scaled shape migrates Prefect's database first: a server nobody listens on
    fails that step, and `up` names it (it was a CalledProcessError traceback)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOIHOP_", "PREFECT_"))}
    env |= {"PHOIHOP_DATA_DIR": str(tmp_path),
            "PHOIHOP_DATABASE_URL": f"sqlite:///{tmp_path / 'phoihop.db'}",
            "PREFECT_API_DATABASE_CONNECTION_URL":
                "postgresql+asyncpg://nobody@127.0.0.1:1/prefect"}
    done = subprocess.run([sys.executable, "-m", "cli.main", "up", "--api-workers", "2",
                           "--port", "1"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("could not migrate Prefect's database"), lines
    assert "Connect call failed" in lines[0] or "refused" in lines[0].lower(), lines
