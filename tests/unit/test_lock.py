"""The installed environment is the locked one: every package of requirements.lock that applies
to this platform is installed at exactly the locked version. A drifted venv (a hand-run
`pip install -U`, a stale CI image) fails here, before it can break Prefect's own services."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import canonicalize_name

LOCK = Path(__file__).resolve().parents[2] / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)"
                 r"\s*(?:;\s*([^\\]+?))?\s*\\?$")


def locked() -> dict[str, str]:
    """name → version for every lock line whose environment marker holds here."""
    pins: dict[str, str] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        m = PIN.match(line)
        if m is None:
            continue
        name, _extras, version, marker = m.groups()
        if marker and not Marker(marker).evaluate():
            continue
        pins[canonicalize_name(name)] = version
    return pins


def test_lock_has_the_stack_pinned() -> None:
    pins = locked()
    for name in ("prefect", "sqlalchemy", "fastapi", "apprise", "sqlmodel", "pendulum"):
        assert name in pins, f"{name} missing from requirements.lock"
    assert pins["sqlalchemy"].startswith("2.0."), "Prefect 3.8's scheduler needs SQLAlchemy < 2.1"
    assert pins["prefect"].startswith("3.8."), pins["prefect"]


def test_installed_versions_match_the_lock() -> None:
    drift = []
    for name, version in sorted(locked().items()):
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            drift.append(f"{name}: locked {version}, not installed")
            continue
        if installed != version:
            drift.append(f"{name}: locked {version}, installed {installed}")
    assert not drift, "the venv differs from requirements.lock (run `make clean test`):\n" + \
        "\n".join(drift)
