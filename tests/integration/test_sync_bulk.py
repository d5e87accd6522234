"""`reconcile` through Prefect's bulk routes, on the test harness's real Prefect server.

More runs than one bulk request carries (100 to create, 50 to cancel): every run keeps
its name, tags, parameters and scheduled time; a second sync creates nothing; stale runs
are cancelled; a day planned, cancelled and planned again (twice) is scheduled again and
stays so; an item Prefect reports FAILED is named in the error, never dropped.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import pytest
from prefect import flow

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture
def harness(prefect_harness):
    from flows.ladder import ladder
    from flows.review import review

    ladder.to_deployment(name="ladder").apply()
    review.to_deployment(name="review").apply()
    return prefect_harness


@flow(name="strict")
def strict(agreement: Literal["STRICT-OK"], at: str) -> None:
    """A deployment whose parameter schema Prefect enforces: only STRICT-OK is valid."""


def _plan(prefix: str):
    from flows.sync import PlannedRun

    start = datetime(2031, 3, 3, 8, 0, tzinfo=TZ)
    ladder = [PlannedRun(f"{prefix}-{a:02d}", start + timedelta(days=d),
                         frozenset({f"so-{a}", "hkh-qt"}))
              for a in range(12) for d in range(15)]  # 180 ladder runs: two batches
    review = [PlannedRun(f"{prefix}-{a:02d}", start + timedelta(days=20), frozenset({"so-1"}),
                         "review") for a in range(12)]
    return ladder + review


async def _ours(prefix: str | None, state: str | None = "SCHEDULED"):
    """Every run of the agreements `prefix-*` (of every agreement: None), by id (in that
    state, when given)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType

    runs = []
    async with get_client() as client:
        while True:
            page = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=["phoihop"]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(
                    any_=[StateType(state)])) if state else None),
                limit=200, offset=len(runs))
            runs += page
            if len(page) < 200:
                break
    return {r.id: r for r in runs if prefix is None or r.name.startswith(f"{prefix}-")}


def _by_plan_key(runs):
    from flows.sync import base_key

    out = {}
    for r in runs.values():
        assert base_key(r.idempotency_key) not in out, r.name  # one run per planned key
        out[base_key(r.idempotency_key)] = r
    return out


def test_bulk_sync_creates_hundreds_once_cancels_stale_and_plans_again(harness):
    from prefect.client.orchestration import get_client

    from flows.sync import AGAIN, reconcile

    planned = _plan("BULK")
    assert len(planned) == 192

    async def deployment_ids():
        async with get_client() as client:
            return {name: (await client.read_deployment_by_name(f"{name}/{name}")).id
                    for name in ("ladder", "review")}

    deployments = asyncio.run(deployment_ids())
    # runs other tests of the session left scheduled are not in this plan: a full sync
    # cancels them too (none of them is BULK's)
    others = len(asyncio.run(_ours(None))) - len(asyncio.run(_ours("BULK")))
    heard: list[tuple[int, int]] = []

    async def progress(done: int, total: int) -> None:
        heard.append((done, total))

    first = asyncio.run(reconcile(planned, progress=progress))
    assert (first.wanted, first.created, first.kept, first.cancelled) == (192, 192, 0, others)
    # one word per create request (ladder runs in two, review runs in one), ending at all
    assert len(heard) >= 3 and heard[-1] == (192, 192)
    assert [d for d, _t in heard] == sorted(d for d, _t in heard) and heard[0][0] > 0
    runs = _by_plan_key(asyncio.run(_ours("BULK")))
    assert set(runs) == {p.key for p in planned}
    for p in planned:
        run = runs[p.key]
        assert run.idempotency_key == p.key
        assert run.name == p.name and run.name.endswith(f"· {p.at:%d/%m/%Y}")
        assert sorted(run.tags) == sorted(p.tags)
        assert run.parameters == {"agreement": p.code, "at": p.at.isoformat()}
        assert run.deployment_id == deployments[p.flow]
        assert run.state.type.value == "SCHEDULED"
        assert run.state.state_details.scheduled_time == p.at
        assert run.expected_start_time == p.at

    again = asyncio.run(reconcile(planned))
    assert (again.created, again.kept, again.cancelled) == (0, 192, 0)
    assert set(asyncio.run(_ours("BULK"))) == {r.id for r in runs.values()}

    # 120 ladder days leave the plan (more than one bulk_set_state request): cancelled
    dropped = planned[:120]
    rest = planned[120:]
    third = asyncio.run(reconcile(rest))
    assert (third.created, third.kept, third.cancelled) == (0, 72, 120)
    cancelled = asyncio.run(_ours("BULK", "CANCELLED"))
    assert {r.id for r in cancelled.values()} == {runs[p.key].id for p in dropped}
    assert all(r.state.message == "Không còn trong kế hoạch / no longer in the plan"
               for r in cancelled.values())
    assert set(_by_plan_key(asyncio.run(_ours("BULK")))) == {p.key for p in rest}

    # planned again: each key's run is cancelled, so a new run under a new key, which the
    # next sync keeps (it is that day's run, not a stale one)
    fourth = asyncio.run(reconcile(planned))
    assert (fourth.created, fourth.kept, fourth.cancelled) == (120, 72, 0)
    back = _by_plan_key(asyncio.run(_ours("BULK")))
    assert set(back) == {p.key for p in planned}
    for p in dropped:
        assert back[p.key].idempotency_key == f"{p.key}{AGAIN}{runs[p.key].id}"
        assert back[p.key].name == p.name and sorted(back[p.key].tags) == sorted(p.tags)
        assert back[p.key].state.state_details.scheduled_time == p.at
    fifth = asyncio.run(reconcile(planned))
    assert (fifth.created, fifth.kept, fifth.cancelled) == (0, 192, 0)

    # and once more: cancelled, planned again, a third run per day, kept after
    assert asyncio.run(reconcile(rest)).cancelled == 120
    assert asyncio.run(reconcile(planned)).created == 120
    third_runs = _by_plan_key(asyncio.run(_ours("BULK")))
    for p in dropped:
        assert third_runs[p.key].idempotency_key == f"{p.key}{AGAIN}{back[p.key].id}"
    last = asyncio.run(reconcile(planned))
    assert (last.created, last.kept, last.cancelled) == (0, 192, 0)
    assert len(asyncio.run(_ours("BULK", None))) == 192 + 2 * 120


def test_a_run_prefect_refuses_is_named_not_dropped(harness):
    from flows.sync import PlannedRun, SyncError, reconcile

    strict.to_deployment(name="strict").apply()
    at = datetime(2031, 6, 2, 8, 0, tzinfo=TZ)
    ok = [PlannedRun("STRICT-OK", at + timedelta(days=d), frozenset({"a"}), "strict")
          for d in range(3)]
    bad = PlannedRun("STRICT-BAD", at, frozenset({"a"}), "strict")
    with pytest.raises(SyncError) as raised:
        asyncio.run(reconcile([*ok, bad]))
    message = str(raised.value)
    assert "STRICT-BAD · 02/06/2031" in message and bad.key in message
    assert "Parameter validation failed" in message
    assert "STRICT-OK ·" not in message  # the valid runs are not among the refused
    # the valid runs of the same bulk request were created; the refused one does not exist
    assert {r.name for r in asyncio.run(_ours("STRICT")).values()} == {p.name for p in ok}
    assert asyncio.run(_ours("STRICT-BAD", None)) == {}
