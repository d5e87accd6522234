"""A party's calendar feed with 500 obligations (issue #18 point 4: served in < 200 ms).

The Quảng Trị example with twelve more monthly commitments led by Sở GD&ĐT, imported as
registered at the period's start (every obligation open: none `unrecorded`), so the
party owes 500 obligations or more over 2021–2025; its focal contact holds a reply link
for each, 100 of them have an extension reply (granted: due date moved, replies counted
into SEQUENCE). The feed is fetched through the portal app in-process (the ASGI stack
with its middleware, `TestClient`), on SQLite and then on PostgreSQL when it answers:
one warm-up, then 30 GETs, each timed; the table prints the median, the 95th
percentile (under 200 ms to pass) and the slowest.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlmodel import col, select

from benchmarks.core import Row, pg_schema, row
from config.bootstrap import bootstrap
from config.settings import Settings
from models.links import feed_nonces, issue_feeds, issue_many, token_for
from models.migrate import upgrade
from models.tables import Contact, Obligation, Party
from portal.app import create_app
from services.imports import import_agreement
from services.replies import record_reply

ROOT = Path(__file__).resolve().parent.parent
QT = ROOT / "config" / "examples" / "quang-tri-2021-2025.yaml"
PARTY = "so-gddt"
RUNS = 30
TARGET_MS = 200.0


def agreement_text() -> str:
    """QT with twelve monthly commitments of Sở GD&ĐT."""
    extra = "".join(
        f"  - id: bench-{i}\n    title: Báo cáo tháng số {i} của ngành giáo dục\n"
        f"    lead: {PARTY}\n    reports:\n      - {{every: month, due: \"+10d\"}}\n"
        for i in range(12))
    return QT.read_text(encoding="utf-8").replace("commitments:\n", "commitments:\n" + extra, 1)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def measure(url: str, data_dir: Path) -> tuple[int, list[float], int]:
    """(obligations in the feed, each GET's seconds, bytes of the feed)."""
    clock = Clock(datetime(2020, 12, 31, 17, 0, tzinfo=UTC))
    app = bootstrap(Settings(database_url=url, data_dir=data_dir,
                             portal_rate_per_address=1_000_000), clock=clock)
    try:
        upgrade(app.engine)
        import_agreement(app, agreement_text().encode(), "bench-calendar.yaml",
                         registered_at=clock.at)
        clock.at = datetime(2023, 6, 1, 2, 0, tzinfo=UTC)
        with app.session(write=True) as s:
            focal = s.exec(select(Contact).join(Party, col(Party.id) == Contact.party_id).where(
                Party.key == PARTY, Contact.role == "focal")).one()
            rows = s.exec(select(Obligation).where(Obligation.party == PARTY)).all()
            assert focal.id is not None
            issue_many(s, app.secret_key, purpose="reply", now=clock.at, wanted={
                (o.id, focal.id): o.deadline + timedelta(days=60) for o in rows if o.id})
            agreement_id = rows[0].agreement_id
            (lid,) = issue_feeds(s, app.secret_key, now=clock.at, wanted={
                (agreement_id, focal.party_id, focal.id): clock.at + timedelta(days=3000)}).values()
            nonce = feed_nonces(s, [lid])[lid]
            later = sorted((o for o in rows if o.deadline > clock.at), key=lambda o: o.key)
            for o in later[:100]:
                record_reply(s, app, obligation_key=o.key, status="extension", at=clock.at,
                             until=o.due + timedelta(days=7), source="cli")
        token = token_for(app.secret_key, nonce)
        client = TestClient(create_app(app))
        first = client.get(f"/c/{token}")
        assert first.status_code == 200, first.text
        events = len(Calendar.from_ical(first.content).walk("VEVENT"))
        times = []
        for _ in range(RUNS):
            started = time.perf_counter()
            r = client.get(f"/c/{token}")
            times.append(time.perf_counter() - started)
            assert r.status_code == 200
        return events, times, len(first.content)
    finally:
        if not getattr(measure, "keep", False):
            app.engine.dispose()


def figure(label: str, events: int, times: list[float], size: int) -> Row:
    """Passes when 95 % of the GETs took under the target (the slowest is printed too:
    on a shared 2-core machine one GET may wait behind another process)."""
    ms = sorted(t * 1000 for t in times)
    median, p95 = statistics.median(ms), ms[math.ceil(0.95 * len(ms)) - 1]
    return row(f"calendar feed, one party ({label}, {events} obligations, {size // 1024} KiB)",
               f"median {median:.0f} ms, p95 {p95:.0f} ms, slowest {ms[-1]:.0f} ms "
               f"({RUNS} GETs)", f"< {TARGET_MS:.0f} ms", p95 < TARGET_MS and events >= 500)


def run() -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(figure("SQLite", *measure(f"sqlite:///{Path(tmp) / 'cal.db'}",
                                              Path(tmp) / "data")))
    try:
        with pg_schema("cal") as url, tempfile.TemporaryDirectory() as tmp:
            rows.append(figure("PostgreSQL", *measure(url, Path(tmp) / "data")))
    except Exception as exc:  # no server: said in the table, not hidden
        rows.append(row("calendar feed, one party (PostgreSQL)", f"not run: {exc}"[:80], "",
                        None))
    return rows
