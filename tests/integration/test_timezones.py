"""Time (issue #6, item 13): the host's zone changes nothing, naive instants never reach the
database, and a clock that jumps forward then back fires nothing twice.

The same year of the Quảng Trị agreement (tests/tz_scenario.py: replies through the
portal, review steps, daily sweeps, messages rendered and handed over) runs in
subprocesses whose `TZ` differs; their canonical dumps must be identical, and so must
`phoihop plan/simulate` output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from config.bootstrap import App
from core.calendar import local_instant
from core.ladder import decide, fire_times
from core.parse import load_agreement
from models.tables import FiredStep, NaiveDatetimeError, Obligation, OutboxMessage
from services.imports import import_agreement
from services.ladder import fire_steps, tick
from services.replies import record_reply
from tests.conftest import PG_URL, QT, QT_REPLIES, ROOT, FixedClock

ZONES = ("UTC", "America/New_York", "Pacific/Kiritimati")  # +00, -05/-04, +14
TZ = "Asia/Ho_Chi_Minh"


def _env(zone: str, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PHOIHOP_") and k not in ("TZ", "PGTZ")}
    env.update(TZ=zone, PHOIHOP_DATA_DIR=str(tmp / "data"), COLUMNS="200",
               PYTHONPATH=str(ROOT))
    return env


@contextmanager
def _databases(db_url: str, tmp: Path, n: int) -> Iterator[list[str]]:
    """`n` fresh databases of the backend `db_url` names (PostgreSQL: schemas)."""
    if db_url.startswith("sqlite"):
        yield [f"sqlite:///{tmp / f'tz{i}.db'}" for i in range(n)]
        return
    schemas = [f"t_{uuid.uuid4().hex[:12]}" for _ in range(n)]
    admin = sa.create_engine(PG_URL)
    with admin.begin() as c:
        for schema in schemas:
            c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield [f"{PG_URL}?options=-csearch_path%3D{schema}" for schema in schemas]
    finally:
        with admin.begin() as c:
            for schema in schemas:
                c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.slow
def test_a_year_under_three_host_zones_gives_one_dump(db_url: str, tmp_path: Path):
    with _databases(db_url, tmp_path, len(ZONES)) as urls:
        runs = []
        for zone, url in zip(ZONES, urls, strict=True):
            work = tmp_path / zone.replace("/", "_")
            work.mkdir()
            runs.append((zone, work, subprocess.Popen(
                [sys.executable, "-m", "tests.tz_scenario", url, str(work / "data"),
                 str(work / "out.json")], cwd=ROOT, env=_env(zone, work),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
        results: dict[str, Any] = {}
        for zone, work, proc in runs:
            _out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, err[-3000:]
            results[zone] = json.loads((work / "out.json").read_text(encoding="utf-8"))
    offsets = {zone: r["host"]["offset"] for zone, r in results.items()}
    assert offsets["UTC"] == 0 and offsets["America/New_York"] in (-18000, -14400)
    assert offsets["Pacific/Kiritimati"] == 14 * 3600  # the zones did take effect
    first = results[ZONES[0]]["dump"]
    assert len(first["fired"]) > 200 and len(first["sent"]) > 200
    assert first["dossiers"] and first["replies"]
    assert {m["kind"] for m in first["outbox"]} >= {"request", "remind", "escalate",
                                                    "submission", "receipt", "host_notice"}
    for zone in ZONES[1:]:
        dump = results[zone]["dump"]
        for part in first:
            assert dump[part] == first[part], (zone, part)
    print(f"\n{db_url.split(':')[0]}: {len(first['fired'])} steps, "
          f"{len(first['outbox'])} outbox rows, {len(first['sent'])} messages, "
          f"{len(first['dossiers'])} dossiers identical under {', '.join(ZONES)}")


CLI_RUNS = (
    ["plan", str(QT), "--json"],
    ["plan", str(QT)],
    ["simulate", str(QT), "--until", "2023-05-17", "--replies", str(QT_REPLIES), "--json"],
    ["simulate", str(QT), "--until", "2022-12-31", "--registered-at", "2022-06-15T07:59"],
)


@pytest.mark.slow
def test_plan_and_simulate_print_the_same_under_any_host_zone(tmp_path: Path):
    outputs: dict[str, list[str]] = {zone: [] for zone in ZONES}
    for args in CLI_RUNS:
        runs = {zone: subprocess.Popen([sys.executable, "-m", "cli.main", *args], cwd=ROOT,
                                       env=_env(zone, tmp_path), stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
                for zone in ZONES}
        for zone, proc in runs.items():
            out, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err
            outputs[zone].append(out)
    for zone in ZONES[1:]:
        for args, got, want in zip(CLI_RUNS, outputs[zone], outputs[ZONES[0]], strict=True):
            assert got == want, (zone, args)
    sim = json.loads(outputs["UTC"][2])
    assert len(sim["events"]) > 150
    assert all(e["at"].endswith("+07:00") for e in sim["events"])
    # a naive --registered-at is read in the agreement's zone, not the host's: registered
    # 15/06 07:59 Vietnam time, the requests timed 15/06 08:00 go out then, not a day late
    table = outputs["UTC"][3]
    assert "2022-06-15 08:00" in table and "2022-06-16 08:00" not in table


def _naive_raised(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, NaiveDatetimeError):
            return True
        seen = seen.__cause__ or getattr(seen, "orig", None)
    return False


def test_naive_instants_are_refused_on_every_write_path(app: App, clock: FixedClock):
    """Extends tests/integration/test_smoke_db.py (the ORM path): the set-wise tick, the
    sweep's enqueue and a recorded reply refuse a naive instant instead of guessing."""
    import_agreement(app, QT.read_bytes(), str(QT))
    naive = datetime(2022, 7, 1, 8, 0)
    with pytest.raises(Exception) as info, app.session(write=True) as s:
        tick(s, app, naive)
    assert _naive_raised(info.value), info.value
    with pytest.raises(Exception) as info:
        fire_steps(app, naive)
    assert _naive_raised(info.value), info.value
    with pytest.raises(Exception) as info, app.session(write=True) as s:
        record_reply(s, app, obligation_key="QT-KHKT-2021-2025/kiem-tra-bao-cao/so-gddt/2022-H1",
                     status="done", at=naive, source="cli")
    assert _naive_raised(info.value), info.value
    with app.session() as s:  # and nothing of it was written
        assert s.exec(select(sa.func.count()).select_from(FiredStep)).one() == 0
        assert s.exec(select(Obligation.status).where(
            Obligation.key == "QT-KHKT-2021-2025/kiem-tra-bao-cao/so-gddt/2022-H1")).one() \
            == "open"


