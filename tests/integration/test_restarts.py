"""The Prefect server and the worker restarted inside a run window (issue #6 item 6), the
short version of `benchmarks/reliability.py`'s 20 restarts (tests/fault_restarts.py says
how the window runs): two ladder days through a real local Prefect server, process work
pool and worker, the server killed -9 and the worker stopped with SIGTERM at seeded random
moments, the missed work done by the catch-up sweep. The database ends as the same window
run undisturbed, every step fired once, every message received, a duplicate only from a
row that went through `unknown`.
"""

from __future__ import annotations

import pytest

from tests.fault_restarts import run_window, undisturbed

pytestmark = pytest.mark.slow


@pytest.mark.proof  # 44-100 s: make proofs (the suite keeps near 12 minutes)
def test_restarts_inside_a_run_window_change_nothing_in_the_database(tmp_path):
    calm = undisturbed(tmp_path / "calm", days=2)
    hit = run_window(tmp_path / "hit", days=2, restarts=2, seed=6, span=20.0,
                     kinds=[("server", "SIGKILL"), ("worker", "SIGTERM")])
    print(f"restarts {[(r.target, r.how, f'{r.at:.1f} s', r.busy) for r in hit.restarts]}, "
          f"runs {dict(hit.runs)}, catch-up sweeps {hit.catch_ups}, steps {hit.steps}, "
          f"messages {hit.judged.messages}, received {hit.judged.received}, "
          f"duplicates {hit.judged.duplicates}, {hit.seconds:.0f} s")
    assert len(hit.restarts) == 2 and all(r.down > 0 for r in hit.restarts)
    assert hit.days == calm.days and len(hit.days) == 2
    assert hit.differences(calm) == []
    assert hit.steps == calm.steps == hit.expected_steps == 20  # the ten H1 requests, twice
    assert hit.judged.problems == [] and hit.judged.lost == 0
    assert hit.judged.messages == calm.judged.messages == hit.judged.rows
    assert hit.judged.duplicates == hit.judged.explained  # each from a row sent twice
    assert sum(hit.runs.values()) == 2 + hit.catch_ups  # two ladder runs, the sweeps


@pytest.mark.proof
def test_a_run_whose_process_died_is_marked_crashed(tmp_path):
    """Regression: a run whose worker was killed (or stopped with SIGTERM, or Ctrl-C of
    `phoihop up`) stayed `Running` in Prefect for ever. The missed-heartbeat automation of
    `flows.local` marks it Crashed (heartbeats every 30 s here, Prefect's least; 3 missed).
    About 2½ minutes: `make proofs`."""
    import asyncio
    import time

    from tests.fault_restarts import Stack, _create, _environment, _states, _stop
    from tests.smtp_sink import SmtpServer

    with SmtpServer() as smtp, _environment(tmp_path, smtp.port) as settings:
        smtp.sink.delay = 1.0  # ten messages take ten seconds: the kill lands mid-send
        from benchmarks.reliability import REGISTERED, agreements
        from config.bootstrap import bootstrap
        from models.migrate import upgrade
        from services.imports import import_many

        app = bootstrap(settings, clock=lambda: REGISTERED)
        upgrade(app.engine)
        import_many(app, agreements()[:1])
        from prefect.settings import temporary_settings

        stack = Stack(settings, heartbeat=30)
        with temporary_settings(stack.local.client_settings()):
            try:
                stack.start()
                [run] = asyncio.run(_create([(
                    "ladder/ladder", {"agreement": "QT-KHKT-2021-2025",
                                      "at": "2022-06-15T08:00:00+07:00"},
                    "QT-KHKT-2021-2025 · 15/06/2022", ["phoihop"], "zombie-test")]))
                deadline = time.monotonic() + 120
                while len(smtp.sink.messages) < 2:
                    assert time.monotonic() < deadline, "the run never started sending"
                    time.sleep(0.2)
                _stop(stack.worker, "SIGKILL")  # the worker and its flow-run process
                assert asyncio.run(_states([run])())[str(run)] == "RUNNING"
                deadline = time.monotonic() + 180
                while asyncio.run(_states([run])())[str(run)] != "CRASHED":
                    assert time.monotonic() < deadline, "still not Crashed after 3 minutes"
                    time.sleep(2)
                assert len(smtp.sink.messages) < 10  # it did die mid-send
            finally:
                stack.stop()
        app.engine.dispose()
