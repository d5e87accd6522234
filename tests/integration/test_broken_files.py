"""The broken-file corpus end to end (issue #6 item 9): every file refused with a
FILE:LINE:COL message and exit 1, within 2 s and 200 MiB each, and nothing stored."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from core.parse import load_agreement
from tests.conftest import QT, TH
from tests.unit.test_parse_errors import CASES, sub

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


def _cli(tmp_path: Path, *args: str, lang: str = "en") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PHOIHOP_DATA_DIR": str(tmp_path / "data"), "PHOIHOP_LANGUAGE": lang,
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


def test_the_problems_are_said_in_the_language_of_the_setting(tmp_path):
    """Issue 19.4: `FILE:LINE:COLUMN: message` always, the message in Vietnamese by
    default (PHOIHOP_LANGUAGE=vi) and in English with PHOIHOP_LANGUAGE=en; exit 1."""
    broken = tmp_path / "broken.yaml"
    broken.write_text(sub("lead: so", "lead: btg").replace("version: 1", "version: 3")
                      .replace("role: head", "role: boss")
                      .replace("email: gd@so.example", "email: gd-at-so"), encoding="utf-8")
    _, problems = load_agreement(broken.read_bytes(), str(broken))
    assert len(problems) == 4
    english = [str(p) for p in problems]
    vietnamese = [p.render("vi") for p in problems]
    assert english[0] == f"{broken}:1:1: version must be 1 (this program reads version 1), not '3'"
    assert vietnamese[0] == (f"{broken}:1:1: version phải là 1 (phần mềm này đọc phiên bản 1), "
                             "không phải '3'")
    for lang, lines in (("vi", vietnamese), ("en", english)):
        done = _cli(tmp_path, "validate", str(broken), lang=lang)
        assert done.returncode == 1 and done.stderr == "", done.stderr
        assert done.stdout.splitlines() == lines
        for line in lines:
            assert re.fullmatch(rf"{re.escape(str(broken))}:\d+:\d+: \S.*", line), line
    assert any("là bên theo dõi; ở đây chỉ được nêu các bên tham gia" in line
               for line in vietnamese)

    # the same words wherever a file is refused: plan, import (nothing stored)
    planned = _cli(tmp_path, "plan", str(broken), lang="vi")
    assert planned.returncode == 1 and planned.stderr.splitlines() == vietnamese
    refused = _cli(tmp_path, "import", str(broken), lang="vi")
    assert refused.returncode == 1 and refused.stderr.splitlines() == [*vietnamese,
                                                                       "Không lưu gì."]
    refused = _cli(tmp_path, "import", str(broken), lang="en")
    assert refused.returncode == 1 and refused.stderr.splitlines() == [*english,
                                                                       "Nothing was stored."]

    # a replies file (simulate --replies) too
    replies = tmp_path / "replies.yaml"
    replies.write_text("- {obligation: nope, at: soon, status: done}\n", encoding="utf-8")
    for lang, words in (("vi", ["phản hồi 1: nghĩa vụ 'nope' không có trong kế hoạch",
                                "phản hồi 1: at 'soon' không phải ngày giờ ISO "
                                "(ví dụ 2022-12-01T10:00:00+07:00)"]),
                        ("en", ["reply 1: obligation 'nope' is not in the plan",
                                "reply 1: at 'soon' is not an ISO date-time "
                                "(e.g. 2022-12-01T10:00:00+07:00)"])):
        done = _cli(tmp_path, "simulate", str(QT), "--until", "2022-12-31", "--replies",
                    str(replies), lang=lang)
        assert done.returncode == 1
        assert done.stderr.splitlines() == [f"{replies}:1:4: {words[0]}",
                                            f"{replies}:1:22: {words[1]}"]
