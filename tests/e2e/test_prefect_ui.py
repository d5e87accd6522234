"""`phoihop up` for real: a Prefect server, worker and portal; the UI shows an agreement's
upcoming runs and its artifacts in headless Chromium; Ctrl-C stops everything cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import TH
from tests.e2e.browser import ARGS, CHROMIUM, OUT, need_chromium
from tests.smtp_sink import free_port


def _post(url: str, body: dict) -> list[dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture
def stack(tmp_path):
    need_chromium()
    port, portal = free_port(), free_port()
    env = {**os.environ, "PHOIHOP_DATA_DIR": str(tmp_path), "PHOIHOP_PORTAL_PORT": str(portal),
           "PHOIHOP_PORTAL_URL": f"http://127.0.0.1:{portal}", "COLUMNS": "200"}
    for k in ("PHOIHOP_DATABASE_URL", "PHOIHOP_CONFIG", "PREFECT_API_URL"):
        env.pop(k, None)
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "up", str(TH), "--port",
                             str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    deadline = time.monotonic() + 180
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "Prefect" in line and f"127.0.0.1:{port}" in line and "Ctrl-C" in line:
            break
        if proc.poll() is not None:
            break
    else:
        proc.kill()
    assert proc.poll() is None, "".join(lines)[-2000:]
    yield proc, f"http://127.0.0.1:{port}", tmp_path
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)


def test_ui_shows_upcoming_runs_and_artifacts_then_stops(stack):
    from playwright.sync_api import sync_playwright

    proc, ui, data = stack
    runs = _post(f"{ui}/api/flow_runs/filter", {
        "flow_runs": {"tags": {"all_": ["agreement:TH-KHKT-2024-2030"]}},
        "sort": "EXPECTED_START_TIME_ASC", "limit": 50, "offset": 0})
    scheduled = [r for r in runs if r["state_type"] == "SCHEDULED"]
    assert scheduled, runs
    first = scheduled[0]
    assert first["name"].startswith("TH-KHKT-2024-2030 · ")
    assert any(t.startswith("party:") for t in first["tags"])
    deadline = time.monotonic() + 60  # the start-up sweep publishes the artifacts
    keys: set[str] = set()
    while time.monotonic() < deadline and "th-khkt-2024-2030-summary" not in keys:
        keys = {a["key"] for a in _post(f"{ui}/api/artifacts/filter",
                                        {"limit": 50, "offset": 0, "sort": "ID_DESC"})}
        time.sleep(1)
    assert {"th-khkt-2024-2030-summary", "th-khkt-2024-2030-obligations"} <= keys

    OUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(f"{ui}/runs/flow-run/{first['id']}")
        page.wait_for_selector(f"text={first['name']}", timeout=30_000)
        page.screenshot(path=str(OUT / "prefect-upcoming-run.png"))
        page.goto(f"{ui}/artifacts")
        page.wait_for_selector("text=th-khkt-2024-2030-summary", timeout=30_000)
        page.screenshot(path=str(OUT / "prefect-artifacts.png"))
        browser.close()

    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) in (0, 130)
    with pytest.raises(OSError):  # the server is gone with it
        urllib.request.urlopen(f"{ui}/api/health", timeout=3)
    assert (data / "prefect-server.log").exists() and (data / "phoihop-worker-1.log").exists()
