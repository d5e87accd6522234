"""A stateful model of the whole life of agreements (issue #6, item 16), over a real
database: hypothesis drives imports, amendments, sweeps, deliveries, crashed senders,
replies and revoked links in any order, and checks the invariants after every step.

Rules:
- create: import an agreement (two small ones exist: SM-A, SM-B);
- amend: re-import one with a change (the quarterly due offset, a one-off report added or
  removed, the lead party's focal contact replaced);
- tick: move the clock on by some days (and hours) and run the sweep's `fire_steps`;
- deliver: `send_pending` to recording notifiers (one address always refuses: it goes to
  retry_wait, then dead, then the coordinators are told);
- crash: a sender claims rows and dies (rows left claimed), the clock passes the lease;
- reply: `models.replies.record_reply` (done, in_progress or extension; as the portal or
  the CLI records it);
- revoke: revoke a live reply link.

Invariants, after every step:
- no ladder step fired for an obligation at or after a tick that followed a `done` reply
  to it (by the recorded instants, and by the model's own order of events);
- an obligation's fired steps' indices only increase over time (never down a rung), and
  `last_step` is the highest;
- an obligation with a `done` reply that is not withdrawn is `submitted`, and an open one's
  `next_fire` is what its due date and used steps give;
- at most one live (unrevoked, unexpired) reply link per (obligation, contact);
- every outbox key unique; no message handed over twice;
- after a deliver: no row left claimed (none past its lease), nothing due left unsent.

PHOIHOP_MODEL_EXAMPLES (SQLite), PHOIHOP_MODEL_PG_EXAMPLES and PHOIHOP_MODEL_STEPS scale it
up (the defaults keep each backend under a minute).
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import uuid
from collections import Counter
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from pydantic import SecretStr
from sqlmodel import col, select

from config.bootstrap import App, bootstrap
from config.settings import Settings
from core.calendar import local_instant
from core.ladder import fire_times, next_fire
from core.parse import load_agreement
from models.links import revoke
from models.migrate import upgrade
from models.outbox import claim
from models.tables import Agreement, FiredStep, Link, Obligation, OutboxMessage, Reply
from notifications.port import DeliveryError, RecordingNotifier
from notifications.send import send_pending
from services.imports import import_agreement
from services.ladder import fire_steps
from services.replies import decide_reply, record_reply
from tests.conftest import PG_URL, FixedClock

EXAMPLES = int(os.environ.get("PHOIHOP_MODEL_EXAMPLES", "20"))
PG_EXAMPLES = int(os.environ.get("PHOIHOP_MODEL_PG_EXAMPLES", "10"))
STEPS = int(os.environ.get("PHOIHOP_MODEL_STEPS", "30"))
TZ = "Asia/Ho_Chi_Minh"
START = local_instant(date(2024, 1, 2), time(0, 0), TZ)  # signing day of both agreements
REFUSING = "tu-choi@dn.example"  # a mailbox that never accepts (the `dn` party's head)

PERIODS = {"SM-A": ("2024-01-01", "2024-12-31"), "SM-B": ("2024-04-01", "2025-03-31")}


def agreement_text(code: str, offset: int, with_once: bool, focal: int) -> str:
    """A small agreement; the arguments are what an amendment may change."""
    start, end = PERIODS[code]
    once = """
  - id: mot-lan
    title: Báo cáo chuyên đề
    lead: dn
    reports:
      - {every: once, due: 2024-06-14, from: lead}""" if with_once else ""
    return f"""\
version: 1
code: {code}
title: Chương trình phối hợp thử {code}
signed_on: 2024-01-02
period: {{start: {start}, end: {end}}}
convener: hkh
supervisor: btg
parties:
  - id: hkh
    name: Hội Khuyến học tỉnh
    contacts:
      - {{name: Điều phối viên, role: coordinator, email: dp@hkh.example}}
      - {{name: Đầu mối HKH, role: focal, email: dm@hkh.example}}
  - id: so
    name: Sở Giáo dục và Đào tạo
    contacts:
      - {{name: Đầu mối {focal}, role: focal, email: dau-moi-{focal}@so.example}}
      - {{name: Giám đốc, role: head, email: gd@so.example}}
  - id: dn
    name: Tỉnh Đoàn
    contacts:
      - {{name: Đầu mối Đoàn, role: focal, email: dm@dn.example}}
      - {{name: Bí thư, role: head, email: {REFUSING}}}
observers:
  - id: btg
    name: Ban Tuyên giáo
    contacts:
      - {{name: Văn phòng, role: focal, email: vp@btg.example}}
