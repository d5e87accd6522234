"""The portal load benchmark runs end to end with a few clients (its targets are for 50)."""

from __future__ import annotations

import os

import pytest

from benchmarks import portal

# ~35 s of benchmark smoke runs: in `make proofs`; `make bench` runs the benchmark itself
pytestmark = pytest.mark.proof

CORES = os.cpu_count() or 1
# each backend as deployed: SQLite in one process, PostgreSQL in one a core (docs/deploy.md)
SETUP = {"SQLite": "3 clients",
         "PostgreSQL": "3 clients" + (f", {CORES} workers" if CORES > 1 else "")}


def test_portal_benchmark_smoke():
    rows = portal.run(clients=3, replies=24)
    names = [r["benchmark"] for r in rows]
    for backend in ("SQLite", "PostgreSQL"):
        assert f"portal ({backend}): {SETUP[backend]}: reply POST latency" in names, names
    latency, rate, whole = rows[:3]
    assert latency["figure"].startswith("p50 ") and "(24 POSTs)" in latency["figure"]
    assert "/s (24 in " in rate["figure"] and "ms a reply" in rate["figure"]
    # every acknowledged POST stored once: 24 timed plus the warm-up's 2 per client
    assert whole["figure"].startswith("30 acknowledged, 30 stored: 0 lost, 0 duplicated")
    assert whole["ok"] is True
    assert rows[5]["ok"] is True, rows[5]


def test_portal_benchmark_measures_submissions_alone():
    """What the target names: POSTs only (forms fetched untimed), and POSTs paced at the
    target rate; every acknowledged one stored once, in each run."""
    rows = {r["benchmark"]: r for r in portal.run(clients=3, replies=24)}
    for backend in ("SQLite", "PostgreSQL"):
        name = f"portal ({backend}): {SETUP[backend]}"
        latency = rows[f"{name}: reply submission latency (POST only, forms fetched untimed "
                       "before)"]
        assert latency["figure"].startswith("p50 ") and "(24 POSTs)" in latency["figure"]
        rate = rows[f"{name}: reply submissions per second (POST only)"]
        assert "/s (24 in " in rate["figure"] and "ms a submission" in rate["figure"]
        whole = rows[f"{name}: submissions: stored replies vs acknowledged POSTs"]
        assert whole["figure"].startswith("24 acknowledged, 24 stored: 0 lost, 0 duplicated")
        assert whole["ok"] is True
        paced = rows[f"{name}: submission latency at 300/s offered (paced, POST only)"]
        assert "(12 POSTs, " in paced["figure"]
        assert rows[f"{name}: paced submissions: stored replies vs acknowledged POSTs"][
            "ok"] is True


def test_portal_benchmark_runs_one_backend_and_splits_the_cpu():
    """`backends` (PHOIHOP_BENCH_PORTAL_BACKENDS) measures one backend only; the rate rows
    say where the cores went (portal, clients; PostgreSQL's processes on PostgreSQL)."""
    rows = portal.run(clients=2, replies=6, backends="sqlite")
    names = [r["benchmark"] for r in rows]
    assert names and all(n.startswith("portal (SQLite)") for n in names), names
    rate = next(r for r in rows if r["benchmark"].endswith("submissions per second (POST only)"))
    assert "CPU: portal " in rate["figure"] and " clients " in rate["figure"], rate
    assert "; machine " in rate["figure"] and "PostgreSQL" not in rate["figure"], rate
    two = portal.run(clients=2, replies=6, backends="sqlite", workers=2)
    assert two and all(r["benchmark"].startswith("portal (SQLite): 2 clients, 2 workers")
                       for r in two), two
    try:
        portal.run(clients=2, replies=6, backends="mysql")
    except ValueError as exc:
        assert "PHOIHOP_BENCH_PORTAL_BACKENDS" in str(exc)
    else:
        raise AssertionError("an unknown backend was accepted")
