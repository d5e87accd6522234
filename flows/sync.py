"""`sync`: the schedule is the plan. Upcoming ladder and review days exist as scheduled runs.

For every active agreement, each instant within the horizon at which an open obligation
has a ladder step (the ladder's `send_at` of a local day) becomes one scheduled run of the
`ladder` deployment, and each review milestone not yet done (host notice, draft, final
dossier, carry-over) one run of the `review` deployment. Runs are named
`CODE · dd/mm/yyyy`, tagged `agreement:CODE` and `party:ID` for the parties concerned,
and created with an idempotency key, so running sync twice creates nothing new.
Scheduled runs that no longer match the plan (a reply, an extension, an amendment) are
cancelled.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar
from uuid import UUID

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
from prefect.exceptions import PrefectHTTPStatusError
from prefect.states import Cancelled, Scheduled

from config.bootstrap import App, bootstrap
from core.calendar import parse_instant
from models.ladder_state import upcoming_fire_times
from reviews.cycle import pending

T = TypeVar("T")
TAG = "phoihop"
PAGE = 200  # Prefect's largest page


@dataclass(frozen=True)
class PlannedRun:
    code: str
    at: datetime
    parties: frozenset[str]
    flow: str = "ladder"  # ladder | review: a run of the deployment `<flow>/<flow>`

    @property
    def key(self) -> str:
        return f"{self.flow}:{self.code}:{self.at.isoformat()}"

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


def planned_runs(app: App, now: datetime, horizon_days: int, agreement: str | None = None
                 ) -> list[PlannedRun]:
    """Every (agreement, instant) within the horizon with a ladder step or a review step
    (of one agreement, when given)."""
    out: list[PlannedRun] = []
    with app.session() as s:
        for code, times in upcoming_fire_times(s, app, now, horizon_days, agreement).items():
            out += [PlannedRun(code, at, frozenset(parties)) for at, parties in times.items()]
        until = now + timedelta(days=horizon_days + 1)
        out += [PlannedRun(p.code, p.at, frozenset(p.parties), "review")
                for p in pending(s, app, until, agreement) if p.at >= now]
    return sorted(set(out), key=lambda p: (p.at, p.code, p.flow))


def scheduled(agreement: str | None = None) -> FlowRunFilter:
    """Scheduled phoihop runs (of one agreement, when given)."""
    return FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
        tags=FlowRunFilterTags(all_=[TAG, *([f"agreement:{agreement}"] if agreement else [])]))


SCHEDULED = scheduled()


async def scheduled_runs(client: PrefectClient, concurrency: int = 4,
                         agreement: str | None = None) -> list[FlowRun]:
    """Every scheduled phoihop run: counted, then read a page at a time, a few at once."""
    flow_filter = scheduled(agreement)
    total = await _retrying(lambda: client.count_flow_runs(flow_run_filter=flow_filter))
    gate = asyncio.Semaphore(concurrency)

    async def page(offset: int) -> list[FlowRun]:
        async with gate:
            return await _retrying(lambda: client.read_flow_runs(
                flow_run_filter=flow_filter, sort=FlowRunSort.ID_DESC, limit=PAGE,
                offset=offset))

    pages = await asyncio.gather(*(page(o) for o in range(0, total, PAGE)))
    runs = {r.id: r for p in pages for r in p}
    offset = total
    while True:  # runs scheduled while we were reading: read on until a short page
        more = await page(offset)
        runs.update((r.id, r) for r in more)
        if len(more) < PAGE:
            return list(runs.values())
        offset += PAGE


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


async def reconcile(planned: list[PlannedRun], concurrency: int = 8,
                    agreement: str | None = None) -> SyncReport:
    """Create missing runs and cancel stale ones, a few requests at a time.

    Runs are created straight from each deployment's id, read once: `run_deployment`
    would read the deployment again for every run."""
    report = SyncReport(wanted=len(planned))
    wanted = {p.key: p for p in planned}
    gate = asyncio.Semaphore(concurrency)
    async with get_client() as client:
        existing = {r.idempotency_key: r for r in await scheduled_runs(
                    client, agreement=agreement) if r.idempotency_key}
        stale = [run for key, run in existing.items() if key not in wanted]
        missing = [(key, p) for key, p in wanted.items() if key not in existing]
        deployments: dict[str, UUID] = {}
        for name in sorted({p.flow for _key, p in missing}):
            deployments[name] = (await client.read_deployment_by_name(f"{name}/{name}")).id

        async def cancel(run: FlowRun) -> None:
            async with gate:
                await _retrying(lambda: client.set_flow_run_state(run.id, Cancelled(
                    message="Không còn trong kế hoạch / no longer in the plan"), force=True))

        async def create(key: str, p: PlannedRun) -> None:
            async with gate:
                run = await _create(client, deployments[p.flow], p, key)
                if run.state is not None and run.state.type == StateType.CANCELLED:
                    # planned again after a cancellation: the old key is spent
                    await _create(client, deployments[p.flow], p, f"{key}:again:{run.id}")

        await asyncio.gather(*(cancel(run) for run in stale))
        await asyncio.gather(*(create(key, p) for key, p in missing))
        report.cancelled, report.created = len(stale), len(missing)
        report.kept = len(existing) - len(stale)
        report.names = [p.name for _key, p in missing]
    return report


async def _create(client: PrefectClient, deployment: UUID, p: PlannedRun, key: str
                  ) -> FlowRun:
    return await _retrying(lambda: client.create_flow_run_from_deployment(
        deployment, parameters={"agreement": p.code, "at": p.at.isoformat()},
        state=Scheduled(scheduled_time=p.at), name=p.name, tags=p.tags,
        idempotency_key=key))


@flow(name="sync")
async def sync(at: str | None = None, horizon_days: int | None = None,
               agreement: str | None = None) -> dict[str, int]:
    """Make Prefect's scheduled runs match the plan of every active agreement (or of one:
    what the automation on `phoihop.reply.recorded` asks after a reply or a decision)."""
    logger = get_run_logger()
    app = bootstrap()
    now = parse_instant(at, "Asia/Ho_Chi_Minh") if at else app.now()
    agreement = agreement or None  # an automation's empty template renders ""
    planned = planned_runs(app, now, horizon_days or app.settings.horizon_days, agreement)
    report = await reconcile(planned, agreement=agreement)
    logger.info("Đồng bộ lịch%s: %d lần chạy theo kế hoạch, tạo mới %d, giữ %d, hủy %d",
                f" {agreement}" if agreement else "", report.wanted, report.created,
                report.kept, report.cancelled)
    return {"wanted": report.wanted, "created": report.created, "kept": report.kept,
            "cancelled": report.cancelled}
