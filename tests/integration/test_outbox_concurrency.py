"""Several senders at once over one outbox (issue #6): separate processes, a real SMTP server.

2,000 ladder messages (real ticks over synthetic agreements, recorded by `enqueue_fired`),
then 2 sender processes on SQLite or 8 on PostgreSQL, released together, each running
the real `send_pending` against the aiosmtpd server on loopback. Every outbox key must
arrive exactly once (in the one message of its digest), every row must end `sent`, and
no sender may see an exception (a lock error, a serialization failure) raised to it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from benchmarks.mail import bench_app, expected_keys, record, run_senders, states
from models.migrate import upgrade

MESSAGES = 2000


@pytest.mark.slow
def test_senders_in_parallel_hand_over_each_key_once(db_url: str, tmp_path: Path, smtp):
    processes = 8 if db_url.startswith("postgresql") else 2
    data = tmp_path / "data"
    app = bench_app(db_url, data)
    upgrade(app.engine)
    rows = record(app, MESSAGES)
    keys_of = expected_keys(app)
    assert len(keys_of) == MESSAGES and rows > MESSAGES  # digests of several items among them

    results, _seconds = run_senders(db_url, data, smtp.port, processes)

    assert [r.raised for r in results] == [None] * processes
    assert [e for r in results for e in r.errors] == []
    received = Counter(str(m["Message-ID"]) for m in smtp.sink.messages)
    assert received.keys() - keys_of.keys() == set()  # no message nobody recorded (split digest)
    assert keys_of.keys() - received.keys() == set()  # none lost
    assert [mid for mid, n in received.items() if n > 1] == []  # none twice
    arrived = Counter(key for mid in received.elements() for key in keys_of[mid])
    assert len(arrived) == rows and set(arrived.values()) == {1}  # each outbox key once
    assert states(app) == {"sent": rows}
    assert sum(r.messages for r in results) == MESSAGES
    assert sum(r.sent for r in results) == rows
    working = [r for r in results if r.messages]
    assert len(working) >= 2, [r.messages for r in results]  # the work was shared...
    assert max(r.started for r in working) < min(r.finished for r in working)  # ...at once
    app.engine.dispose()
