"""A simulated year on PostgreSQL (issue: proof under faults, load and attack, item 15).

The national synthetic set is registered on 01/01/2026 in a fresh PostgreSQL schema, then
ticked once a day at 08:00 through 2026 (365 sweeps: due steps fired and their messages
recorded in the outbox, exactly what the sweep flow does before delivery), with a stream
of partners' replies recorded between ticks (about 60 % of the obligations due in the
year: most on time, some late, a few in progress). Figures: the wall time (target
≤ 20 min), the process's resident memory over the first and the last 30 days (target:
≤ 10 % growth), and whether the database's final state equals what the pure core's
`simulate` gives for every agreement with the same replies.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.core import pg_schema, row
from benchmarks.synthetic import generate
from config.bootstrap import App, bootstrap
from config.settings import Settings
from core.calendar import local_instant
from core.expand import expand
from core.ladder import simulate
from core.parse import load_agreement
from core.replies import Reply
from models.migrate import upgrade
from models.tables import FiredStep, Obligation
from services import ladder as ladder_work
from services.imports import import_many
from services.replies import record_reply

Row = dict[str, Any]
TZ = "Asia/Ho_Chi_Minh"
YEAR = 2026


def rss_mib() -> float:
    """The process's resident memory now (not the peak)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import resource

    return pages * resource.getpagesize() / 2**20


def reply_stream(app: App, seed: int = 20261123) -> list[Reply]:
    """Replies to ~60 % of the obligations due in the year, ordered by time."""
    rng = random.Random(seed)
    out: list[Reply] = []
    with app.session() as s:
        for key, due in s.execute(sa.select(Obligation.key, Obligation.due).where(  # type: ignore[call-overload]
                Obligation.due >= date(YEAR, 1, 1), Obligation.due <= date(YEAR, 12, 20))
                .order_by(Obligation.id)):
            x = rng.random()
            if x >= 0.6:
                continue
            if x < 0.4:  # on time
                when, status = due - timedelta(days=rng.randint(0, 20)), "done"
            elif x < 0.5:  # late
                when, status = due + timedelta(days=rng.randint(1, 15)), "done"
            else:
                when, status = due - timedelta(days=rng.randint(1, 25)), "in_progress"
            at = local_instant(when, clock_time(rng.randint(7, 17), rng.randint(0, 59)), TZ)
            out.append(Reply(key, at, status))
    return sorted(out, key=lambda r: (r.at, r.obligation))


def run(count: int = 3500) -> list[Row]:
    with pg_schema("soak") as url:
        return _run(url, count)


def _run(url: str, count: int) -> list[Row]:
    registered = local_instant(date(YEAR, 1, 1), clock_time(0, 0), TZ)
    app = bootstrap(Settings(database_url=url, data_dir=Path("/tmp/phoihop-soak")),
                    clock=lambda: registered)
    upgrade(app.engine)
    files = list(generate(count))
    import_many(app, files)
    replies = reply_stream(app)
    started = time.perf_counter()
    memory: dict[int, float] = {}
    cursor, fired = 0, 0
    day = date(YEAR, 1, 1)
    for n in range(365):
        now = local_instant(day, clock_time(8, 0), TZ)
        with app.session(write=True) as s:
            while cursor < len(replies) and replies[cursor].at <= now:
                r = replies[cursor]
                record_reply(s, app, obligation_key=r.obligation, status=r.status, at=r.at,
                             percent=50 if r.status == "in_progress" else None, source="cli")
                cursor += 1
        fired += len(ladder_work.fire_steps(app, now, None, "soak"))
        memory[n] = rss_mib()
        day += timedelta(days=1)
    elapsed = time.perf_counter() - started
    first = max(memory[n] for n in range(30))
    last = max(memory[n] for n in range(335, 365))
    growth = (last - first) / first
    mismatches = compare(app, files, registered, replies)
    app.engine.dispose()
    return [
        row(f"soak: {count:,} agreements, 365 daily sweeps on PostgreSQL",
            f"{elapsed / 60:.1f} min, {fired:,} steps fired, {cursor:,} replies",
            "≤ 20 min", elapsed <= 1200),
        row("soak: resident memory, first vs last 30 days",
            f"{first:.0f} → {last:.0f} MiB ({growth:+.1%})", "≤ +10 %", growth <= 0.10),
        row("soak: final state vs the core's simulate, every agreement",
            f"{mismatches} agreements differ", "0", mismatches == 0),
    ]


def compare(app: App, files: list[tuple[str, bytes]], registered: datetime,
            replies: list[Reply]) -> int:
    """Agreements whose recorded steps (fired and skipped) differ from `simulate`'s."""
    by_agreement: dict[str, list[Reply]] = defaultdict(list)
    for r in replies:
        by_agreement[r.obligation.split("/", 1)[0]].append(r)
    stored: dict[str, set[tuple[str, int, str]]] = defaultdict(set)
    with app.session() as s:
        for key, step, outcome in s.execute(sa.select(  # type: ignore[call-overload]
                Obligation.key, FiredStep.step, FiredStep.outcome)
                .join(FiredStep, FiredStep.obligation_id == Obligation.id)):
            stored[key.split("/", 1)[0]].add((key, step, outcome))
    until = date(YEAR, 12, 31)
    mismatches = 0
    for name, raw in files:
        agreement, _ = load_agreement(raw, name, app.parse_options)
        assert agreement is not None
        plan = expand(agreement, app.calendar)
        sim = simulate(plan, app.calendar, until, registered, by_agreement[agreement.code])
        want = {(e.obligation, e.step, "fired") for e in sim.events} | {
            (e.obligation, k, "skipped") for e in sim.events for k in e.skipped}
        mismatches += want != stored[agreement.code]
    return mismatches
