"""`phoihop up` stopped by `kill` (SIGTERM, as systemd or docker stop it), started the way
a shell starts a background job (SIGINT ignored): everything it started stops with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.fault_restarts import descendants
from tests.smtp_sink import free_port


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.proof  # ~30 s: in `make proofs` (the suite's budget)
def test_sigterm_stops_up_and_all_it_started(tmp_path: Path):
    port, portal = free_port(), free_port()
    env = {**os.environ, "PHOIHOP_DATA_DIR": str(tmp_path), "PHOIHOP_PORTAL_PORT": str(portal),
           "PHOIHOP_PORTAL_URL": f"http://127.0.0.1:{portal}", "COLUMNS": "200"}
    for k in ("PHOIHOP_DATABASE_URL", "PHOIHOP_CONFIG", "PREFECT_API_URL"):
        env.pop(k, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "up", "--port", str(port)], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))  # a background job
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            lines.append(proc.stdout.readline())
            if "Ctrl-C" in lines[-1]:
                break
        assert proc.poll() is None and "Ctrl-C" in lines[-1], "".join(lines)[-2000:]
        started = descendants(proc.pid)
        assert len(started) >= 3, started  # the server, the worker, the portal at least
        proc.send_signal(signal.SIGTERM)  # to `up` alone, not to its process group
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(p) for p in started):
        time.sleep(0.5)
    left = [p for p in started if _alive(p)]
    for p in left:  # each in a session of its own: not this test's to leave behind
        os.kill(p, signal.SIGKILL)
    assert proc.returncode == 0, "".join(lines) + out
    assert not left, f"still running after up stopped: {left}"
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=3)