commitments:
  - id: hang-quy
    title: Báo cáo hằng quý
    lead: so
    support: [dn]
    reports:
      - {{every: quarter, due: "+{offset}d", from: lead}}{once}
"""


class _Template:
    """A migrated SQLite file, copied for every example (migrating costs more than it)."""

    path: Path | None = None

    @classmethod
    def copy_to(cls, target: Path) -> None:
        if cls.path is None:
            folder = Path(tempfile.mkdtemp(prefix="phoihop-model-"))
            engine = sa.create_engine(f"sqlite:///{folder / 'template.db'}")
            upgrade(engine)
            engine.dispose()
            cls.path = folder / "template.db"
        shutil.copy(cls.path, target)


class LifeOfAgreements(RuleBasedStateMachine):
    backend = "sqlite"
    ran: ClassVar[Counter[str]] = Counter()  # examples and rules run, for the figures

    def __init__(self) -> None:
        super().__init__()
        self.ran["examples"] += 1
        self.folder = Path(tempfile.mkdtemp(prefix="phoihop-model-"))
        self.schema: str | None = None
        if self.backend == "sqlite":
            _Template.copy_to(self.folder / "p.db")
            url = f"sqlite:///{self.folder / 'p.db'}"
        else:
            self.schema = f"t_{uuid.uuid4().hex[:12]}"
            with sa.create_engine(PG_URL).begin() as c:
                c.execute(sa.text(f'CREATE SCHEMA "{self.schema}"'))
            url = f"{PG_URL}?options=-csearch_path%3D{self.schema}"
        self.clock = FixedClock(START)
        self.app: App = bootstrap(Settings(database_url=url, data_dir=self.folder / "data",
                                           secret_key=SecretStr("model-secret-key-0123456789")),
                                  clock=self.clock)
        if self.schema is not None:
            upgrade(self.app.engine)
        self.variants: dict[str, tuple[int, bool, int]] = {}
        self.ladders: dict[int, Any] = {}  # agreement row id → parsed agreement
        self.done_after: dict[int, int] = {}  # obligation id → event number of its first done
        self.done_at: dict[int, datetime] = {}
        self.events = 0
        self.crashed = False
        self.handed: Counter[str] = Counter()  # message ids handed over
        self.email = RecordingNotifier(fail={REFUSING: DeliveryError("452 mailbox busy")})
        self.apprise = RecordingNotifier()
        self.fired_by_event: list[tuple[int, int]] = []  # (event number, obligation id)

    def teardown(self) -> None:
        self.app.engine.dispose()
        if self.schema is not None:
            with sa.create_engine(PG_URL).begin() as c:
                c.execute(sa.text(f'DROP SCHEMA "{self.schema}" CASCADE'))
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------

    def _import(self, code: str, variant: tuple[int, bool, int]) -> None:
        text = agreement_text(code, *variant).encode()
        import_agreement(self.app, text, f"{code}.yaml")
        self.variants[code] = variant
        self.events += 1
        with self.app.session() as s:
            row = s.exec(select(Agreement).where(Agreement.code == code)).one()
            parsed, problems = load_agreement(row.source.encode(), code, self.app.parse_options)
            assert parsed is not None and problems == []
            assert row.id is not None
            self.ladders[row.id] = parsed

    def _obligations(self, *statuses: str) -> list[Obligation]:
        with self.app.session() as s:
            return list(s.exec(select(Obligation).where(col(Obligation.status).in_(statuses))
                               .order_by(col(Obligation.id))))

    # -- rules ---------------------------------------------------------------------------

    @rule(code=st.sampled_from(sorted(PERIODS)), offset=st.sampled_from([15, 20, 30]))
    def create(self, code: str, offset: int) -> None:
        self.ran["create"] += 1
        if code in self.variants:
            return
        self._import(code, (offset, True, 0))

    @precondition(lambda self: bool(self.variants))
    @rule(data=st.data(), offset=st.sampled_from([15, 20, 30]), with_once=st.booleans(),
          focal=st.integers(0, 1))
    def amend(self, data: st.DataObject, offset: int, with_once: bool, focal: int) -> None:
        self.ran["amend"] += 1
        code = data.draw(st.sampled_from(sorted(self.variants)))
        self._import(code, (offset, with_once, focal))

    @rule(days=st.integers(0, 40), hours=st.sampled_from([0, 0, 1, 8, 13]))
    def tick(self, days: int, hours: int) -> None:
        self.ran["tick"] += 1
        self.clock.at = self.clock.at + timedelta(days=days, hours=hours)
        self.events += 1
        for item in fire_steps(self.app, self.clock()):
            self.fired_by_event.append((self.events, item.obligation_id))

    @rule()
    def deliver(self) -> None:
        self.ran["deliver"] += 1
        now = self.clock()
        before = len(self.email.sent) + len(self.apprise.sent)
        report = send_pending(self.app, now, "model",
                              notifiers={"email": self.email, "apprise": self.apprise})
        self.handed.update(m.message_id for m in (self.email.sent + self.apprise.sent)[before:])
        self.crashed = False
        with self.app.session() as s:
            states = Counter(s.exec(select(OutboxMessage.state)))
            due_left = s.exec(select(sa.func.count()).select_from(OutboxMessage).where(
                col(OutboxMessage.state).in_(("pending", "unknown", "retry_wait", "claimed")),
                OutboxMessage.next_attempt_at <= now)).one()
        assert states["claimed"] == 0, states  # none left claimed, none past its lease
        assert due_left == 0, (states, report)  # nothing due left unsent

    @rule(limit=st.integers(1, 4))
    def crash(self, limit: int) -> None:
        self.ran["crash"] += 1
        with self.app.session(write=True) as s:
            rows, _unknown = claim(s, self.clock(), f"crashed-{self.events}", limit,
                                   self.app.policy.lease_seconds)
        if rows:
            self.crashed = True
        # the sender died holding them; time passes beyond the lease
        self.clock.at = self.clock.at + timedelta(seconds=self.app.settings.lease_seconds + 1)

    @precondition(lambda self: bool(self.variants))
    @rule(data=st.data(), status=st.sampled_from(["done", "in_progress", "extension"]),
          source=st.sampled_from(["portal", "cli"]), days=st.integers(1, 30))
    def reply(self, data: st.DataObject, status: str, source: str, days: int) -> None:
        self.ran["reply"] += 1
        candidates = self._obligations("open", "submitted")
        if not candidates:
            return
        o = data.draw(st.sampled_from(candidates))
        assert o.id is not None
        now = self.clock()
        with self.app.session(write=True) as s:
            record_reply(s, self.app, obligation_key=o.key, status=status, at=now,
                         percent=50 if status == "in_progress" else None,
                         until=o.due + timedelta(days=days) if status == "extension" else None,
                         source=source)
        self.events += 1
        if status == "done" and o.id not in self.done_after:
            self.done_after[o.id] = self.events
            self.done_at[o.id] = now

    @rule(data=st.data())
    def revoke_link(self, data: st.DataObject) -> None:
        self.ran["revoke_link"] += 1
        now = self.clock()
        with self.app.session(write=True) as s:
            live = list(s.exec(select(Link).where(
                Link.purpose == "reply", col(Link.revoked_at).is_(None), Link.expires_at > now)
                .order_by(col(Link.id))))
            if not live:
                return
            revoke(s, data.draw(st.sampled_from(live)), now)

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def nothing_fires_after_done(self) -> None:
        late = [(event, oid) for event, oid in self.fired_by_event
                if oid in self.done_after and event > self.done_after[oid]]
        assert late == [], late
        with self.app.session() as s:
            fired = list(s.execute(sa.select(  # type: ignore[call-overload]
                FiredStep.obligation_id, FiredStep.step, FiredStep.recorded_at)
                .where(FiredStep.outcome == "fired")))
        assert [f for f in fired if f.obligation_id in self.done_at
                and f.recorded_at > self.done_at[f.obligation_id]] == []

    @invariant()
    def escalation_never_goes_down(self) -> None:
        with self.app.session() as s:
            steps = list(s.exec(select(FiredStep).order_by(col(FiredStep.recorded_at),
                                                           col(FiredStep.id))))
            last: dict[int, int | None] = dict(s.execute(sa.select(  # type: ignore[call-overload]
                Obligation.id, Obligation.last_step)).all())
        rungs: dict[int, list[int]] = {}
        for f in steps:
            if f.outcome == "fired":
                rungs.setdefault(f.obligation_id, []).append(f.step)
        for oid, seq in rungs.items():
            assert all(a < b for a, b in itertools.pairwise(seq)), (oid, seq)
            assert last[oid] == seq[-1], (oid, seq, last[oid])

    @invariant()
    def obligations_are_what_their_replies_and_steps_make_them(self) -> None:
        with self.app.session() as s:
            rows = list(s.exec(select(Obligation)))
            done = set(s.exec(select(Reply.obligation_id).where(Reply.status == "done")))
            used: dict[int, set[int]] = {}
            for oid, step in s.execute(sa.select(FiredStep.obligation_id, FiredStep.step)):  # type: ignore[call-overload]
                used.setdefault(oid, set()).add(step)
        for o in rows:
            if o.id in done and o.status != "withdrawn":
                assert (o.status, o.next_fire) == ("submitted", None), (o.key, o.status)
            if o.status == "open":
                a = self.ladders[o.agreement_id]
                want = next_fire(fire_times(a.ladder, o.due, self.app.calendar, a.timezone),
                                 used.get(o.id or 0, set()))
                assert o.next_fire == want, o.key

    @invariant()
    def one_live_reply_link_per_obligation_and_contact(self) -> None:
        now = self.clock()
        with self.app.session() as s:
            live = Counter(s.execute(sa.select(Link.obligation_id, Link.contact_id).where(  # type: ignore[call-overload]
                Link.purpose == "reply", col(Link.revoked_at).is_(None),
                Link.expires_at > now, col(Link.reply_id).is_(None))).all())
        assert [pair for pair, n in live.items() if n > 1] == []

    @invariant()
    def outbox_keys_unique_and_nothing_handed_over_twice(self) -> None:
        with self.app.session() as s:
            keys = Counter(s.exec(select(OutboxMessage.key)))
            claimed_past = s.exec(select(sa.func.count()).select_from(OutboxMessage).where(
                OutboxMessage.state == "claimed",
                col(OutboxMessage.lease_until) < self.clock())).one()
        assert [k for k, n in keys.items() if n > 1] == []
        assert [m for m, n in self.handed.items() if n > 1] == []
        if not self.crashed:  # only a crash since the last deliver may leave such rows
            assert claimed_past == 0


def _run(backend: str, examples: int) -> None:
    machine = type(f"LifeOfAgreements_{backend}", (LifeOfAgreements,),
                   {"backend": backend, "ran": Counter()})
    run_state_machine_as_test(machine, settings=settings(
        max_examples=examples, stateful_step_count=STEPS, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
    ran = machine.ran  # type: ignore[attr-defined]
    steps = sum(n for rule, n in ran.items() if rule != "examples")
    print(f"\n{backend}: {ran['examples']} examples, {steps} steps "
          f"({', '.join(f'{k} {v}' for k, v in sorted(ran.items()) if k != 'examples')})")
    assert ran["examples"] >= min(examples, 10) and ran["tick"] and ran["reply"] \
        and ran["amend"] and ran["crash"]


@pytest.mark.slow
def test_life_of_agreements_sqlite() -> None:
    _run("sqlite", EXAMPLES)


@pytest.mark.slow
def test_life_of_agreements_postgres(pg_reason: str | None) -> None:
    if pg_reason is not None:
        if os.environ.get("PHOIHOP_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here but does not answer: {pg_reason}")
        pytest.skip(f"no PostgreSQL server at {PG_URL}: {pg_reason}")
    _run("postgres", PG_EXAMPLES)



@pytest.mark.parametrize("decision", [None, "accepted", "returned"])
def test_an_amendment_restoring_an_obligation_keeps_its_done_reply(
        app: App, clock: FixedClock, decision: str | None) -> None:
    """Regression, found by the model: a one-off report answered `done`, removed by an
    amendment (withdrawn) and put back by the next one came back `open`, and the ladder
    chased it again. Restored, it takes back what its replies made it: submitted,
    accepted, or open again when the coordinator had returned it."""
    clock.at = START
    key = "SM-A/mot-lan/dn/once"
    import_agreement(app, agreement_text("SM-A", 15, True, 0).encode(), "SM-A.yaml")
    clock.at = local_instant(date(2024, 5, 20), time(9, 0), TZ)
    fire_steps(app, clock())
    with app.session(write=True) as s:
        reply = record_reply(s, app, obligation_key=key, status="done", at=clock(),
                             source="cli")
        if decision is not None:
            decide_reply(s, app, reply.id or 0, decision, "Bổ sung số liệu", clock())
    import_agreement(app, agreement_text("SM-A", 15, False, 0).encode(), "SM-A.yaml")
    import_agreement(app, agreement_text("SM-A", 15, True, 0).encode(), "SM-A.yaml")
    with app.session() as s:
        o = s.exec(select(Obligation).where(Obligation.key == key)).one()
    want = {None: "submitted", "accepted": "accepted", "returned": "open"}[decision]
    assert o.status == want
    assert (o.next_fire is None) == (want != "open")
    clock.at = local_instant(date(2024, 7, 1), time(8, 0), TZ)  # the remaining steps' time
    fired = {i.obligation_key for i in fire_steps(app, clock())}
    assert (key in fired) == (want == "open")
