"""The mail benchmark runs end to end on a small wave (its target is for 10,000 messages)."""

from __future__ import annotations

import re

import pytest

from benchmarks import mail

# benchmark smoke run: in `make proofs`; `make bench` runs the benchmark itself
pytestmark = pytest.mark.proof


def test_mail_benchmark_smoke(pg_reason):
    one, many = mail.run(messages=200, processes=8)

    assert one["benchmark"].startswith("mail: 200 ladder messages (")
    assert one["benchmark"].endswith("1 sender, SQLite")
    assert one["target"] == "" and one["ok"] is True  # no target below 10,000; delivery exact
    assert re.match(r"\d+\.\d s, \d+ msg/s \(CPU a message: \d+\.\d ms sender, "
                    r"\d+\.\d ms SMTP server; load ", one["figure"])
    assert "200 of 200 Message-IDs: 0 lost, 0 duplicated" in one["figure"]
    assert (one["lost"], one["duplicated"], one["unexpected"], one["unsent"]) == (0, 0, 0, 0)
    assert one["shares"] == [200] and one["rows"] > 200  # some digests carry several items

    assert many["benchmark"].startswith("mail: 8 senders at once on PostgreSQL, 200 msgs")
    if pg_reason is not None:
        assert many["figure"].startswith("no server") and many["ok"] is None
        return
    assert many["ok"] is True and many["target"] == ""
    assert "200 of 200 Message-IDs: 0 lost, 0 duplicated" in many["figure"]
    assert (many["lost"], many["duplicated"], many["unexpected"], many["unsent"]) == (0, 0, 0, 0)
    assert many["raised"] == [] and len(many["shares"]) == 8 and sum(many["shares"]) == 200
