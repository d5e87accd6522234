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
import functools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import PrefectHTTPStatusError
from prefect.states import Cancelled, Scheduled

from config.bootstrap import App, bootstrap
from core.calendar import instant_at
from models.ladder_state import upcoming_fire_times
from services.reviews import pending

T = TypeVar("T")
TAG = "phoihop"
PAGE = 200  # Prefect's largest page
WINDOWS = 200  # at most this many windows of expected start times read (a day each)


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
        for code, times in upcoming_fire_times(s, app.parse_options, now, horizon_days,
                                               agreement).items():
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
    """Every scheduled phoihop run, read a day of expected start times at a time (a few
    days at once), each day a page of 200 at a time.

    One long offset-paged read costs the server the rows before each page again (the
    filter is evaluated on offset + 200 rows), which grows with the square of the
    schedule (26,265 runs: a 62 s "sync again"). Days are adjacent windows (edges read
    twice, deduped) from the earliest to the latest scheduled run, the first and last
    open-ended, so a run scheduled while reading is still found; offsets stay small."""
    flow_filter = scheduled(agreement)

    async def read(window: FlowRunFilter, offset: int, sort: FlowRunSort = FlowRunSort.ID_DESC,
                   limit: int = PAGE) -> list[FlowRun]:
        return await _retrying(lambda: client.read_flow_runs(
            flow_run_filter=window, sort=sort, limit=limit, offset=offset))

    first = await read(flow_filter, 0, FlowRunSort.EXPECTED_START_TIME_ASC, 1)
    last = await read(flow_filter, 0, FlowRunSort.EXPECTED_START_TIME_DESC, 1)
    if not first or not last or not first[0].expected_start_time \
            or not last[0].expected_start_time:
        return await _paged(read, flow_filter)
    # edges half a day off the earliest instant (runs share send_at); a day each, or
    # wider if a run lies far ahead (at most WINDOWS windows)
    start = first[0].expected_start_time.timestamp() - 12 * 3600
    span = last[0].expected_start_time.timestamp() - start
    size = max(86400.0, span / WINDOWS)
    edges = [datetime.fromtimestamp(start + size * k, UTC)
             for k in range(1, int(span // size) + 1)]
    windows = [FlowRunFilter(state=flow_filter.state, tags=flow_filter.tags,
                             expected_start_time=FlowRunFilterExpectedStartTime.model_validate(
                                 {"after_": lo, "before_": hi}))
               for lo, hi in zip([None, *edges], [*edges, None], strict=True)]
    gate = asyncio.Semaphore(concurrency)

    async def day(window: FlowRunFilter) -> list[FlowRun]:
        async with gate:
            return await _paged(read, window)

    days_read = await asyncio.gather(*(day(w) for w in windows))
    return list({r.id: r for d in days_read for r in d}.values())  # edges are inclusive


async def _paged(read: Callable[[FlowRunFilter, int], Awaitable[list[FlowRun]]],
                 window: FlowRunFilter) -> list[FlowRun]:
    runs: dict[UUID, FlowRun] = {}
    offset = 0
    while True:  # until a short page
        page = await read(window, offset)
        runs.update((r.id, r) for r in page)
        if len(page) < PAGE:
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


class SyncError(RuntimeError):
    """Prefect refused to create or cancel some runs: named here, never dropped silently."""


BATCH = 100  # Prefect's limit for /deployments/{id}/create_flow_run/bulk (BULK_CREATE_LIMIT)
CANCEL_BATCH = 50  # Prefect's limit for /flow_runs/bulk_set_state (BULK_OPERATION_LIMIT)
AGAIN = ":again:"  # key of a run planned again after its key's run was cancelled
ROUNDS = 20  # planned, cancelled and planned again this many times in a row: give up


def base_key(key: str) -> str:
    """The plan's key of a run, whether created first or planned again."""
    return key.split(AGAIN, 1)[0]


Progress = Callable[[int, int], Awaitable[None]]  # (runs created so far, runs missing)


async def reconcile(planned: list[PlannedRun], concurrency: int = 1,
                    agreement: str | None = None, progress: Progress | None = None
                    ) -> SyncReport:
    """Create missing runs and cancel stale ones, through Prefect's bulk routes.

    Missing runs go to `/deployments/{id}/create_flow_run/bulk`, up to 100 per request
    (one server transaction each), `concurrency` requests at a time, on each deployment's
    id read once; stale runs go to `/flow_runs/bulk_set_state`, 50 per request. A key
    whose run was cancelled (planned, cancelled, planned again) dedupes to that cancelled
    run: it is created again under `KEY:again:<cancelled run id>`, which counts as the
    plan's KEY from then on. `progress` hears after every create request."""
    report = SyncReport(wanted=len(planned))
    wanted = {p.key: p for p in planned}
    gate = asyncio.Semaphore(concurrency)
    async with get_client() as client:
        existing: dict[str, FlowRun] = {}
        doubles: list[FlowRun] = []  # two scheduled runs for one key: one is cancelled
        for run in await scheduled_runs(client, agreement=agreement):
            if not run.idempotency_key:
                continue
            key = base_key(run.idempotency_key)
            if key in existing:
                doubles.append(run)
            else:
                existing[key] = run
        stale = [run for key, run in existing.items() if key not in wanted] + doubles
        missing = [(key, p) for key, p in wanted.items() if key not in existing]
        deployments: dict[str, UUID] = {}
        for name in sorted({p.flow for _key, p in missing}):
            deployments[name] = (await client.read_deployment_by_name(f"{name}/{name}")).id

        async def cancel(runs: list[FlowRun]) -> int:
            async with gate:
                return await _cancel(client, runs)

        made = [0]  # runs created so far

        async def create(deployment: UUID, batch: list[tuple[str, PlannedRun]]
                         ) -> list[tuple[str, PlannedRun]]:
            async with gate:
                again = await _create(client, deployment, batch)
                made[0] += len(batch) - len(again)
                if progress is not None:
                    await progress(made[0], len(missing))
                return again

        report.cancelled = sum(await asyncio.gather(*(
            cancel(stale[i:i + CANCEL_BATCH]) for i in range(0, len(stale), CANCEL_BATCH))))
        pending, rounds = missing, 0
        while pending:
            if rounds == ROUNDS:
                raise SyncError("Lập lịch lại quá nhiều lần / planned again too often: "
                                + ", ".join(p.name for _key, p in pending))
            rounds += 1
            batches = [(deployments[flow], items[i:i + BATCH])
                       for flow in sorted({p.flow for _key, p in pending})
                       for items in [[(k, p) for k, p in pending if p.flow == flow]]
                       for i in range(0, len(items), BATCH)]
            again = await asyncio.gather(*(create(d, b) for d, b in batches))
            pending = [item for batch in again for item in batch]
        report.created = len(missing)
        report.kept = len(existing) - (len(stale) - len(doubles))
        report.names = [p.name for _key, p in missing]
    return report


async def _create(client: PrefectClient, deployment: UUID,
                  batch: list[tuple[str, PlannedRun]], attempts: int = 6
                  ) -> list[tuple[str, PlannedRun]]:
    """One bulk request (≤ 100 runs, one server transaction). Items Prefect reports
    FAILED are sent again (idempotency keys make that safe), then named in a SyncError.
    Returns the items whose key's run turned out to be cancelled, with their next key."""
    from prefect.client.schemas.actions import DeploymentFlowRunCreate
    from prefect.states import to_state_create

    todo, ids = list(batch), {}
    for attempt in range(attempts):
        body = [DeploymentFlowRunCreate(
            parameters={"agreement": p.code, "at": p.at.isoformat()},
            state=to_state_create(Scheduled(scheduled_time=p.at)), name=p.name,
            tags=p.tags, idempotency_key=key).model_dump(mode="json", exclude_unset=True)
            for key, p in todo]
        # a new connection per request (each carries seconds of server work): with
        # Prefect's API in several processes, each request is accepted by a free one; on
        # kept-alive connections most of them stayed with one process (seen: 4 of 5)
        response = await _retrying(functools.partial(
            client._client.post, f"/deployments/{deployment}/create_flow_run/bulk", json=body,
            headers={"Connection": "close"}))
        results = response.json()["results"]
        if len(results) != len(todo):
            raise SyncError(f"Prefect trả {len(results)} kết quả cho {len(todo)} lần chạy / "
                            f"{len(results)} results for {len(todo)} runs")
        failed = []
        for (key, p), result in zip(todo, results, strict=True):
            if result.get("status") == "CREATED" and result.get("flow_run_id"):
                ids[UUID(result["flow_run_id"])] = (key, p)
            else:
                failed.append(((key, p), (result.get("error") or "?").splitlines()[0][:300]))
        if not failed:
            break
        if attempt == attempts - 1:
            raise SyncError("Prefect không tạo được / Prefect did not create: " + "; ".join(
                f"{p.name} ({key}): {error}" for (key, p), error in failed))
        todo = [item for item, _error in failed]
        await asyncio.sleep(min(10.0, 0.5 * 2 ** attempt) * random.uniform(0.5, 1.0))
    # checked: every run scheduled (one count, the usual case), or else read back: a key
    # that deduped to a cancelled run (that day was planned, cancelled, planned again)
    # goes round again under a new key; a run without a state is an error
    these = FlowRunFilterId(any_=list(ids))
    if await _retrying(lambda: client.count_flow_runs(flow_run_filter=FlowRunFilter(
            id=these, state=SCHEDULED.state))) == len(ids):
        return []
    runs = await _retrying(lambda: client.read_flow_runs(
        flow_run_filter=FlowRunFilter(id=these), limit=len(ids)))
    found = {run.id: run for run in runs}
    lost = [p.name for run_id, (_key, p) in ids.items()
            if run_id not in found or found[run_id].state is None]
    if lost:
        raise SyncError("Prefect trả lần chạy không có trạng thái / runs without a state: "
                        + ", ".join(lost))
    return [(f"{p.key}{AGAIN}{run.id}", p) for run in runs
            if run.state is not None and run.state.type == StateType.CANCELLED
            for p in [ids[run.id][1]]]


async def _cancel(client: PrefectClient, runs: list[FlowRun]) -> int:
    """Cancel ≤ 50 stale runs in one request; any run Prefect did not cancel is named."""
    from prefect.states import to_state_create

    state = to_state_create(Cancelled(message="Không còn trong kế hoạch / no longer in the plan"))
    response = await _retrying(lambda: client._client.post("/flow_runs/bulk_set_state", json={
        "flow_runs": FlowRunFilter(id=FlowRunFilterId(any_=[r.id for r in runs])
                                   ).model_dump(mode="json", exclude_unset=True),
        "state": state.model_dump(mode="json", serialize_as_any=True),
        "force": True, "limit": CANCEL_BATCH}))
    done = {UUID(r["flow_run_id"]): r for r in response.json()["results"]}
    refused = [(run, done.get(run.id)) for run in runs
               if (done.get(run.id) or {}).get("status") != "ACCEPT"]
    if refused:
        raise SyncError("Prefect không hủy / Prefect did not cancel: " + "; ".join(
            f"{run.name} ({run.id}): "
            + (f"{r['status']} {r.get('details')}" if r else "không thấy / not found")
            for run, r in refused))
    return len(runs)


@flow(name="sync")
async def sync(at: str | None = None, horizon_days: int | None = None,
               agreement: str | None = None) -> dict[str, int]:
    """Make Prefect's scheduled runs match the plan of every active agreement (or of one:
    what the automation on `phoihop.reply.recorded` asks after a reply or a decision)."""
    logger = get_run_logger()
    app = bootstrap()
    en = app.settings.language == "en"  # the coordinator's language (setting `language`)
    now = instant_at(at, app.now)
    agreement = agreement or None  # an automation's empty template renders ""
    planned = planned_runs(app, now, horizon_days or app.settings.horizon_days, agreement)
    bar = await acreate_progress_artifact(0.0, key="sync-progress",
                                          description="Tiến độ đồng bộ lịch / sync progress")
    told = [0.0]

    async def advance(done: int, total: int) -> None:
        await aupdate_progress_artifact(bar, 100.0 * done / total)
        if done == total or done >= told[0] + 1000:  # a line a thousand runs
            told[0] = done
            logger.info("Created %d/%d scheduled runs" if en
                        else "Đã tạo %d/%d lần chạy theo lịch", done, total)

    report = await reconcile(planned, concurrency=app.settings.sync_concurrency,
                             agreement=agreement, progress=advance)
    await aupdate_progress_artifact(bar, 100.0)
    logger.info("Schedule sync%s: %d runs planned, created %d, kept %d, cancelled %d" if en
                else "Đồng bộ lịch%s: %d lần chạy theo kế hoạch, tạo mới %d, giữ %d, hủy %d",
                f" {agreement}" if agreement else "", report.wanted, report.created,
                report.kept, report.cancelled)
    return {"wanted": report.wanted, "created": report.created, "kept": report.kept,
            "cancelled": report.cancelled}
