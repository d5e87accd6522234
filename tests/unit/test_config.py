"""Settings: TOML under environment, named ladders and channels, calendar overrides, masking."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from config.bootstrap import bootstrap
from config.settings import ConfigError, load_settings
from core.expand import expand
from core.parse import load_agreement

AGREEMENT = """\
version: 1
code: CFG-1
title: Thử cấu hình
signed_on: 2025-01-02
period: {start: 2025-01-01, end: 2025-12-31}
convener: a
escalation: ngan
parties:
  - id: a
    name: Hội Khuyến học
    contacts:
      - {name: Điều phối, role: coordinator, email: c@a.example}
      - {name: Đầu mối, role: focal, email: f@a.example, channels: [zalo-hkh]}
  - id: b
    name: Sở B
    contacts:
      - {name: Đầu mối B, role: focal, email: f@b.example}
commitments:
  - id: x
    title: Việc X
    lead: b
    reports:
      - {every: once, due: 2025-05-02, from: lead}
"""

TOML = """\
language = "en"
[mail]
host = "smtp.example"
password = "hunter2-secret"
username = "u"
[channels]
zalo-hkh = "tgram://123456789:AAbbCCddEEsecret/4242"
[ladders.ngan]
send_at = "07:30"
steps = [
  { at = "-14d", action = "request", to = ["focal"] },
  { at = "+2bd", action = "escalate", to = ["focal", "head"] },
]
[calendar]
days_off = [2025-05-05]
working_days = [2025-05-03]
"""


@pytest.fixture
def toml_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "phoihop.toml"
    path.write_text(TOML, encoding="utf-8")
    monkeypatch.setenv("PHOIHOP_CONFIG", str(path))
    monkeypatch.setenv("PHOIHOP_DATA_DIR", str(tmp_path / "data"))
    return path


def test_toml_is_read_and_environment_wins(toml_env: Path, monkeypatch: pytest.MonkeyPatch):
    assert load_settings().language == "en"
    monkeypatch.setenv("PHOIHOP_LANGUAGE", "vi")
    monkeypatch.setenv("PHOIHOP_MAIL__PORT", "2525")
    s = load_settings()
    assert s.language == "vi"
    assert s.mail.port == 2525 and s.mail.host == "smtp.example"  # nested values merge


def test_named_ladder_channel_and_calendar_overrides_reach_the_plan(toml_env: Path):
    app = bootstrap(load_settings())
    agreement, problems = load_agreement(AGREEMENT.encode(), "cfg.yaml", app.parse_options)
    assert problems == [] and agreement is not None
    assert agreement.ladder.name == "ngan" and len(agreement.ladder.steps) == 2
    assert agreement.ladder.send_at.hour == 7 and agreement.ladder.send_at.minute == 30
    # 2025-05-02 is a day off in the VN calendar; 2025-05-03 (Saturday) is made a working
    # day by the override, so `next` stops there instead of Tuesday 06/05 (05/05 is off too).
    (obligation,) = [o for o in expand(agreement, app.calendar).obligations if o.kind == "report"]
    assert obligation.due == date(2025, 5, 3)


def test_unknown_ladder_and_channel_are_errors_without_configuration(tmp_path: Path,
                                                                     monkeypatch):
    monkeypatch.delenv("PHOIHOP_CONFIG", raising=False)
    monkeypatch.setenv("PHOIHOP_DATA_DIR", str(tmp_path))
    app = bootstrap(load_settings())
    _, problems = load_agreement(AGREEMENT.encode(), "cfg.yaml", app.parse_options)
    messages = [p.message for p in problems]
    assert any("no ladder named 'ngan'" in m for m in messages)
    assert any("channel 'zalo-hkh'" in m for m in messages)
    assert [(p.line, p.column) for p in problems if "ladder" in p.message] == [(7, 1)]


def test_bad_toml_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "bad.toml"
    path.write_text("language = \n", encoding="utf-8")
    monkeypatch.setenv("PHOIHOP_CONFIG", str(path))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(path) in str(info.value)


def test_config_command_masks_secrets(toml_env: Path):
    out = subprocess.run([sys.executable, "-m", "cli.main", "config"], capture_output=True,
                         text=True, check=True).stdout
    assert "hunter2" not in out and "AAbbCCddEEsecret" not in out
    assert "smtp://u:***@smtp.example" in out
    assert "zalo-hkh" in out


def test_placeholder_secret_refused_in_production(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("PHOIHOP_CONFIG", raising=False)
    with pytest.raises(ConfigError, match=r"mail\.password is a placeholder"):
        load_settings(profile="production", mail={"username": "u", "password": "changeme"})
    assert json.dumps(load_settings(profile="production",
                                    mail={"username": "u", "password": "x" * 20}).mail.masked())
