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


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOIHOP_", "PREFECT_"))}
    return env | {"PHOIHOP_DATA_DIR": str(tmp_path),
                  "PHOIHOP_DATABASE_URL": f"sqlite:///{tmp_path / 'phoihop.db'}", **extra}


def test_up_beyond_loopback_without_authentication_is_refused(tmp_path: Path):
    """`up --host 0.0.0.0` would open Prefect's API (which runs what a deployment says)
    to the network: refused, in one line, unless PREFECT_SERVER_API_AUTH_STRING is set."""
    done = subprocess.run([sys.executable, "-m", "cli.main", "up", "--host", "0.0.0.0",
                           "--port", "1"], cwd=ROOT, env=_env(tmp_path), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "0.0.0.0" in lines[0] and "PREFECT_SERVER_API_AUTH_STRING" in lines[0], lines
    assert not (tmp_path / "prefect-server.log").exists()  # nothing was started


def test_a_crashed_after_threshold_without_margin_is_refused(tmp_path: Path):
    """Heartbeats every 60 s, a run marked Crashed after 180 s of silence: a healthy run
    whose heartbeats came 180.03 s apart was marked Crashed so. Refused."""
    done = subprocess.run([sys.executable, "-m", "cli.main", "up", "--port", "1"], cwd=ROOT,
                          env=_env(tmp_path, PHOIHOP_HEARTBEAT_SECONDS="60",
                                   PHOIHOP_CRASHED_AFTER_SECONDS="180"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "crashed_after_seconds 180 is under 240" in lines[0], lines
