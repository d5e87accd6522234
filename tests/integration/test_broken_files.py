"""The broken-file corpus end to end (issue #6 item 9): every file refused with a
FILE:LINE:COL message and exit 1, within 2 s and 200 MiB each, and nothing stored."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import QT, TH
from tests.unit.test_parse_errors import CASES

PROBE = """
import json, re, sys, time
from pathlib import Path
from core.parse import ParseOptions, load_agreement
worst = 0.0
for path in sorted(Path(sys.argv[1]).iterdir()):
    started = time.perf_counter()
    agreement, problems = load_agreement(path.read_bytes(), path.name, ParseOptions())
    worst = max(worst, time.perf_counter() - started)
    assert agreement is None and problems, path
# VmHWM: this program's peak (ru_maxrss would carry over the forking parent's size)
with open("/proc/self/status") as f:
    peak_kib = int(re.search(r"VmHWM:\\s+(\\d+) kB", f.read()).group(1))
print(json.dumps({"worst_s": worst, "max_rss_mib": peak_kib / 1024}))
"""


def _write(directory: Path) -> list[Path]:
    directory.mkdir()
    out = []
    for i, (name, text, _expected) in enumerate(CASES):
        path = directory / f"{i:02d}-{re.sub(r'[^a-z0-9]+', '-', name)}.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        out.append(path)
    return out


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PHOIHOP_DATA_DIR": str(tmp_path / "data"), "PHOIHOP_LANGUAGE": "en",
           "PHOIHOP_DATABASE_URL": f"sqlite:///{tmp_path / 'broken.db'}"}
    env.pop("PHOIHOP_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_every_broken_file_is_refused_quickly_in_little_memory(tmp_path):
    files = _write(tmp_path / "broken")
    assert len(files) >= 40
    probe = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "broken")],
                           capture_output=True, text=True, timeout=300, check=True)
    figures = json.loads(probe.stdout)
    assert figures["worst_s"] < 2, figures
    assert figures["max_rss_mib"] < 200, figures  # the whole process, imports included


def test_the_cli_refuses_them_all_and_stores_nothing(tmp_path):
    files = _write(tmp_path / "broken")
    done = _cli(tmp_path, "validate", *map(str, files))
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    out = done.stdout + done.stderr
    for path in files:  # every file named with a line and a column
        assert re.search(rf"{re.escape(str(path))}:\d+:\d+: ", out), path.name

    assert _cli(tmp_path, "import", str(QT)).returncode == 0
    refused = _cli(tmp_path, "import", str(TH), *map(str, files))
    assert refused.returncode == 1 and "Traceback" not in refused.stdout + refused.stderr
    assert "Nothing was stored" in refused.stdout + refused.stderr
    listed = _cli(tmp_path, "agreements")
    assert "QT-KHKT-2021-2025" in listed.stdout and "TH-KHKT-2024-2030" not in listed.stdout
