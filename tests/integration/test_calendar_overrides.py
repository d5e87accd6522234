"""Government-decreed swaps (issue #6, item 14): the configuration's calendar overrides
reach `phoihop plan` and `phoihop simulate`.

The `[calendar]` table of the TOML file named by PHOIHOP_CONFIG (config/settings.py,
`CalendarOverrides`) adds working days (a Saturday worked to bridge a holiday) and days
off (a day off decreed on top of the `holidays` package's Vietnamese calendar). Run as the
real command in a subprocess, with and without the file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

AGREEMENT = """\
version: 1
code: HD-2025
title: Chương trình phối hợp hoán đổi ngày làm việc
signed_on: 2025-01-02
period: {start: 2025-01-01, end: 2025-12-31}
convener: hkh
due_adjust: next
parties:
  - id: hkh
    name: Hội Khuyến học tỉnh
    contacts:
      - {name: Điều phối viên, role: coordinator, email: dp@hkh.example}
      - {name: Đầu mối HKH, role: focal, email: dm@hkh.example}
  - id: so
    name: Sở Giáo dục và Đào tạo
    contacts:
      - {name: Lê Thị Hoa, role: focal, email: hoa@so.example}
      - {name: Giám đốc, role: head, email: gd@so.example}
commitments:
  - id: thu-bay
    title: Báo cáo hạn thứ Bảy
    lead: so
    reports:
      - {every: once, due: 2025-05-10, from: lead}
  - id: thu-tu
    title: Báo cáo hạn thứ Tư
    lead: so
    reports:
      - {every: once, due: 2025-05-14, from: lead}
"""

# Saturday 10/05/2025 worked (say, to bridge a holiday), Wednesday 14/05/2025 off instead
SWAP = """\
[calendar]
working_days = [2025-05-10]
days_off = [2025-05-14]
"""


def _run(tmp: Path, config: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOIHOP_")}
    env.update(PHOIHOP_DATA_DIR=str(tmp / "data"), COLUMNS="200")
    if config is not None:
        path = tmp / "phoihop.toml"
        path.write_text(config, encoding="utf-8")
        env["PHOIHOP_CONFIG"] = str(path)
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def _dues(out: str) -> dict[str, str]:
    return {o["commitment"]: o["due"] for o in json.loads(out)["obligations"]
            if o["kind"] == "report"}


def test_a_worked_saturday_and_an_extra_day_off_move_due_dates_in_plan(tmp_path: Path):
    file = tmp_path / "hd.yaml"
    file.write_text(AGREEMENT, encoding="utf-8")
    plain = _run(tmp_path, None, "plan", str(file), "--json")
    swapped = _run(tmp_path, SWAP, "plan", str(file), "--json")
    assert plain.returncode == 0 and swapped.returncode == 0, plain.stderr + swapped.stderr
    # without the file: Saturday 10/05 is not worked (due_adjust next: Monday 12/05),
    # Wednesday 14/05 is an ordinary working day
    assert _dues(plain.stdout) == {"thu-bay": "2025-05-12", "thu-tu": "2025-05-14"}
    # with it: the worked Saturday holds the due date, the day off moves it to Thursday
    assert _dues(swapped.stdout) == {"thu-bay": "2025-05-10", "thu-tu": "2025-05-15"}
    table = _run(tmp_path, SWAP, "plan", str(file))
    assert table.returncode == 0 and "10/05/2025" in table.stdout \
        and "15/05/2025" in table.stdout and "12/05/2025" not in table.stdout


def test_the_swap_moves_the_ladder_in_simulate(tmp_path: Path):
    file = tmp_path / "hd.yaml"
    file.write_text(AGREEMENT, encoding="utf-8")

    def due_day_reminders(config: str | None) -> dict[str, str]:
        done = _run(tmp_path, config, "simulate", str(file), "--until", "2025-06-30",
                    "--json")
        assert done.returncode == 0, done.stderr
        return {e["obligation"].split("/")[1]: e["at"] for e in json.loads(done.stdout)["events"]
                if e["step"] == 2}  # the default ladder's `0d` reminder, on the due day

    assert due_day_reminders(None) == {"thu-bay": "2025-05-12T08:00:00+07:00",
                                       "thu-tu": "2025-05-14T08:00:00+07:00"}
    assert due_day_reminders(SWAP) == {"thu-bay": "2025-05-10T08:00:00+07:00",
                                       "thu-tu": "2025-05-15T08:00:00+07:00"}


def test_a_bad_override_is_one_clear_line(tmp_path: Path):
    file = tmp_path / "hd.yaml"
    file.write_text(AGREEMENT, encoding="utf-8")
    done = _run(tmp_path, '[calendar]\ndays_off = ["14/05/2025"]\n', "plan", str(file))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "calendar.days_off" in lines[0], done.stderr
