"""Replies arriving while the sweep runs, and sweeps overlapping (issue #6, item 4).

Real databases (a SQLite file, the PostgreSQL server). Every worker has its own App,
engine and sessions. A monotonic counter shared by the threads records where each
transaction began (before its first statement) and where it had committed, so the test
knows, for each reply, whether it committed before the sweep's transaction began.

Each round picks a tick instant (sometimes days after the next fire time, so catch-up
skips steps), then releases together the sweep (`services.ladder.fire_steps`: tick and
enqueue in one transaction) and three reply workers recording done, in_progress and
extension replies for obligations due at that instant, half through the portal's own
path (`load_view` + `submit` in one write transaction, as `portal/routes/reply.py` does it) and
half as the CLI records them. Jitter and assignment come from one seeded `random.Random`
(PHOIHOP_CONCURRENCY_SEED, PHOIHOP_CONCURRENCY_ROUNDS to vary them; the two agreements
run out of due instants after some 150 rounds).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, func, select

from config.bootstrap import App, bootstrap
from config.settings import Settings
from core.agreement import Agreement as CoreAgreement
from core.calendar import local_instant
from core.ladder import extended_due, fire_times, next_fire
from core.parse import load_agreement
from models.links import issue_many, token_for
from models.migrate import upgrade
from models.tables import (
    Agreement,
    Contact,
    FiredStep,
    Link,
    Obligation,
    OutboxMessage,
    Party,
    Reply,
)
from services.imports import import_agreement
from services.ladder import fire_steps
from services.partner import load_view, submit
from services.replies import decide_reply, record_reply
from tests.conftest import QT, TH, FixedClock

SEED = int(os.environ.get("PHOIHOP_CONCURRENCY_SEED", "6004"))
ROUNDS = int(os.environ.get("PHOIHOP_CONCURRENCY_ROUNDS", "120"))
SWEEP_ROUNDS = int(os.environ.get("PHOIHOP_CONCURRENCY_SWEEP_ROUNDS", "40"))
REPLY_WORKERS = 3
REGISTERED = datetime(2022, 5, 17, 17, tzinfo=UTC)  # 18/05/2022 00:00 in Vietnam
TZ = "Asia/Ho_Chi_Minh"


class Order:
    """A monotonic counter: the place of each event in real time, across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._n = 0

    def next(self) -> int:
        with self._lock:
            self._n += 1
            return self._n


@dataclass
class Op:
    obligation_id: int
    key: str
    status: str  # done | in_progress | extension
    via: str  # portal | cli
    delay: float
    until: date | None = None
    percent: int | None = None
    began: int = 0
    committed: int = 0
    reply_id: int | None = None


@dataclass
class World:
    agreements: dict[int, CoreAgreement]  # agreement row id → parsed agreement
    tokens: dict[int, str]  # obligation id → a live reply link's token (a focal contact)


def _import(app: App, clock: FixedClock) -> World:
    clock.at = REGISTERED
    for path in (QT, TH):
        import_agreement(app, path.read_bytes(), str(path))
    with app.session(write=True) as s:
        agreements: dict[int, CoreAgreement] = {}
        for row in s.exec(select(Agreement)):
            parsed, problems = load_agreement(row.source.encode(), row.code, app.parse_options)
            assert parsed is not None and problems == []
            assert row.id is not None
            agreements[row.id] = parsed
        focal: dict[tuple[int, str], int] = {}
        for agreement_id, party, cid in s.execute(
                sa.select(Party.agreement_id, Party.key, Contact.id)  # type: ignore[call-overload]
                .join(Contact, col(Contact.party_id) == Party.id)
                .where(Contact.role == "focal").order_by(col(Contact.id))):
            focal.setdefault((agreement_id, party), cid)
        wanted = {(o.id or 0, focal[(o.agreement_id, o.party)]): datetime(2032, 1, 1, tzinfo=UTC)
                  for o in s.exec(select(Obligation).where(Obligation.status == "open"))}
        ids = issue_many(s, app.secret_key, purpose="reply", now=REGISTERED, wanted=wanted)
        nonces: dict[int, str] = dict(s.execute(
            sa.select(Link.id, Link.nonce)).all())  # type: ignore[call-overload]
    tokens = {oid: token_for(app.secret_key, nonces[lid]) for (oid, _cid), lid in ids.items()}
    return World(agreements, tokens)


