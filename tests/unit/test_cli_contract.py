"""The command-line contract of cli.md, through the real entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import QT, QT_REPLIES, TH


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "COLUMNS": "200", **env}
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True,
                          text=True, env=full, timeout=60)


def test_validate_ok_and_bad(tmp_path):
    ok = run("validate", str(QT), str(TH))
    assert ok.returncode == 0 and len(ok.stdout.strip().splitlines()) == 2
    bad = run("validate", str(QT), str(QT_REPLIES))
    assert bad.returncode == 1
    assert bad.stdout.strip().splitlines()[-1].startswith(f"{QT_REPLIES}:2:1: ")


def test_usage_errors_exit_2():
    assert run("plan").returncode == 2
    assert run("simulate", str(QT), "--json").returncode == 2  # --until missing
    assert run("no-such-verb").returncode == 2


@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Asia/Ho_Chi_Minh"])
def test_plan_json_shape_and_host_timezone_independence(tz):
    out = run("plan", str(QT), "--json", TZ=tz)
    data = json.loads(out.stdout)
    assert list(data) == ["agreement", "obligations", "reviews"]
    first = data["obligations"][0]
    assert list(first) == ["id", "commitment", "party", "label", "kind", "due", "deadline"]
    review = next(o for o in data["obligations"] if o["id"] == "QT-KHKT-2021-2025/review-1/so-gddt")
    assert review == {"id": "QT-KHKT-2021-2025/review-1/so-gddt", "commitment": None,
                      "party": "so-gddt", "label": "review-1", "kind": "review",
                      "due": "2022-11-21", "deadline": "2022-11-22T00:00:00+07:00"}
    assert data["reviews"][0] == {"cycle": 1, "covers": ["2021-01-01", "2022-12-31"],
                                  "meeting": "2022-12-20", "host": "so-gddt", "final": False,
                                  "skipped": False}
    assert out.stdout == run("plan", str(QT), "--json", TZ="UTC").stdout


def test_simulate_json_matches_the_contract_example():
    out = run("simulate", str(QT), "--until", "2022-12-31", "--json")
    data = json.loads(out.stdout)
    assert list(data) == ["agreement", "events", "unrecorded"]
    assert {"at": "2022-11-15T08:00:00+07:00",
            "obligation": "QT-KHKT-2021-2025/tuyen-truyen/hkh-qt/2022", "step": 0,
            "action": "request", "to": ["hkh-qt.focal"], "skipped": []} in data["events"]
    keys = [(e["at"], e["obligation"]) for e in data["events"]]
    assert keys == sorted(keys)


def test_dossier_matches_the_contract_example():
    out = run("dossier", str(QT), "--cycle", "1", "--at", "2022-12-20T08:00:00+07:00",
              "--replies", str(QT_REPLIES), "--json")
    d = json.loads(out.stdout)
    assert list(d) == ["agreement", "cycle", "covers", "meeting", "host", "final", "at",
                       "totals", "parties", "indicators", "ratios", "next"]
    assert d["totals"] == {"due": 34, "on_time": 3, "late": 3, "missing": 27, "pending": 1}
    parties = {p["party"]: p for p in d["parties"]}
    assert parties["hlhpn"] == {"party": "hlhpn", "due": 3, "on_time": 0, "late": 0,
                                "missing": 2, "pending": 1, "on_time_rate": 0.0}
    assert parties["so-gddt"]["on_time_rate"] == 1.0
    assert d["indicators"][0] == {"commitment": "hoc-tap-suot-doi", "indicator": "gdht-dang-ky",
                                  "total": 1200, "by_party": {"so-gddt": 1200}}
    assert d["ratios"][0] == {"commitment": "hoc-tap-suot-doi", "indicator": "gdht-dat",
                              "of": "gdht-dang-ky", "value": 0.9167}
    assert d["next"] == {"cycle": 2, "host": "tinh-doan", "meeting": "2024-12-20"}


def test_one_line_errors_without_traceback():
    """Each error is one line, in the language of the setting (Vietnamese by default)."""
    cases = [
        (("plan", "missing.yaml"), "missing.yaml: file not found",
         "missing.yaml: không có tệp này"),
        (("simulate", str(QT), "--until", "31/12/2022"), "--until: '31/12/2022' is not a date",
         "--until: '31/12/2022' không phải ngày"),
        (("dossier", str(QT), "--cycle", "9", "--at", "2022-12-20"), "has no review cycle 9",
         "không có kỳ sơ kết 9"),
        (("simulate", str(QT), "--until", "2022-12-31", "--replies", str(TH)),
         f"{TH}:", f"{TH}:"),
    ]
    for args, english, vietnamese in cases:
        for words, env in ((english, {"PHOIHOP_LANGUAGE": "en"}), (vietnamese, {})):
            out = run(*args, **env)
            assert out.returncode == 1, args
            assert words in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)
            assert len(out.stderr.strip().splitlines()) == 1, out.stderr
            if not env:
                assert "not found" not in out.stderr and "has no" not in out.stderr


def test_human_tables_in_both_languages():
    vi = run("plan", str(TH))
    en = run("plan", str(TH), PHOIHOP_LANGUAGE="en")
    assert "Các kỳ sơ kết, tổng kết" in vi.stdout and "20/12/2027" in vi.stdout
    assert "Review cycles" in en.stdout and "20/12/2027" in en.stdout
