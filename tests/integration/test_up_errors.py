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


def test_beyond_loopback_prefects_api_still_answers_nothing_without_credentials(tmp_path):
    """`up --host 0.0.0.0` opens Prefect's API (which runs what a deployment says) to the
    network: it is never without its authentication (flows.local.prefect_env always sets
    it), so a request without the credentials, or with wrong ones, is refused there too."""
    import base64
    import urllib.error
    import urllib.request

    from config.settings import Settings
    from flows.local import LocalStack
    from tests.smtp_sink import free_port

    stack = LocalStack(Settings(data_dir=tmp_path,
                                database_url=f"sqlite:///{tmp_path / 'phoihop.db'}"),
                       free_port(), host="0.0.0.0")
    try:
        stack.start_server()
        url = f"http://127.0.0.1:{stack.port}/api/admin/version"

        def status(auth: str | None) -> int:
            headers = {}
            if auth:
                headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
            req = urllib.request.Request(url, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status
            except urllib.error.HTTPError as exc:
                return exc.code

        assert stack.env["PREFECT_SERVER_API_HOST"] == "0.0.0.0"
        assert status(None) == 401 and status("phoihop:guess") == 401
        assert status(stack.env["PREFECT_API_AUTH_STRING"]) == 200
    finally:
        stack.stop()


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