def _record(app: App, op: Op, now: datetime, token: str) -> None:
    """One reply in its own write transaction: the portal's path or the CLI's."""
    if op.via == "portal":
        form = {"status": op.status, "form_nonce": uuid.uuid4().hex,
                "percent": str(op.percent) if op.percent is not None else "",
                "until": op.until.isoformat() if op.until else ""}
        with app.session(write=True) as s:
            view = load_view(s, app, token, now, None, page=False)
            reply, new = submit(s, app, view, form, now)
            assert new
            op.reply_id = reply.id
        return
    with app.session(write=True) as s:
        op.reply_id = record_reply(s, app, obligation_key=op.key, status=op.status, at=now,
                                   percent=op.percent, until=op.until, source="cli").id


def _open(app: App) -> list[Any]:
    with app.session() as s:
        return list(s.execute(sa.select(  # type: ignore[call-overload]
            Obligation.id, Obligation.key, Obligation.due, Obligation.next_fire)
            .where(Obligation.status == "open").order_by(col(Obligation.id))))


def _next_instant(app: App, after: datetime, rng: random.Random) -> datetime | None:
    with app.session() as s:
        first = s.exec(select(func.min(Obligation.next_fire)).where(
            Obligation.status == "open", col(Obligation.next_fire) > after)).one()
    if first is None:
        return None
    # now and then a late tick: several steps due at once, the latest fires, others skip
    return first + timedelta(days=rng.choice([0, 0, 0, 1, 3, 9]))


def _plan_round(rng: random.Random, open_rows: list[Any], now: datetime) -> list[Op]:
    contested = [r for r in open_rows if r.next_fire is not None and r.next_fire <= now]
    quiet = [r for r in open_rows if r not in contested]
    chosen = rng.sample(contested, rng.randint(1, min(6, len(contested))))
    if quiet and rng.random() < 0.5:
        chosen.append(rng.choice(quiet))
    ops = []
    for r in chosen:  # one reply per obligation and round: every one of them is valid
        status = rng.choices(["done", "in_progress", "extension"], [45, 30, 25])[0]
        ops.append(Op(r.id, r.key, status, rng.choice(["portal", "cli"]),
                      rng.uniform(0, 0.03),
                      until=r.due + timedelta(days=rng.randint(1, 30))
                      if status == "extension" else None,
                      percent=rng.randint(0, 100) if status == "in_progress" else None))
    return ops


