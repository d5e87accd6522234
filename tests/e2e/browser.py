"""Debian's Chromium for the browser tests (Playwright drives it; no browser download)."""

from __future__ import annotations

import shutil
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest

from config.bootstrap import App, bootstrap
from config.settings import Settings
from core.calendar import LOCAL_ZONE, local_instant
from models.migrate import upgrade
from services.imports import import_agreement
from tests.conftest import QT
from tests.smtp_sink import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OUT = Path(__file__).resolve().parents[2] / "test-output"  # screenshots
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make test installs it as root)")


def quang_tri_portal(tmp_path: Any) -> tuple[App, list[datetime], int]:
    """What the portal's browser tests serve: the Quảng Trị example imported on 18/05/2022
    into a fresh database, the App's clock then at 01/12/2022 09:00 (`now[0]` moves it),
    and the free port its portal will listen on (`portal_url`)."""
    need_chromium()
    now = [local_instant(date(2022, 5, 18), time(0, 0), LOCAL_ZONE)]
    port = free_port()
    app = bootstrap(Settings(data_dir=tmp_path, portal_url=f"http://127.0.0.1:{port}"),
                    clock=lambda: now[0])
    upgrade(app.engine)
    import_agreement(app, QT.read_bytes(), str(QT))
    now[0] = local_instant(date(2022, 12, 1), time(9, 0), LOCAL_ZONE)
    return app, now, port
