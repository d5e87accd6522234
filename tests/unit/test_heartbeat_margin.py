"""The missed-heartbeat threshold keeps a margin over the heartbeat frequency."""

from __future__ import annotations

import pytest

from config.settings import ConfigError, load_settings
from flows.local import heartbeat_margin


def test_the_threshold_must_cover_four_heartbeats(monkeypatch, tmp_path):
    monkeypatch.delenv("PHOIHOP_CONFIG", raising=False)
    monkeypatch.setenv("PHOIHOP_DATA_DIR", str(tmp_path))
    assert load_settings().crashed_after == 240  # 4 × 60 by default
    assert load_settings(heartbeat_seconds=30).crashed_after == 120
    assert load_settings(heartbeat_seconds=30, crashed_after_seconds=121).crashed_after == 121
    with pytest.raises(ConfigError, match="crashed_after_seconds 180 is under 240"):
        load_settings(crashed_after_seconds=180)
    with pytest.raises(ConfigError, match="heartbeat_seconds"):
        load_settings(heartbeat_seconds=10)  # under Prefect's least


def test_localstack_refuses_a_thin_margin_too():
    heartbeat_margin(30, 120)
    with pytest.raises(ValueError, match="under 4 heartbeats of 60 s"):
        heartbeat_margin(60, 181)
    with pytest.raises(ValueError, match="Prefect's least is 30"):
        heartbeat_margin(20, 400)