def _run_round(apps: list[App], world: World, ops: list[Op], now: datetime,
               rng: random.Random, order: Order) -> tuple[list[Any], int, int]:
    """The sweep and the reply workers, released together; (fired items, began, committed)."""
    sweeper, repliers = apps[0], apps[1:]
    shares: list[list[Op]] = [[] for _ in repliers]
    for op in ops:
        shares[rng.randrange(len(repliers))].append(op)
    sweep_delay = rng.uniform(0, 0.06)
    barrier = threading.Barrier(1 + len(repliers))
    errors: list[BaseException] = []
    swept: dict[str, Any] = {}

    def sweep() -> None:
        try:
            barrier.wait()
            time.sleep(sweep_delay)
            swept["began"] = order.next()
            swept["items"] = fire_steps(sweeper, now)
            swept["committed"] = order.next()
        except BaseException as exc:
            errors.append(exc)

    def reply(app: App, mine: list[Op]) -> None:
        try:
            barrier.wait()
            for op in mine:
                time.sleep(op.delay)
                op.began = order.next()
                _record(app, op, now, world.tokens[op.obligation_id])
                op.committed = order.next()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sweep)] + [
        threading.Thread(target=reply, args=(a, mine)) for a, mine in zip(
            repliers, shares, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    assert errors == []
    return swept["items"], swept["began"], swept["committed"]


def _check_state(app: App, world: World, history: dict[int, list[Op]]) -> None:
    """Every reply recorded, and each obligation's row what its replies and steps make it."""
    cal = app.calendar
    with app.session() as s:
        replies = {r.id or 0: r for r in s.exec(select(Reply))}
        rows = {o.id or 0: o for o in s.exec(select(Obligation))}
        used: dict[int, set[int]] = {}
        for oid, step in s.execute(sa.select(FiredStep.obligation_id, FiredStep.step)):  # type: ignore[call-overload]
            used.setdefault(oid, set()).add(step)
    ours = [op.reply_id or 0 for ops in history.values() for op in ops]
    assert sorted(replies) == sorted(ours)  # none lost, none extra
    for oid, ops in history.items():
        mine = sorted((replies[op.reply_id or 0] for op in ops), key=lambda r: r.version)
        assert [r.version for r in mine] == list(range(1, len(mine) + 1))
        o = rows[oid]
        a = world.agreements[o.agreement_id]
        granted = [r for r in mine if r.status == "extension"
                   and (r.source == "cli" or r.decision == "granted")]
        until = granted[-1].until if granted else None
        want_due = extended_due(until, cal, a.due_adjust) if until else o.planned_due
        assert o.due == want_due, (o.key, [(r.status, r.until, r.decision) for r in mine])
        if any(r.status == "done" for r in mine):
            assert (o.status, o.next_fire) == ("submitted", None), o.key
        else:
            assert o.status == "open", o.key
    for o in rows.values():
        if o.status == "open":
            a = world.agreements[o.agreement_id]
            want = next_fire(fire_times(a.ladder, o.due, cal, a.timezone),
                             used.get(o.id or 0, set()))
            assert o.next_fire == want, o.key  # no tick or reply overwrote the other's work


def _check_round(app: App, ops: list[Op], items: list[Any], began: int, committed: int,
                 now: datetime, contested: set[int]) -> dict[str, int]:
    with app.session() as s:
        at_now = {(oid, step): outcome for oid, step, outcome in s.execute(
            sa.select(FiredStep.obligation_id, FiredStep.step, FiredStep.outcome)  # type: ignore[call-overload]
            .where(FiredStep.recorded_at == now))}
        ladder_rows = Counter((oid, step, cid) for oid, step, cid in s.execute(
            sa.select(OutboxMessage.obligation_id, OutboxMessage.step,  # type: ignore[call-overload]
                      OutboxMessage.contact_id)
            .where(col(OutboxMessage.step).is_not(None), OutboxMessage.created_at == now)))
    fired = {(i.obligation_id, i.step) for i in items}
    assert len(fired) == len(items)
    assert fired == {k for k, outcome in at_now.items() if outcome == "fired"}
    assert ladder_rows == Counter((i.obligation_id, i.step, r.contact_id)
                                  for i in items for r in i.recipients)
    touched = {oid for oid, _step in at_now}
    figures = Counter[str]()
    for op in ops:
        if op.status == "done" and op.committed < began:
            # committed before the sweep's transaction began: it must have been seen
            assert op.obligation_id not in touched, op.key
            figures["done before the sweep"] += 1
        elif op.began > committed:
            figures["began after the sweep"] += 1
        elif op.committed < began:
            figures["committed before the sweep"] += 1
        else:
            figures["overlapped the sweep"] += 1
    could_close = {op.obligation_id for op in ops
                   if op.status != "in_progress" and op.began < committed}
    for oid in contested - could_close:  # due, and no reply could close or move it first
        assert any(o == oid and outcome == "fired" for (o, _s), outcome in at_now.items()), oid
    return figures


@pytest.mark.slow
def test_replies_during_sweeps_lose_nothing_and_fire_nothing_after_done(
        app: App, clock: FixedClock, db_url: str):
    world = _import(app, clock)
    rng = random.Random(SEED)
    order = Order()
    apps = [bootstrap(app.settings, clock=clock) for _ in range(1 + REPLY_WORKERS)]
    history: dict[int, list[Op]] = {}
    done_at: dict[int, datetime] = {}
    totals = Counter[str]()
    now = REGISTERED
    rounds = 0
    try:
        while rounds < ROUNDS:
            at = _next_instant(app, now, rng)
            if at is None:
                break
            now = at
            open_rows = _open(app)
            contested = {r.id for r in open_rows if r.next_fire is not None
                         and r.next_fire <= now}
            ops = _plan_round(rng, open_rows, now)
            items, began, committed = _run_round(apps, world, ops, now, rng, order)
            for op in ops:
                history.setdefault(op.obligation_id, []).append(op)
                if op.status == "done":
                    done_at.setdefault(op.obligation_id, now)
            _check_state(app, world, history)
            totals.update(_check_round(app, ops, items, began, committed, now, contested))
            totals["replies"] += len(ops)
            totals["steps fired"] += len(items)
            rounds += 1
    finally:
        for a in apps:
            a.engine.dispose()
    with app.session() as s:
        late = [(oid, step) for oid, step, recorded in s.execute(
            sa.select(FiredStep.obligation_id, FiredStep.step,  # type: ignore[call-overload]
                      FiredStep.recorded_at).where(FiredStep.outcome == "fired"))
                if oid in done_at and recorded > done_at[oid]]
    assert late == []  # nothing fired at a later tick for an obligation reported done
    print(f"\n{db_url.split(':')[0]}: {rounds} rounds, seed {SEED}: {dict(totals)}")
    assert rounds == ROUNDS
    # the interleavings happened: replies landed before, during and after sweeps
    assert totals["done before the sweep"] and totals["overlapped the sweep"] \
        and totals["began after the sweep"]


def _instants(seed: int, n: int) -> list[datetime]:
    rng = random.Random(seed)
    day, out = date(2022, 6, 10), []
    for _ in range(n):
        day += timedelta(days=rng.randint(1, 14))
        hour = rng.choice([8, 8, 8, 9, 15])
        out.append(local_instant(day, datetime.min.time().replace(hour=hour), TZ))
    return out


def _outbox_set(app: App) -> tuple[Counter[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with app.session() as s:
        rows = list(s.execute(
            sa.select(Obligation.key, OutboxMessage.step, OutboxMessage.kind,  # type: ignore[call-overload]
                      OutboxMessage.channel, OutboxMessage.recipient, OutboxMessage.created_at)
            .join(Obligation, col(Obligation.id) == OutboxMessage.obligation_id)))
        steps = sorted(s.execute(
            sa.select(Obligation.key, FiredStep.step, FiredStep.outcome,  # type: ignore[call-overload]
                      FiredStep.recorded_at)
            .join(Obligation, col(Obligation.id) == FiredStep.obligation_id)).all())
    return Counter(tuple(r) for r in rows), [tuple(r) for r in steps]


@pytest.mark.slow
def test_sweeps_overlapping_in_processes_record_one_set_of_messages(
        app: App, clock: FixedClock, db_url: str, tmp_path: Path):
    """Several sweep processes tick the same instant together, round after round: one set
    of steps and messages, the very set one sweep alone records on another database."""
    processes = 4 if db_url.startswith("postgresql") else 3
    clock.at = REGISTERED
    reference = bootstrap(Settings(database_url=f"sqlite:///{tmp_path / 'reference.db'}",
                                   data_dir=tmp_path / "reference"), clock=clock)
    upgrade(reference.engine)
    for target in (app, reference):
        for path in (QT, TH):
            import_agreement(target, path.read_bytes(), str(path))
    instants = _instants(SEED, SWEEP_ROUNDS)
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(processes), ctx.Queue()
    workers = [ctx.Process(target=_sweep_rounds_entry, args=(
        app.settings.db_url, str(app.settings.data_dir), [t.isoformat() for t in instants],
        barrier, out)) for _ in range(processes)]
    for w in workers:
        w.start()
    fired: dict[str, list[tuple[Any, ...]]] = {}
    finished, failures = 0, []
    winners = Counter[str]()
    while finished < processes:
        kind, at, items = out.get(timeout=600)
        if kind == "fired":
            instant, pid = at.split("|")
            fired.setdefault(instant, []).extend(items)
            if items:
                winners[pid] += 1
        else:
            finished += 1
            if kind == "error":
                failures.append(at)
    for w in workers:
        w.join(timeout=60)
    assert failures == []
    with app.session() as s:
        emails: dict[int, str] = dict(s.execute(sa.select(Contact.id, Contact.email)).all())  # type: ignore[call-overload]
    with reference.session() as s:
        ref_emails: dict[int, str] = dict(s.execute(sa.select(Contact.id, Contact.email)).all())  # type: ignore[call-overload]
    total = 0
    for t in instants:
        alone = fire_steps(reference, t)
        want = Counter((i.obligation_key, i.step, tuple(i.skipped),
                        tuple(sorted(ref_emails[r.contact_id] for r in i.recipients)))
                       for i in alone)
        got = Counter((k, step, skipped, tuple(sorted(emails[c] for c in cids)))
                      for k, step, skipped, cids in fired.get(t.isoformat(), []))
        assert got == want, t  # each step won by exactly one sweep, none lost
        total += sum(got.values())
    ours, ref = _outbox_set(app), _outbox_set(reference)
    assert max(ours[0].values()) == 1  # every message recorded once
    assert ours == ref
    assert total > 200
    assert len(winners) >= 2, winners  # they raced: not always the same one first
    print(f"\n{db_url.split(':')[0]}: {processes} sweep processes x {len(instants)} instants, "
          f"{total} steps fired, {sum(ours[0].values())} outbox rows, identical to one sweep; "
          f"rounds won per process {sorted(winners.values())}")
    reference.engine.dispose()


def _sweep_rounds_entry(*args: Any) -> None:
    from tests.concurrency_worker import sweep_rounds

    sweep_rounds(*args)


def test_portal_reply_reads_the_obligation_it_locks(app: App, clock: FixedClock,
                                                   db_url: str):
    """Regression: on PostgreSQL the portal's transaction reads the obligation (load_view)
    before record_reply locks it. A coordinator returning the report in between reopened
    it; the partner's new `done` was then applied to the stale object read first, found
    nothing to change, and the obligation stayed open: the ladder went on after a `done`
    reply. record_reply now reloads the row it locks (populate_existing).

    SQLite cannot interleave this way (the portal's BEGIN IMMEDIATE holds the write lock
    from its first read): there the coordinator's transaction waits, which is checked too.
    """
    world = _import(app, clock)
    key = "QT-KHKT-2021-2025/kiem-tra-bao-cao/so-gddt/2022-H1"
    now = datetime(2022, 7, 1, 3, tzinfo=UTC)
    with app.session() as s:
        oid = s.exec(select(Obligation.id).where(Obligation.key == key)).one()
    with app.session(write=True) as s:
        first = record_reply(s, app, obligation_key=key, status="done", at=now, source="cli")
    coordinator = bootstrap(app.settings, clock=clock)
    order = Order()
    returned: dict[str, int] = {}

    def return_report() -> None:
        returned["began"] = order.next()
        with coordinator.session(write=True) as s:
            decide_reply(s, coordinator, first.id or 0, "returned", "Thiếu số liệu", now)
        returned["committed"] = order.next()

    try:
        with app.session(write=True) as s:
            view = load_view(s, app, world.tokens[oid or 0], now, None, page=False)
            assert view.obligation.status == "submitted"
            other = threading.Thread(target=return_report)
            other.start()
            other.join(timeout=2 if db_url.startswith("sqlite") else 60)
            reply, _new = submit(s, app, view, {"status": "done",
                                                "form_nonce": uuid.uuid4().hex}, now)
            ours = order.next()
        other.join(timeout=60)
    finally:
        coordinator.engine.dispose()
    with app.session() as s:
        o = s.exec(select(Obligation).where(Obligation.key == key)).one()
        versions = [(r.version, r.status, r.decision) for r in s.exec(
            select(Reply).where(Reply.obligation_id == oid).order_by(col(Reply.version)))]
    assert reply.version == 2
    if db_url.startswith("postgresql"):
        assert returned["committed"] < ours  # the return committed inside our transaction
        assert versions == [(1, "done", "returned"), (2, "done", None)]
        assert (o.status, o.next_fire) == ("submitted", None)  # the newer done counts
    else:
        assert returned["committed"] > ours  # it waited for the portal's transaction
        assert versions == [(1, "done", "returned"), (2, "done", None)]