def test_clock_jumped_forward_a_month_then_back_a_day(app: App, clock: FixedClock):
    """The catch-up rule at the jump (per obligation, the latest due step fires and the
    earlier unused ones are skipped), nothing at the step back, and nothing twice after."""
    agreement, _ = load_agreement(QT.read_bytes(), str(QT), app.parse_options)
    assert agreement is not None
    clock.at = local_instant(agreement.signed_on, time(0, 0), TZ)
    import_agreement(app, QT.read_bytes(), str(QT))
    eight = time(8, 0)
    fired: list[tuple[str, int]] = []
    day = agreement.signed_on
    while day <= date(2022, 6, 20):  # the first requests (15/06) go out on the way
        clock.at = local_instant(day, eight, TZ)
        fired += [(i.obligation_key, i.step) for i in fire_steps(app, clock())]
        day += timedelta(days=1)
    assert fired
    with app.session() as s:
        before = {(k, st) for k, st in s.execute(sa.select(Obligation.key, FiredStep.step)  # type: ignore[call-overload]
                                                 .join(FiredStep, col(FiredStep.obligation_id)
                                                       == Obligation.id))}
        rows = list(s.exec(select(Obligation).where(Obligation.status == "open")))

    jump = local_instant(date(2022, 7, 20), eight, TZ)  # a month on
    expected = {}
    for o in rows:
        decision = decide(fire_times(agreement.ladder, o.due, app.calendar, TZ),
                          {st for k, st in before if k == o.key}, jump)
        if decision is not None:
            expected[o.key] = (decision.step, decision.skipped)
    clock.at = jump
    items = fire_steps(app, clock())
    assert {i.obligation_key: (i.step, tuple(i.skipped)) for i in items} == expected
    assert any(skipped for _step, skipped in expected.values())  # catch-up skipped steps
    fired += [(i.obligation_key, i.step) for i in items]
    with app.session() as s:
        at_jump = list(s.exec(select(FiredStep).where(FiredStep.recorded_at == jump)))
        outbox = s.exec(select(sa.func.count()).select_from(OutboxMessage)).one()
    per = Counter(f.obligation_id for f in at_jump if f.outcome == "fired")
    assert set(per.values()) == {1}
    for f in at_jump:  # the one fired is the latest due; every skipped one was due earlier
        if f.outcome == "skipped":
            (chosen,) = [g for g in at_jump
                         if g.obligation_id == f.obligation_id and g.outcome == "fired"]
            assert f.due_at <= chosen.due_at <= jump and f.step < chosen.step

    clock.at = jump - timedelta(days=1)  # set back a day
    assert fire_steps(app, clock()) == []
    with app.session() as s:
        assert s.exec(select(sa.func.count()).select_from(OutboxMessage)).one() == outbox

    day = clock.at.astimezone(UTC).date()
    for _ in range(60):  # and on, day by day, through the jump's instant again
        clock.at = local_instant(day, eight, TZ)
        fired += [(i.obligation_key, i.step) for i in fire_steps(app, clock())]
        day += timedelta(days=1)
    assert len(fired) == len(set(fired))  # nothing fired twice
    with app.session() as s:
        steps = list(s.exec(select(FiredStep).order_by(col(FiredStep.recorded_at),
                                                       col(FiredStep.step))))
        keys = list(s.exec(select(OutboxMessage.key)))
    assert len(keys) == len(set(keys))
    assert all(f.due_at <= f.recorded_at for f in steps)  # never before its time
    rungs: dict[int, list[int]] = {}
    for f in steps:
        rungs.setdefault(f.obligation_id, []).append(f.step)
    assert all(r == sorted(r) and len(r) == len(set(r)) for r in rungs.values())
