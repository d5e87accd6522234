"""`sync`: the schedule is the plan. Upcoming ladder days exist as scheduled flow runs.

For every active agreement, each local day within the horizon on which an open
obligation has a ladder step becomes one scheduled run of the `ladder` deployment,
named `CODE · dd/mm/yyyy`, tagged `agreement:CODE` and `party:ID` for the parties
concerned, created with an idempotency key so running sync twice creates nothing new.
Scheduled runs that no longer match the plan (a reply, an extension, an amendment) are
cancelled.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TypeVar

from prefect import flow, get_run_logger
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.deployments.flow_runs import arun_deployment
from prefect.exceptions import PrefectHTTPStatusError
from prefect.states import Cancelled
from sqlmodel import select

from config.bootstrap import App, bootstrap
from core.calendar import local_instant, parse_instant, zone
from flows import work
from models.ladder_state import load_stored, upcoming_fire_days
from models.tables import Agreement

LADDER_DEPLOYMENT = "ladder/ladder"
T = TypeVar("T")
TAG = "phoihop"
PAGE = 200


@dataclass(frozen=True)
class PlannedRun:
    code: str
    at: datetime
    parties: frozenset[str]

    @property
    def key(self) -> str:
        return f"ladder:{self.code}:{self.at.isoformat()}"

    @property
    def name(self) -> str:
        return f"{self.code} · {self.at:%d/%m/%Y}"

    @property
    def tags(self) -> list[str]:
        return [TAG, f"agreement:{self.code}", *sorted(f"party:{p}" for p in self.parties)]


@dataclass
class SyncReport:
    wanted: int = 0
    created: int = 0
    cancelled: int = 0
    kept: int = 0
    names: list[str] = field(default_factory=list)


def planned_runs(app: App, now: datetime, horizon_days: int) -> list[PlannedRun]:
    """Every (agreement, day) with a ladder step between now and the horizon."""
    out: list[PlannedRun] = []
    with app.session() as s:
        for code in work.active_codes(app):
            row = s.exec(select(Agreement).where(
                Agreement.code == code)).one()
            loaded = load_stored(s, app, row)
            agreement, tz = loaded.agreement, loaded.agreement.timezone
            today = now.astimezone(zone(tz)).date()
            days = upcoming_fire_days(s, app, code, today, today + timedelta(days=horizon_days),
                                      loaded)
            for day, parties in days.items():
                at = local_instant(day, agreement.ladder.send_at or time(8, 0), tz)
                if at >= now:
                    out.append(PlannedRun(code, at, frozenset(parties)))
    return out


async def scheduled_runs(client: PrefectClient) -> list[FlowRun]:
    """Every scheduled phoihop run, page by page."""
    out: list[FlowRun] = []
    while True:
        page = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
                tags=FlowRunFilterTags(all_=[TAG])),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=PAGE, offset=len(out))
        out += page
        if len(page) < PAGE:
            return out


async def _retrying(call: Callable[[], Awaitable[T]], attempts: int = 6) -> T:
    """A busy server (503, 429: measured with Prefect on SQLite under 8 concurrent
    creates) is asked again with backoff; idempotency keys make that safe."""
    for attempt in range(attempts):
        try:
            return await call()
        except PrefectHTTPStatusError as exc:
            if exc.response.status_code not in (429, 503) or attempt == attempts - 1:
                raise
            await asyncio.sleep(min(10.0, 0.5 * 2 ** attempt) * random.uniform(0.5, 1.0))
    raise AssertionError("unreachable")


async def reconcile(planned: list[PlannedRun], concurrency: int = 8) -> SyncReport:
    """Create missing runs and cancel stale ones, a few requests at a time."""
    report = SyncReport(wanted=len(planned))
    wanted = {p.key: p for p in planned}
    gate = asyncio.Semaphore(concurrency)
    async with get_client() as client:
        existing = {r.idempotency_key: r for r in await scheduled_runs(client)
                    if r.idempotency_key}

        async def cancel(run: FlowRun) -> None:
            async with gate:
                await _retrying(lambda: client.set_flow_run_state(run.id, Cancelled(
                    message="Không còn trong kế hoạch / no longer in the plan"), force=True))

        async def create(key: str, p: PlannedRun) -> None:
            async with gate:
                params = {"agreement": p.code, "at": p.at.isoformat()}
                run = await _retrying(lambda: arun_deployment(
                    LADDER_DEPLOYMENT, client=client, parameters=params, scheduled_time=p.at,
                    flow_run_name=p.name, tags=p.tags, idempotency_key=key, timeout=0,
                    as_subflow=False))
                if run.state is not None and run.state.type == StateType.CANCELLED:
                    # planned again after a cancellation: the old key is spent
                    again = f"{key}:again:{run.id}"
                    await _retrying(lambda: arun_deployment(
                        LADDER_DEPLOYMENT, client=client, parameters=params,
                        scheduled_time=p.at, flow_run_name=p.name, tags=p.tags,
                        idempotency_key=again, timeout=0, as_subflow=False))

        stale = [run for key, run in existing.items() if key not in wanted]
        missing = [(key, p) for key, p in wanted.items() if key not in existing]
        await asyncio.gather(*(cancel(run) for run in stale))
        await asyncio.gather(*(create(key, p) for key, p in missing))
        report.cancelled, report.created = len(stale), len(missing)
        report.kept = len(existing) - len(stale)
        report.names = [p.name for _key, p in missing]
    return report


@flow(name="sync")
async def sync(at: str | None = None, horizon_days: int | None = None) -> dict[str, int]:
    """Make Prefect's scheduled runs match the plan of every active agreement."""
    logger = get_run_logger()
    app = bootstrap()
    now = parse_instant(at, "Asia/Ho_Chi_Minh") if at else app.now()
    planned = planned_runs(app, now, horizon_days or app.settings.horizon_days)
    report = await reconcile(planned)
    logger.info("Đồng bộ lịch: %d lần chạy theo kế hoạch, tạo mới %d, giữ %d, hủy %d",
                report.wanted, report.created, report.kept, report.cancelled)
    return {"wanted": report.wanted, "created": report.created, "kept": report.kept,
            "cancelled": report.cancelled}
