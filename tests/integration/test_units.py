"""The systemd units of docs/deploy.md, as written (the checkout's path for /opt/phoihop):
`systemd-analyze verify` accepts them, they give up as `phoihop up`'s supervisor does, and
the portal's and a worker's `ExecStart` lines run for real, stopped by their `KillSignal`."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from flows.supervise import MAX_FAILURES, WINDOW
from tests.smtp_sink import free_port

ROOT = Path(__file__).resolve().parents[2]


def documented_units() -> dict[str, str]:
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    found = re.findall(r"^`/etc/systemd/system/([^`]+)`.*?```ini\n(.*?)```", doc, re.S | re.M)
    return {name: text.replace("/opt/phoihop", str(ROOT)) for name, text in found}


def _values(unit: str, key: str) -> list[str]:
    return re.findall(rf"^{key}=(.*)$", unit, re.M)


def test_the_units_verify_and_give_up_as_up_does(tmp_path):
    units = documented_units()
    assert set(units) == {"prefect-api.service", "prefect-services.service",
                          "phoihop-worker@.service", "phoihop-portal.service"}
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    for name, text in units.items():
        path = tmp_path / name.replace("@.", "@1.")  # a template is verified as an instance
        path.write_text(text)
        done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(path)],
                              capture_output=True, text=True)
        assert done.returncode == 0 and not done.stderr.strip(), (name, done.stderr)
        assert _values(text, "StartLimitBurst") == [str(MAX_FAILURES)], name
        assert _values(text, "StartLimitIntervalSec") == [str(int(WINDOW))], name
        assert _values(text, "Restart") == ["always"] and _values(text, "KillSignal") == [
            "SIGINT"], name
        [start] = _values(text, "ExecStart")
        assert Path(shlex.split(start)[0]).is_file(), start


def _exec_start(name: str, instance: str = "1") -> list[str]:
    [line] = _values(documented_units()[name], "ExecStart")
    return shlex.split(line.replace("%H", socket.gethostname()).replace("%i", instance))


def _stop(proc: subprocess.Popen[bytes], seconds: float) -> int:
    """As systemd stops it: the KillSignal (SIGINT) to the main process, then waiting
    TimeoutStopSec."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=seconds)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.proof  # ~30 s (a Prefect server, a portal, a worker): make proofs
def test_the_portal_and_worker_units_run(tmp_path, monkeypatch):
    from config.settings import load_settings
    from flows.local import POOL, LocalStack

    portal_port = free_port()
    for k, v in {"PHOIHOP_DATA_DIR": str(tmp_path),
                 "PHOIHOP_DATABASE_URL": f"sqlite:///{tmp_path / 'units.db'}",
                 "PHOIHOP_PORTAL_PORT": str(portal_port)}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("PHOIHOP_CONFIG", raising=False)
    subprocess.run([*_exec_start("phoihop-portal.service")[:1], "db", "upgrade"], cwd=ROOT,
                   check=True, capture_output=True)
    stack = LocalStack(load_settings(), free_port())
    env = dict(stack.env)  # what the env files hold, for this test
    portal = subprocess.Popen(_exec_start("phoihop-portal.service"), cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    worker = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{portal_port}/r/x", timeout=5)
            except urllib.error.HTTPError as exc:
                assert exc.code in (400, 403, 404, 410)
                break
            except OSError:
                assert portal.poll() is None and time.monotonic() < deadline, "no portal"
                time.sleep(0.3)
        stack.start_server()
        stack._prefect(["work-pool", "create", POOL, "--type", "process"], "create the pool")
        worker = subprocess.Popen(_exec_start("phoihop-worker@.service", "7"), cwd=ROOT,
                                  env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)

        async def workers() -> list[str]:
            from prefect.client.orchestration import get_client

            async with get_client() as client:
                return [w.name for w in await client.read_workers_for_work_pool(POOL)]

        from prefect.settings import PREFECT_API_URL, temporary_settings

        deadline = time.monotonic() + 90
        with temporary_settings({PREFECT_API_URL: stack.env["PREFECT_API_URL"]}):
            while f"{socket.gethostname()}-7" not in asyncio.run(workers()):
                assert worker.poll() is None and time.monotonic() < deadline, "no worker"
                time.sleep(1)
        assert _stop(worker, 60) == 0  # TimeoutStopSec=60, KillSignal=SIGINT
        assert _stop(portal, 30) == 0
    finally:
        for proc in (worker, portal):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        stack.stop()
