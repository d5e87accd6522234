"""Claimed rows are not forgotten: a sender killed -9 mid-delivery leaves rows `claimed`;
the start-up sweep's delivery (`flows.delivery.deliver_after_leases`, what the sweep's
`deliver` task runs) waits their lease out and sends them, within one lease, instead of
leaving them to the next ladder day. Seeded kill -9 trials against a slow SMTP server."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time as clock
from collections import Counter
from datetime import date, time

import pytest
from sqlmodel import select

from config.bootstrap import bootstrap
from config.settings import load_settings
from core.calendar import local_instant
from models.migrate import upgrade
from models.tables import OutboxMessage
from services import delivery
from services.imports import import_agreement
from tests.conftest import QT
from tests.smtp_sink import SmtpServer

TZ = "Asia/Ho_Chi_Minh"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LEASE = 4.0
# a ladder run as the flow does it: fire at the day's time, deliver on the wall clock
WORKER = """import sys
from datetime import datetime
from config.bootstrap import bootstrap
from config.settings import load_settings
from services import delivery
from services import ladder as ladder_work
app = bootstrap(load_settings())
ladder_work.fire_steps(app, datetime.fromisoformat(sys.argv[1]))
delivery.deliver(app, app.now(), worker=sys.argv[2])
"""


def _states(app) -> Counter[str]:
    with app.session() as s:
        return Counter(s.exec(select(OutboxMessage.state)).all())


@pytest.mark.proof  # ~25 s of kill -9 trials: make proofs (the suite keeps near 12 minutes)
def test_rows_a_killed_sender_claimed_go_out_within_a_lease(tmp_path, monkeypatch):
    rng = random.Random(20261203)
    with SmtpServer() as smtp:
        smtp.sink.delay = 0.25  # a slow mail server: the kill lands mid-delivery
        env = {**os.environ, "PHOIHOP_DATA_DIR": str(tmp_path),
               "PHOIHOP_DATABASE_URL": f"sqlite:///{tmp_path / 'lease.db'}",
               "PHOIHOP_MAIL__PORT": str(smtp.port), "PHOIHOP_LEASE_SECONDS": str(LEASE)}
        env.pop("PHOIHOP_CONFIG", None)
        for k, v in env.items():
            if k.startswith("PHOIHOP_"):
                monkeypatch.setenv(k, v)
        app = bootstrap(load_settings())
        upgrade(app.engine)
        with monkeypatch.context() as m:
            m.setattr(app, "clock", lambda: local_instant(date(2022, 5, 18), time(0), TZ))
            import_agreement(app, QT.read_bytes(), str(QT))
        days = [local_instant(d, time(8, 0), TZ) for d in
                (date(2022, 6, 15), date(2022, 7, 8), date(2022, 7, 15))]
        trials = []
        for n, at in enumerate(days):
            proc = subprocess.Popen([sys.executable, "-c", WORKER, at.isoformat(), f"killed-{n}"],
                                    cwd=ROOT, env=env, start_new_session=True)
            deadline = clock.monotonic() + 60
            while _states(app)["claimed"] == 0 and clock.monotonic() < deadline:
                clock.sleep(0.05)  # wait for its claim, then let it send a little
            clock.sleep(rng.uniform(0.1, 0.8))
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            held = _states(app)["claimed"]
            assert held > 0, f"day {n}: the kill came after the delivery"

            # what the start-up sweep did before: deliver what is due, skip the claims
            plain = delivery.deliver(app, app.now(), "startup-plain")
            assert _states(app)["claimed"] == held and plain.sent == 0

            started = clock.monotonic()
            report = delivery.deliver_after_leases(app, f"startup-{n}")
            took = clock.monotonic() - started
            states = _states(app)
            assert set(states) == {"sent"}, states  # nothing left claimed, unknown, waiting
            assert report.sent >= held and report.unknown == held
            assert took <= LEASE + 2 * delivery.LEASE_MARGIN + held * 0.25 + 5, took
            trials.append((held, round(took, 1)))
        received = Counter(m["Message-ID"] for m in smtp.sink.messages)
    with app.session() as s:
        rows = s.exec(select(OutboxMessage)).all()
    assert rows and all(r.state == "sent" for r in rows) and received
    print(f"trials (rows held, seconds to deliver them): {trials}; messages "
          f"{len(received)}, duplicates {sum(c - 1 for c in received.values())}")
    app.engine.dispose()
