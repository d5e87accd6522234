"""The ladder against the database fires exactly what the pure simulation fires."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import func, select

from config.bootstrap import bootstrap
from core.calendar import local_instant
from core.expand import expand
from core.ladder import simulate
from core.parse import load_agreement
from core.replies import load_replies
from models.tables import Contact, FiredStep, Obligation, Party
from services.imports import import_agreement
from services.ladder import tick
from services.replies import record_reply
from tests.conftest import QT, QT_REPLIES

TZ = "Asia/Ho_Chi_Minh"


def _labels(app, items):
    with app.session() as s:
        roles = {c.id: (p, c.role) for p, c in s.exec(
            select(Party.key, Contact).join(Contact, Contact.party_id == Party.id))}
    return {(i.obligation_key, i.step, tuple(i.skipped),
             tuple(sorted({"{}.{}".format(*roles[r.contact_id]) for r in i.recipients})))
            for i in items}


def test_daily_ticks_match_simulate(app, clock):
    agreement, _ = load_agreement(QT.read_bytes(), str(QT), app.parse_options)
    assert agreement is not None
    registered = local_instant(agreement.signed_on, time(0, 0), TZ)
    clock.at = registered
    import_agreement(app, QT.read_bytes(), str(QT))
    plan = expand(agreement, app.calendar)
    replies, problems = load_replies(QT_REPLIES.read_bytes(), str(QT_REPLIES), TZ,
                                     {o.id for o in plan.obligations})
    assert not problems
    until = date(2022, 12, 31)
    expected = simulate(plan, app.calendar, until, registered, replies)

    pending = sorted(replies, key=lambda r: r.at)
    fired = []
    day = agreement.signed_on
    while day <= until:
        now = local_instant(day, time(8, 0), TZ)
        with app.session(write=True) as s:
            while pending and pending[0].at <= now:
                r = pending.pop(0)
                record_reply(s, app, obligation_key=r.obligation, status=r.status, at=r.at,
                             until=r.until, values=dict(r.values), source="cli")
            fired.extend(tick(s, app, now))
        day += timedelta(days=1)

    want = {(e.obligation, e.step, e.skipped, e.to) for e in expected.events}
    assert len(fired) == len(expected.events) > 150
    assert _labels(app, fired) == want


def test_overlapping_ticks_record_each_step_once(app, clock, db_url, tmp_path):
    clock.at = datetime(2022, 5, 17, 17, tzinfo=UTC)
    import_agreement(app, QT.read_bytes(), str(QT))
    now = local_instant(date(2022, 6, 15), time(8, 0), TZ)
    results: list[list] = [[], []]
    barrier = threading.Barrier(2)

    def run(k: int) -> None:
        other = bootstrap(app.settings, clock=lambda: now)
        barrier.wait()
        with other.session(write=True) as s:
            results[k] = tick(s, other, now)
        other.engine.dispose()

    threads = [threading.Thread(target=run, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [i.obligation_key for r in results for i in r]
    assert len(won) == len(set(won)) == 10  # the ten 2022-H1 requests, once each
    with app.session() as s:
        assert s.exec(select(func.count()).select_from(FiredStep)).one() == 10


def test_upcoming_fire_times_from_stored_timing_match_the_plan(app, clock):
    """Sync's planning reads the ladder timing stored at import; the result is what the
    parsed agreement's ladder gives for every open obligation's unused steps."""
    from core.ladder import fire_times
    from models.ladder_state import upcoming_fire_times
    from models.tables import Agreement

    import_agreement(app, QT.read_bytes(), str(QT))
    agreement, _ = load_agreement(QT.read_bytes(), str(QT))
    plan = expand(agreement, app.calendar)
    now = local_instant(date(2022, 11, 1), time(7, 0), TZ)
    with app.session(write=True) as s:
        tick(s, app, now)  # some steps used: they are not upcoming any more
    with app.session() as s:
        got = upcoming_fire_times(s, app.parse_options, now, 45)
        used = {(o, st) for o, st in s.exec(select(FiredStep.obligation_id, FiredStep.step))}
        ids = dict(s.exec(select(Obligation.key, Obligation.id)).all())
    hi = local_instant(date(2022, 12, 17), time(0, 0), TZ)
    expected: dict[datetime, set[str]] = {}
    for o in plan.obligations:
        for i, t in enumerate(fire_times(agreement.ladder, o.due, app.calendar, TZ)):
            if now <= t < hi and (ids[o.id], i) not in used:
                expected.setdefault(t, set()).add(o.party)
    assert got == {agreement.code: dict(sorted(expected.items()))}
    assert got[agreement.code]  # something to do in those 45 days
    # an agreement imported before timings were stored: the stored file is parsed instead
    with app.session(write=True) as s:
        row = s.exec(select(Agreement)).one()
        row.timing = None
        s.add(row)
    with app.session() as s:
        assert upcoming_fire_times(s, app.parse_options, now, 45) == got
