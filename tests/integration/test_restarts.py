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
