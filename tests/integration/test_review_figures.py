"""The stored dossier shows the same figures as `phoihop dossier` on the file."""

from __future__ import annotations

from datetime import time

from core.calendar import local_instant, parse_instant
from core.dossier import figures
from core.expand import expand
from core.parse import load_agreement
from core.replies import load_replies
from reviews.load import build
from services.imports import import_agreement
from services.replies import record_reply
from tests.conftest import QT, QT_REPLIES

TZ = "Asia/Ho_Chi_Minh"


def test_database_figures_equal_file_figures(app, clock):
    agreement, _ = load_agreement(QT.read_bytes(), str(QT))
    clock.at = local_instant(agreement.signed_on, time(0, 0), TZ)
    import_agreement(app, QT.read_bytes(), str(QT))
    plan = expand(agreement, app.calendar)
    replies, _ = load_replies(QT_REPLIES.read_bytes(), "r", TZ, {o.id for o in plan.obligations})
    with app.session(write=True) as s:
        for r in sorted(replies, key=lambda r: r.at):
            record_reply(s, app, obligation_key=r.obligation, status=r.status, at=r.at,
                         until=r.until, values=dict(r.values), source="test")
    for cycle, at in ((1, "2022-12-20T08:00:00+07:00"), (1, "2023-01-31T08:00:00+07:00"),
                      (2, "2024-12-20T08:00:00+07:00")):
        when = parse_instant(at, TZ)
        with app.session() as s:
            stored = build(s, app, "QT-KHKT-2021-2025", cycle, when)[1]["figures"]
        assert stored == figures(plan, cycle, when, replies, app.calendar)
    assert stored["cycle"] == 2 and stored["host"] == "tinh-doan"
