"""kill -9 during SQLite commits (issue #6, item 3): writers recording replies, killed at
seeded random moments; afterwards `PRAGMA integrity_check` is ok and every commit a writer
acknowledged (printed once its commit returned) is there, unchanged.

The long version is `python -m benchmarks --only reliability`.
"""

from __future__ import annotations

from benchmarks.reliability import sqlite_kills


def test_writers_killed_at_random_moments_keep_every_acknowledged_commit(tmp_path):
    result = sqlite_kills(20, seed=20261207, directory=tmp_path)
    print(result)
    assert result.problems == []
    assert result.killed == 20  # each writer loops until the kill reaches it
    assert result.integrity == {"ok": 20}  # checked after every kill
    assert result.commits >= 20 and result.replies > result.commits  # some of 2-40 replies
    assert result.missing == 0
    assert result.in_transaction >= 1  # some kills landed inside a write transaction
