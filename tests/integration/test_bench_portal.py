"""The portal load benchmark runs end to end with a few clients (its targets are for 50)."""

from __future__ import annotations

from benchmarks import portal


def test_portal_benchmark_smoke():
    rows = portal.run(clients=3, replies=24)
    names = [r["benchmark"] for r in rows]
    for backend in ("SQLite", "PostgreSQL"):
        assert f"portal ({backend}): 3 clients: reply POST latency" in names, names
    latency, rate, whole = rows[:3]
    assert latency["figure"].startswith("p50 ") and "(24 POSTs)" in latency["figure"]
    assert "/s (24 in " in rate["figure"] and "ms a reply" in rate["figure"]
    # every acknowledged POST stored once: 24 timed plus the warm-up's 2 per client
    assert whole["figure"].startswith("30 acknowledged, 30 stored: 0 lost, 0 duplicated")
    assert whole["ok"] is True
    assert rows[5]["ok"] is True, rows[5]
