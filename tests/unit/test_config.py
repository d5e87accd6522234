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


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import os

    full = {k: v for k, v in os.environ.items()
            if not k.startswith(("PHOIHOP_", "PREFECT_")) or k.startswith("PHOIHOP_TEST_")}
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True,
                          text=True, env={**full, **env}, timeout=60)


TYPOS = """\
portal_prot = 8601
send_retires = 3
[mail]
hots = "smtp.example"
pasword = "hunter2-secret"
[calender]
days_off = [2025-05-05]
"""


def test_unknown_toml_keys_are_refused_with_a_suggestion(tmp_path: Path, monkeypatch):
    """Issue 14.4: typos in the TOML file are errors naming the closest setting, nested
    tables included; `config` and `config --check` exit 1 on one line."""
    monkeypatch.delenv("PHOIHOP_CONFIG", raising=False)
    monkeypatch.delenv("PHOIHOP_LANGUAGE", raising=False)
    monkeypatch.setenv("PHOIHOP_DATA_DIR", str(tmp_path))
    (tmp_path / "phoihop.toml").write_text(TYPOS, encoding="utf-8")
    monkeypatch.setenv("PHOIHOP_LANGUAGE", "en")
    with pytest.raises(ConfigError) as info:
        load_settings()
    text = str(info.value)
    for words in ("`portal_prot`: unknown setting (did you mean `portal_port`?)",
                  "`send_retires`: unknown setting (did you mean `send_retries`?)",
                  "[mail] `hots`: unknown setting (did you mean `host`?)",
                  "[mail] `pasword`: unknown setting (did you mean `password`?)",
                  "`calender`: unknown setting (did you mean `calendar`?)"):
        assert words in text, text
    assert "hunter2" not in text
    for args, lang, words in ((("config",), "vi", "(có phải `portal_port`?)"),
                              (("config", "--check"), "en", "(did you mean `portal_port`?)")):
        out = _cli(*args, env={"PHOIHOP_DATA_DIR": str(tmp_path), "PHOIHOP_LANGUAGE": lang})
        assert out.returncode == 1 and words in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_unknown_environment_variables_are_refused(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("PHOIHOP_CONFIG", raising=False)
    monkeypatch.setenv("PHOIHOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PHOIHOP_LANGUAGE", "en")
    monkeypatch.setenv("PHOIHOP_HORIZON_DAYZ", "30")
    monkeypatch.setenv("PHOIHOP_MAIL__HOTS", "smtp.example")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "`PHOIHOP_HORIZON_DAYZ`: unknown setting (did you mean `PHOIHOP_HORIZON_DAYS`?)" \
        in str(info.value)
    assert "`PHOIHOP_MAIL__HOTS`: unknown setting (did you mean `PHOIHOP_MAIL__HOST`?)" \
        in str(info.value)
    monkeypatch.delenv("PHOIHOP_HORIZON_DAYZ")
    monkeypatch.delenv("PHOIHOP_MAIL__HOTS")
    monkeypatch.setenv("PHOIHOP_HORIZON_DAYS", "30")
    assert load_settings().horizon_days == 30


def test_a_ladder_typo_is_one_line_in_validate_plan_and_import(tmp_path: Path):
    """Issue 14.4: `stepz` in a configured ladder is a one-line error (exit 1), never a
    traceback, in every command that reads agreements."""
    (tmp_path / "phoihop.toml").write_text(
        '[ladders.ngan]\nsend_at = "07:30"\nstepz = []\n', encoding="utf-8")
    agreement = tmp_path / "cfg.yaml"
    agreement.write_text(AGREEMENT, encoding="utf-8")
    env = {"PHOIHOP_DATA_DIR": str(tmp_path), "PHOIHOP_LANGUAGE": "en"}
    for args in (("validate", str(agreement)), ("plan", str(agreement)),
                 ("import", str(agreement))):
        out = _cli(*args, env=env)
        assert out.returncode == 1, (args, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
        assert "ladder 'ngan': unknown key 'stepz' (did you mean 'steps'?)" in out.stderr


def test_channel_urls_apprise_cannot_use_are_refused_masked(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("PHOIHOP_CONFIG", raising=False)
    monkeypatch.setenv("PHOIHOP_DATA_DIR", str(tmp_path))
    (tmp_path / "phoihop.toml").write_text(
        '[channels]\nok = "tgram://123456789:AAbbCCddEEsecret/4242"\n'
        'bad = "foo://bar-secret-token"\nempty = "tgram://"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings()
    text = str(info.value)
    assert "'bad' = 'foo://b***n'" in text and "'empty' = 'tgram://'" in text
    assert "'ok'" not in text and "secret" not in text
    (tmp_path / "phoihop.toml").write_text(
        '[channels]\nok = "tgram://123456789:AAbbCCddEEsecret/4242"\n', encoding="utf-8")
    assert list(load_settings().channels) == ["ok"]


def test_the_data_dirs_toml_is_read_wherever_the_data_dir_comes_from(tmp_path: Path,
                                                                     monkeypatch):
    """Issue 19.5 / 14.4: `<data dir>/phoihop.toml` of PHOIHOP_DATA_DIR is read; the default
    data dir's is not when the data dir is elsewhere."""
    monkeypatch.delenv("PHOIHOP_CONFIG", raising=False)
    monkeypatch.delenv("PHOIHOP_LANGUAGE", raising=False)
    xdg = tmp_path / "xdg"
    (xdg / "phoihop").mkdir(parents=True)
    (xdg / "phoihop" / "phoihop.toml").write_text('language = "en"\nhorizon_days = 7\n',
                                                  encoding="utf-8")
    monkeypatch.setenv("XDG_DATA_HOME", str(xdg))
    monkeypatch.delenv("PHOIHOP_DATA_DIR", raising=False)
    assert load_settings().horizon_days == 7  # the default data dir's own file
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("PHOIHOP_DATA_DIR", str(elsewhere))
    s = load_settings()
    assert (s.horizon_days, s.language, s.data_dir) == (45, "vi", elsewhere)
    (elsewhere / "phoihop.toml").write_text("horizon_days = 9\n", encoding="utf-8")
    assert load_settings().horizon_days == 9


def test_config_shows_every_setting_with_its_source(tmp_path: Path):
    """Issue 19.5: every setting, nested ones by dotted name, with where it comes from;
    the mail line masks the password even when the user name is an e-mail address."""
    from config.settings import CalendarOverrides, MailTransport, Settings

    (tmp_path / "phoihop.toml").write_text(
        '[mail]\nhost = "smtp.host"\nport = 8135\nusername = "user@host"\n'
        'password = "hunter2-secret"\n', encoding="utf-8")
    out = _cli("config", env={"PHOIHOP_DATA_DIR": str(tmp_path), "PHOIHOP_LANGUAGE": "en",
                              "PHOIHOP_HORIZON_DAYS": "30"})
    assert out.returncode == 0, out.stderr
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:4]]
            for line in out.stdout.splitlines() if line.startswith("│")}
    names = {n for n, f in Settings.model_fields.items()
             if f.annotation not in (MailTransport, CalendarOverrides)}
    names |= {f"mail.{n}" for n in MailTransport.model_fields}
    names |= {f"calendar.{n}" for n in CalendarOverrides.model_fields}
    assert names <= set(rows), sorted(names - set(rows))
    assert rows["horizon_days"] == ["30", "environment"]
    assert rows["mail.host"] == ["smtp.host", "TOML"]
    assert rows["send_retries"] == ["5", "default"]
    assert rows["mail"] == ["smtp://user%40host:***@smtp.host:8135", "TOML"]
    assert rows["mail.password"] == ["***", "TOML"]
    assert "hunter2" not in out.stdout
    check = _cli("config", "--check", env={"PHOIHOP_DATA_DIR": str(tmp_path)})
    assert check.returncode == 0 and len(check.stdout.strip().splitlines()) == 1


def test_processes_started_from_the_cli_read_the_same_toml(tmp_path: Path):
    """A TOML found through the data dir is named in PHOIHOP_CONFIG for the processes the
    CLI starts (`up`'s and the demo's workers get PHOIHOP_DATA_DIR=<data dir>/demo for the
    demo, where no TOML is)."""
    (tmp_path / "phoihop.toml").write_text("horizon_days = 9\n", encoding="utf-8")
    child = "from config.settings import load_settings; print(load_settings().horizon_days)"
    code = ("import os, subprocess, sys\n"
            "from cli.common import app_context\n"
            "app_context()\n"
            "os.environ['PHOIHOP_DATA_DIR'] += '/demo'\n"
            f"print(subprocess.run([sys.executable, '-c', {child!r}], capture_output=True,"
            " text=True).stdout)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**_clean_env(), "PHOIHOP_DATA_DIR": str(tmp_path)}, timeout=60)
    assert out.stdout.strip() == "9", out.stderr


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items()
            if not k.startswith(("PHOIHOP_", "PREFECT_")) or k.startswith("PHOIHOP_TEST_")}
