"""Files private to phoihop's account: the data dir 0700, databases, logs, dossiers 0600,
an existing install tightened at start; a password named in the configuration, not written
in the agreement file, never reaches the database."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.conftest import QT

PASSWORD = "S3cretPassw0rd"
CONTACT = "{name: Lý Minh Khoa, role: focal, email: khoa.lm@sotttt.quangtri.example}"


def _run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PHOIHOP_DATA_DIR": str(data), "PHOIHOP_LANGUAGE": "vi"}
    env.pop("PHOIHOP_DATABASE_URL", None)
    env.pop("PHOIHOP_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True,
                          text=True, env=env, timeout=120, preexec_fn=lambda: os.umask(0o022))


def _modes(root: Path) -> dict[str, int]:
    out = {".": stat.S_IMODE(root.stat().st_mode)}
    for p in root.rglob("*"):
        out[str(p.relative_to(root))] = stat.S_IMODE(p.lstat().st_mode)
    return out


def test_a_new_install_is_private(tmp_path: Path):
    data = tmp_path / "data"
    assert _run(data, "import", str(QT)).returncode == 0
    built = _run(data, "review", "QT-KHKT-2021-2025", "--cycle", "1", "--at",
                 "2023-01-31T08:00:00+07:00")
    assert built.returncode == 0, built.stderr
    modes = _modes(data)
    assert any(name.endswith(".docx") for name in modes), modes
    assert "phoihop.db" in modes
    wrong = {n: oct(m) for n, m in modes.items()
             if m != (0o700 if (data / n).is_dir() else 0o600)}
    assert wrong == {}


def test_an_existing_install_is_tightened_at_start(tmp_path: Path):
    data = tmp_path / "data"
    assert _run(data, "import", str(QT)).returncode == 0
    (data / "dossiers" / "old").mkdir(parents=True)
    (data / "dossiers" / "old" / "x.docx").write_bytes(b"x")
    (data / "portal.log").write_text("log\n")
    (data / "prefect").mkdir()
    (data / "prefect" / "prefect.db").write_bytes(b"")
    for p in [data, *data.rglob("*")]:  # as an install from before: world-readable
        p.chmod(0o755 if p.is_dir() else 0o644)
    assert _run(data, "agreements").returncode == 0
    modes = _modes(data)
    assert {n for n, m in modes.items() if m & 0o077} == set(), modes
    assert modes["."] == 0o700 and modes["portal.log"] == 0o600
    assert modes["prefect/prefect.db"] == 0o600 and modes["dossiers/old"] == 0o700


def test_a_password_in_an_agreement_channel_is_masked_and_kept_out_by_naming_it(tmp_path: Path):
    """The spec accepts secrets written inline and wants them masked wherever printed; the
    way to keep one out of the agreement file and the database is a channel named in the
    configuration."""
    data = tmp_path / "data"
    url = f"mailto://khoa:{PASSWORD}@mail.example"
    text = QT.read_text().replace(
        CONTACT, "{name: Lý Minh Khoa, role: focal, email: khoa.lm@sotttt.quangtri.example, "
                 f"channels: ['{url}']}}")
    assert text != QT.read_text()
    inline = tmp_path / "inline.yaml"
    inline.write_text(text)
    result = _run(data, "validate", str(inline))
    assert result.returncode == 0, result.stdout + result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    # the same channel named in the configuration is accepted: the secret stays there
    named = tmp_path / "named.yaml"
    named.write_text(text.replace(f"'{url}'", "'khoa-mail'"))
    data.mkdir(parents=True, exist_ok=True)
    toml = tmp_path / "phoihop.toml"
    toml.write_text(f'[channels]\nkhoa-mail = "{url}"\n')
    env = {**os.environ, "PHOIHOP_DATA_DIR": str(data), "PHOIHOP_CONFIG": str(toml)}
    env.pop("PHOIHOP_DATABASE_URL", None)
    ok = subprocess.run([sys.executable, "-m", "cli.main", "import", str(named)],
                        capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert PASSWORD.encode() not in (data / "phoihop.db").read_bytes()
    wal = data / "phoihop.db-wal"
    assert not wal.exists() or PASSWORD.encode() not in wal.read_bytes()
