"""The benchmark command runs (quick mode) and prints every row of the core benchmarks."""

from __future__ import annotations

from benchmarks.__main__ import main


def test_quick_core_benchmark_prints_its_table(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    code = main(["--quick", "--only", "core"])
    out = capsys.readouterr().out
    for words in ("plan: one 13-party agreement", "into SQLite", "overdue listing",
                  "into PostgreSQL", "peak memory"):
        assert words in out
    assert code == 0
