"""The `deliver` flow's watch: how long a run Prefect starts for a reply or a decision keeps
delivering (flows/deliver.py), and the automation's numbers that go with it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flows.deliver import WATCH_AT_MOST, watch_until
from flows.local import DELIVER_ON, FLOWS, RESYNC_ON, WATCH_MARGIN
from services.delivery import EVENT_WINDOW_SECONDS

CREATED = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def test_a_run_started_by_the_automation_watches_past_its_events_window():
    until = watch_until(CREATED, EVENT_WINDOW_SECONDS + WATCH_MARGIN)
    assert until == CREATED + timedelta(seconds=EVENT_WINDOW_SECONDS + WATCH_MARGIN)
    assert watch_until(CREATED.replace(tzinfo=None), 5) == CREATED + timedelta(seconds=5)


def test_a_run_started_by_hand_is_one_round_and_a_long_watch_is_cut():
    assert watch_until(CREATED, 0) is None and watch_until(None, 30) is None
    assert watch_until(CREATED, 10**6) == CREATED + timedelta(seconds=WATCH_AT_MOST)


def test_every_decision_delivers_and_the_plan_changing_ones_resync():
    assert set(DELIVER_ON) == {"phoihop.reply.recorded", "phoihop.decision.accepted",
                               "phoihop.decision.returned", "phoihop.decision.granted",
                               "phoihop.decision.denied"}
    assert {"phoihop.decision.granted", "phoihop.decision.returned"} <= set(RESYNC_ON)
    assert not {"phoihop.decision.accepted", "phoihop.decision.denied"} & set(RESYNC_ON)
    assert ("deliver", "flows/deliver.py:deliver", None) in FLOWS  # no schedule of its own
