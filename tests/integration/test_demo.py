"""The README's main command: the demo builds a living database from the examples."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLES

ROOT = Path(__file__).resolve().parents[2]


def test_embedded_examples_are_the_shared_ones():
    for name in ("quang-tri-2021-2025.yaml", "thanh-hoa-2024-2030.yaml",
                 "quang-tri-replies.yaml"):
        assert (ROOT / "config" / "examples" / name).read_bytes() == (EXAMPLES / name).read_bytes()


def test_demo_shows_overdue_upcoming_and_answered(tmp_path: Path):
    env = {**os.environ, "PHOIHOP_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    env.pop("PHOIHOP_DATABASE_URL", None)
    out = subprocess.run([sys.executable, "-m", "cli.main", "demo", "--today", "2024-12-20",
                          "--no-server"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "Hôm nay của bản mẫu: 20/12/2024" in text
    assert "Quá hạn (12/110)" in text
    assert "Đến hạn trong 30 ngày tới" in text and "31/12/2024" in text
    assert "Đã nộp (7/7)" in text
    assert "Bước nhắc việc sắp gửi" in text
    assert (tmp_path / "demo" / "phoihop.db").exists()
