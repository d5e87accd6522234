"""`phoihop review` through the real entry point: the figures of `phoihop dossier` on the
file, the DOCX/HTML/PNG files, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import time
from pathlib import Path

from docx import Document

from config.bootstrap import App, bootstrap
from config.settings import Settings
from core.calendar import local_instant
from core.expand import expand
from core.parse import load_agreement
from core.replies import load_replies
from models.migrate import upgrade
from services.imports import import_agreement
from tests.conftest import QT, QT_REPLIES, FixedClock
from tests.integration.test_review_dossier import CAL, record

AT = "2023-01-31T08:00:00+07:00"


def _run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PHOIHOP_DATA_DIR": str(data), "PHOIHOP_LANGUAGE": "vi",
           "COLUMNS": "160"}
    env.pop("PHOIHOP_DATABASE_URL", None)
    env.pop("PHOIHOP_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def _stored_with_replies(data: Path) -> App:
    """The Quảng Trị example stored in `data` on its signing day, its replies recorded."""
    agreement, _ = load_agreement(QT.read_bytes(), str(QT))
    clock = FixedClock(local_instant(agreement.signed_on, time(0, 0), agreement.timezone))
    app = bootstrap(Settings(data_dir=data), clock=clock)
    upgrade(app.engine)
    import_agreement(app, QT.read_bytes(), str(QT))
    plan = expand(agreement, CAL)
    replies, _ = load_replies(QT_REPLIES.read_bytes(), "r", agreement.timezone,
                              {o.id for o in plan.obligations})
    record(app, replies)
    return app


def test_review_prints_the_dossier_figures_and_writes_the_files(tmp_path: Path):
    data = tmp_path / "data"
    app = _stored_with_replies(data)
    app.engine.dispose()

    stored = _run(data, "review", "QT-KHKT-2021-2025", "--cycle", "1", "--at", AT, "--json")
    from_file = _run(data, "dossier", str(QT), "--cycle", "1", "--at", AT, "--replies",
                     str(QT_REPLIES), "--json")
    assert stored.returncode == 0 and from_file.returncode == 0, stored.stderr
    assert json.loads(stored.stdout) == json.loads(from_file.stdout)
    assert not (data / "dossiers").exists()  # --json alone writes nothing

    out = tmp_path / "out"
    built = _run(data, "review", "QT-KHKT-2021-2025", "--cycle", "1", "--at", AT, "--out",
                 str(out))
    assert built.returncode == 0, built.stderr
    docx_path = out / "QT-KHKT-2021-2025_ky-1_chinh-thuc.docx"
    assert str(docx_path) in built.stdout and "Đến hạn 34" in built.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "QT-KHKT-2021-2025_ky-1_chinh-thuc.docx", "QT-KHKT-2021-2025_ky-1_chinh-thuc.html",
        "qua-cac-ky.png", "ty-le-dung-han.png"]
    doc = Document(str(docx_path))
    assert [p.text for p in doc.paragraphs if p.style.name == "Title"] == ["HỒ SƠ SƠ KẾT"]

    draft = _run(data, "review", "QT-KHKT-2021-2025", "--cycle", "2", "--at",
                 "2024-12-13T08:00:00+07:00", "--publish")
    assert draft.returncode == 0, draft.stderr
    assert "dossiers/QT-KHKT-2021-2025/cycle-2/QT-KHKT-2021-2025_ky-2_du-thao.docx" in \
        draft.stdout
    assert "http://127.0.0.1:8600/dossier/" in draft.stdout

    for args, message in (  # in the language of the setting (PHOIHOP_LANGUAGE=vi)
            (("NOPE", "--cycle", "1"),
             "Không có chương trình nào mã 'NOPE' trong cơ sở dữ liệu (xem: phoihop agreements)"),
            (("QT-KHKT-2021-2025", "--cycle", "7"),
             "Chương trình QT-KHKT-2021-2025 không có kỳ sơ kết 7 (các kỳ: 1, 2, 3)"),
            (("QT-KHKT-2021-2025", "--cycle", "1", "--at", "hôm qua"),
             "--at: 'hôm qua' không phải ngày giờ ISO")):
        bad = _run(data, "review", *args)
        assert (bad.returncode, bad.stderr.strip()) == (1, message)


def test_review_out_with_huge_values_stored_before_the_bound(tmp_path: Path):
    """Replies of 6e24 (accepted before values were bounded) made the review fail and
    `phoihop review --out` print a traceback (decimal.InvalidOperation summing them). Such
    rows still build their dossier."""
    import sqlalchemy as sa

    from models.tables import Reply

    data = tmp_path / "data"
    app = _stored_with_replies(data)
    with app.session(write=True) as s:
        table = Reply.__table__  # type: ignore[attr-defined]
        ids = [r for (r,) in s.execute(sa.select(table.c.id).where(
            table.c["values"].is_not(None)).order_by(table.c.id))]
        assert len(ids) >= 2
        for rid in ids:
            stored = s.execute(sa.select(table.c["values"]).where(table.c.id == rid)).scalar()
            s.execute(sa.update(table).where(table.c.id == rid).values(
                values={k: 6e24 for k in stored}))
    app.engine.dispose()
    built = _run(data, "review", "QT-KHKT-2021-2025", "--cycle", "1", "--at", AT, "--out",
                 str(tmp_path / "out"))
    assert built.returncode == 0, built.stderr
    assert "Traceback" not in built.stderr + built.stdout
    assert (tmp_path / "out" / "QT-KHKT-2021-2025_ky-1_chinh-thuc.docx").stat().st_size > 0
