"""Issue 19.4: the sync flow's log lines follow the language setting (they were always
Vietnamese), on the session's Prefect test server."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from config.bootstrap import bootstrap
from config.settings import load_settings
from models.migrate import upgrade


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("PHOIHOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PHOIHOP_DATABASE_URL", f"sqlite:///{tmp_path / 'sync.db'}")
    monkeypatch.delenv("PHOIHOP_CONFIG", raising=False)
    upgrade(bootstrap(load_settings()).engine)
    return tmp_path


def _messages(flow_run_id, expected: str) -> list[str]:
    """The run's log lines, once one matches the regex `expected` (or after 20 s)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)  # the log lines are sent in the background

    async def read() -> list[str]:
        async with get_client() as client:
            logs = await client.read_logs(LogFilter(
                flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
            return [log.message for log in logs]

    deadline = time.monotonic() + 20
    while True:
        found = asyncio.run(read())
        if any(re.fullmatch(expected, m) for m in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


# the runs other tests of the session left scheduled on the shared server are cancelled
# (\d+): the words are what this test is about
@pytest.mark.parametrize(("language", "line"), [
    ("en", r"Schedule sync: 0 runs planned, created 0, kept 0, cancelled \d+"),
    ("vi", r"Đồng bộ lịch: 0 lần chạy theo kế hoạch, tạo mới 0, giữ 0, hủy \d+"),
])
def test_sync_logs_follow_the_language_setting(prefect_harness, data, monkeypatch,
                                               language, line):
    from flows.sync import sync

    monkeypatch.setenv("PHOIHOP_LANGUAGE", language)
    state = asyncio.run(sync(horizon_days=1, return_state=True))
    assert state.is_completed()
    found = _messages(state.state_details.flow_run_id, line)
    assert any(re.fullmatch(line, m) for m in found), found


def test_phoihop_sync_reaches_a_running_prefect_api(prefect_harness, tmp_path):
    """The one-line refusal (tests/integration/test_cli_truth.py) must not refuse a server
    that answers: `phoihop sync` against the session's Prefect server syncs, exit 0."""
    import os
    import subprocess
    import sys

    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOIHOP_")}
    env.update(PHOIHOP_DATA_DIR=str(tmp_path), PHOIHOP_LANGUAGE="en",
               PREFECT_API_URL=str(PREFECT_API_URL.value()))
    out = subprocess.run([sys.executable, "-m", "cli.main", "sync", "--horizon-days", "1"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert re.search(r"Planned 0, created 0, kept 0, cancelled \d+\.", out.stdout), out.stdout
