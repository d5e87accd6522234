"""The dossier benchmark runs end to end on a small set (its target is for 3,500)."""

from __future__ import annotations

from benchmarks import dossier


def test_dossier_benchmark_smoke():
    large, national = dossier.run(12)
    assert large["ok"] is True and large["figure"].endswith(" ms")
    assert national["benchmark"].startswith("dossiers of 12 agreements")
    assert national["ok"] is None and national["target"] == ""
