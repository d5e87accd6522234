"""Dates at the edges, through the CLI: every case is either its normal output or a
one-line error (exit 1), never a traceback, and `simulate` ends quickly over any span.

Supported dates: 01/01/1900–31/12/9899 (core.calendar.DATE_MIN/DATE_MAX); offsets of up
to 9999 days or working days cross them freely (docs/spec-choices.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import QT

OUT_OF_RANGE = "ngoài khoảng ngày hỗ trợ 01/01/1900–31/12/9899"
WIDE_LADDER = """escalation:
  send_at: "08:00"
  steps:
    - {at: -9999d, action: request, to: [focal]}
    - {at: 0d, action: remind, to: [focal]}
    - {at: +9999bd, action: escalate, to: [head]}
"""


def _file(tmp: Path, name: str, signed: str, start: str, end: str, *, ladder: bool = False,
          once: str | None = None) -> Path:
    text = QT.read_text()
    text = text.replace("signed_on: 2022-05-18", f"signed_on: {signed}")
    text = text.replace("period: {start: 2021-01-01, end: 2025-12-31}",
                        f"period: {{start: {start}, end: {end}}}")
    if once:
        text = text.replace('{every: half-year, due: "+15d", from: support,',
                            f'{{every: once, due: "{once}", from: support,')
    if ladder:
        text = text.replace("\nreviews:\n", "\n" + WIDE_LADDER + "\nreviews:\n")
    path = tmp / f"{name}.yaml"
    path.write_text(text)
    assert text != QT.read_text()
    return path


def _run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PHOIHOP_DATA_DIR": str(tmp / "data"), "PHOIHOP_LANGUAGE": "vi"}
    env.pop("PHOIHOP_DATABASE_URL", None)
    env.pop("PHOIHOP_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True,
                          text=True, env=env, timeout=90)


FILES = {  # name: (signed_on, period start, period end, wide ladder, once due)
    "year-1": ("0001-01-01", "0001-01-01", "0002-12-31", False, None),
    "year-1900": ("1900-01-01", "1900-01-01", "1903-12-31", True, None),
    "year-1899": ("1899-12-31", "1900-01-01", "1903-12-31", False, None),
    "year-9898": ("9898-01-01", "9898-01-01", "9899-12-31", True, None),
    "year-9998": ("9998-01-01", "9998-01-01", "9998-12-31", False, None),
    "end-9999-12-31": ("2022-05-18", "2021-01-01", "9999-12-31", False, None),
    "due-9999-12-20": ("2022-05-18", "2021-01-01", "2025-12-31", False, "9999-12-20"),
    "due-9899-12-31": ("2022-05-18", "2021-01-01", "2025-12-31", True, "9899-12-31"),
}
REFUSED = {"year-1", "year-1899", "year-9998", "end-9999-12-31", "due-9999-12-20"}

CASES = [  # (file, command and options, exit code, words in the one error line)
    *[(name, (cmd,), 1 if name in REFUSED else 0, OUT_OF_RANGE if name in REFUSED else "")
      for name in FILES for cmd in ("validate", "plan", "import")],
    ("year-1900", ("simulate", "--until", "1904-06-30", "--json"), 0, ""),
    ("year-9898", ("simulate", "--until", "9899-12-31", "--json"), 0, ""),
    ("year-1900", ("simulate", "--until", "9899-12-31", "--json"), 0, ""),  # 8,000 years
    ("year-1900", ("simulate", "--until", "9999-12-31", "--json"), 1, "--until: 31/12/9999"),
    ("year-1900", ("simulate", "--until", "1899-12-31", "--json"), 1, "--until: 31/12/1899"),
    ("year-1900", ("simulate", "--until", "1904-06-30", "--registered-at",
                   "0001-01-01T00:00:00+07:00"), 1, "--registered-at: 01/01/0001"),
    ("year-9898", ("simulate", "--until", "9899-12-31", "--registered-at",
                   "9899-12-31T23:59:59-12:00"), 0, ""),
    ("year-1900", ("dossier", "--cycle", "1", "--at", "0001-01-01T00:00:00+07:00", "--json"),
     1, "--at: 01/01/0001"),
    ("year-1900", ("dossier", "--cycle", "1", "--at", "9999-12-31T00:00:00+07:00", "--json"),
     1, "--at: 31/12/9999"),
    ("year-9898", ("dossier", "--cycle", "1", "--at", "9899-12-31T23:59:59+07:00", "--json"),
     0, ""),
    ("year-1900", ("dossier", "--cycle", "1", "--at", "1900-01-01T00:00:00+14:00", "--json"),
     0, ""),
]


QUICK = {"year-1900-simulate---until-9899-12-31", "year-1900-simulate---until-9999-12-31",
         "year-1900-simulate---until-1904-06-30", "year-1900-dossier---cycle-1",
         "year-9898-simulate---until-9899-12-31"}  # in every suite run; all in `make proofs`


def _id(case: tuple[str, tuple[str, ...], int, str]) -> str:
    return f"{case[0]}-{'-'.join(case[1][:3])}"


def test_validate_at_the_edges_in_one_run_each(tmp_path: Path):
    """Every refused file named with its one-line reason; every accepted one valid."""
    refused = [_file(tmp_path, n, *FILES[n][:3], ladder=FILES[n][3], once=FILES[n][4])
               for n in sorted(REFUSED)]
    accepted = [_file(tmp_path, n, *FILES[n][:3], ladder=FILES[n][3], once=FILES[n][4])
                for n in sorted(set(FILES) - REFUSED)]
    bad = _run(tmp_path, "validate", *map(str, refused))
    assert bad.returncode == 1 and "Traceback" not in bad.stdout + bad.stderr, bad.stderr
    lines = (bad.stdout + bad.stderr).splitlines()
    for path in refused:
        assert any(str(path) in line and OUT_OF_RANGE in line for line in lines), path
    good = _run(tmp_path, "validate", *map(str, accepted))
    assert good.returncode == 0, good.stdout + good.stderr


@pytest.mark.parametrize(("name", "args", "code", "words"), [
    pytest.param(*c, id=_id(c), marks=() if _id(c) in QUICK else pytest.mark.proof)
    for c in CASES])
def test_date_edges(tmp_path: Path, name: str, args: tuple[str, ...], code: int, words: str):
    signed, start, end, ladder, once = FILES[name]
    path = _file(tmp_path, name, signed, start, end, ladder=ladder, once=once)
    result = _run(tmp_path, args[0], str(path), *args[1:])
    assert "Traceback" not in result.stderr + result.stdout, result.stderr[-2000:]
    assert result.returncode == code, (result.stdout[-500:], result.stderr[-1500:])
    if code:
        lines = [line for line in (result.stdout + result.stderr).splitlines() if words in line]
        assert lines, (result.stdout, result.stderr)
    elif "--json" in args:
        json.loads(result.stdout)
