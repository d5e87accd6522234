"""The stored-data commands through the real entry point, on a fresh data directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import QT, QT_REPLIES, TH


def _run(tmp_path: Path, *args: str, lang: str = "vi") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PHOIHOP_DATA_DIR": str(tmp_path / "data"), "PHOIHOP_LANGUAGE": lang,
           "COLUMNS": "160"}
    env.pop("PHOIHOP_DATABASE_URL", None)
    env.pop("PHOIHOP_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True,
                          text=True, env=env, timeout=60)


def test_import_list_and_refuse(tmp_path: Path):
    first = _run(tmp_path, "import", str(QT), str(TH))
    assert first.returncode == 0, first.stderr
    assert "QT-KHKT-2021-2025: mới, lần 1 — thêm 165" in first.stdout
    again = _run(tmp_path, "import", str(QT), lang="en")
    assert again.returncode == 0 and "unchanged (revision 1)" in again.stdout

    bad = _run(tmp_path, "import", str(QT_REPLIES))
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr
    assert bad.stderr.splitlines()[0].startswith(f"{QT_REPLIES}:2:1: ")
    assert "Không lưu gì." in bad.stderr

    listed = _run(tmp_path, "obligations", "--agreement", "QT-KHKT-2021-2025", "--party",
                  "so-gddt", "--json", "--limit", "3")
    data = json.loads(listed.stdout)
    assert data["total"] == 15
    assert list(data["obligations"][0]) == ["id", "agreement", "commitment", "party", "label",
                                            "kind", "due", "deadline", "status", "last_step",
                                            "next_fire"]
    assert data["obligations"][0]["deadline"] == "2022-07-16T00:00:00+07:00"

    table = _run(tmp_path, "agreements", lang="en")
    assert "TH-KHKT-2024-2030" in table.stdout and "01/01/2024 – 31/12/2030" in table.stdout


def test_bad_status_is_usage_and_missing_file_one_line_error(tmp_path: Path):
    """An unknown --status is wrong usage (exit 2, the allowed values listed); a missing
    file is a one-line error (exit 1) in the language of the setting."""
    r = _run(tmp_path, "obligations", "--status", "late")
    assert r.returncode == 2 and "'late' is not one of" in r.stderr, r.stderr
    assert "'upcoming'" in r.stderr and "'unrecorded'" in r.stderr
    assert "Traceback" not in r.stderr
    r = _run(tmp_path, "import", str(tmp_path / "none.yaml"), lang="en")
    assert r.returncode == 1 and r.stderr.strip() == f"{tmp_path / 'none.yaml'}: file not found"
    r = _run(tmp_path, "import", str(tmp_path / "none.yaml"))
    assert r.returncode == 1 and r.stderr.strip() == f"{tmp_path / 'none.yaml'}: không có tệp này"


def test_a_stored_agreement_that_no_longer_validates_is_said_in_the_setting_language(
        tmp_path: Path):
    """Issue 19.4: the problems of a stored agreement (what sync, the ladder and the
    dossier read) follow the setting `language` too."""
    import sqlite3

    assert _run(tmp_path, "import", str(QT)).returncode == 0
    with sqlite3.connect(tmp_path / "data" / "phoihop.db") as db:
        db.execute("update agreement set source = 'code: [unterminated' where code = ?",
                   ("QT-KHKT-2021-2025",))
    vi = _run(tmp_path, "review", "QT-KHKT-2021-2025", "--cycle", "1")
    en = _run(tmp_path, "review", "QT-KHKT-2021-2025", "--cycle", "1", lang="en")
    assert vi.returncode == en.returncode == 1
    assert vi.stderr.strip() == (
        "Không dựng được hồ sơ: QT-KHKT-2021-2025: chương trình đã lưu không còn hợp lệ với "
        f"cấu hình hiện tại: {QT}:2:1: lỗi cú pháp YAML: did not find expected ',' or ']'")
    assert en.stderr.strip() == (
        "Cannot build the dossier: QT-KHKT-2021-2025: the stored agreement no longer "
        f"validates with this configuration: {QT}:2:1: YAML syntax error: did not find "
        "expected ',' or ']'")
