"""The main job on one machine: a local Prefect server, a process work pool and worker.

Everything runs from this checkout with embedded defaults: Prefect's own SQLite
database lives under `<data dir>/prefect`, analytics are off, the flow-run vacuum is on.
Deployments are few, one per flow type (ladder, review, sweep, sync, deliver); each
agreement's work is its own flow runs created by `sync`, and `deliver` sends what replies
and decisions queued within the minute (its own automation). Stopping (Ctrl-C) ends the
worker, then the server; starting again resumes from both databases.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from config.settings import SAFE_HEARTBEATS, Settings
from core.calendar import LOCAL_ZONE
from core.statuses import Decision
from flows.supervise import Supervisor
from notifications import events

ROOT = Path(__file__).resolve().parents[1]
POOL = "phoihop"
AUTOMATION = "phoihop: re-sync an agreement after a reply or an import"
AGREEMENT_TEMPLATE = "{{ event.resource['phoihop.agreement'] }}"
# the events that re-sync an agreement: what may move its fire times
RESYNC_ON = (events.EVENT, events.IMPORTED,
             events.DECIDED + Decision.GRANTED,  # an extension granted: the due date moves
             events.DECIDED + Decision.RETURNED)  # a report returned: the ladder starts again
DELIVERY = "phoihop: deliver at once after a reply or a decision"
WATCH_MARGIN = 2  # seconds a `deliver` run watches past its event's window (clocks, commit)
# the events whose messages (receipt, submission, extension request, decision) go at once
DELIVER_ON = (events.EVENT, *(events.DECIDED + d for d in events.DECISIONS))
ZOMBIES = "phoihop: a run whose heartbeats stopped is Crashed"
HEARTBEAT_SECONDS = 60  # Settings.heartbeat_seconds: a minute is plenty (Prefect's least: 30)
TERMINAL = ("Completed", "Failed", "Cancelled", "Crashed")  # Prefect's final state names
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
FLOWS = (("ladder", "flows/ladder.py:ladder", None),
         ("review", "flows/review.py:review", None),
         ("sweep", "flows/ladder.py:sweep", "15 7 * * *"),  # daily catch-up, 07:15 local
         ("sync", "flows/sync.py:sync", "0 7 * * *"),  # daily reconcile, 07:00 local
         ("deliver", "flows/deliver.py:deliver", None))  # its automation: delivery_trigger
# Runs of these are created by `sync` only, tens of thousands at a time, with parameters
# it builds itself: Prefect's server does not check them against the flow's parameter
# schema on creation (4 ms a run); the flow still validates them when it starts.
SYNC_CREATED = {"ladder", "review"}
# The work pool's base job template: the process worker's settings as fixed values, no
# per-deployment job variables (Prefect's server validates every run it creates against
# the pool's variables schema: docs/performance.md, "Where Prefect's server spent a
# scheduled run").
JOB_TEMPLATE: dict[str, Any] = {
    "job_configuration": {"command": None, "env": {}, "labels": {}, "name": None,
                          "stream_output": True, "working_dir": None},
    "variables": {"type": "object", "properties": {}},
}


def api_auth_string(settings: Settings) -> str:
    """The credentials of Prefect's API and UI (`user:password`, HTTP basic auth): the
    operator's `PREFECT_SERVER_API_AUTH_STRING` when set, else generated once into
    `<data dir>/prefect-auth` (0600), beside the secret key. Every process phoihop starts
    (server, workers, flow runs, portal) and the CLI use it; a coordinator signs in to the
    UI by pasting it."""
    given = os.environ.get("PREFECT_SERVER_API_AUTH_STRING")
    if given:
        return given
    path = auth_file(settings)
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError), \
                os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
            fh.write(f"phoihop:{secrets.token_urlsafe(32)}\n")
    return path.read_text(encoding="utf-8").strip()


def auth_file(settings: Settings) -> Path:
    return settings.data_dir / "prefect-auth"


def client_env(settings: Settings, port: int | None = None) -> dict[str, str]:
    """What a Prefect client of the local stack needs: its API address (kept when already
    set and no port is given) and the credentials."""
    url = (f"http://127.0.0.1:{port}/api" if port is not None
           else os.environ.get("PREFECT_API_URL", "http://127.0.0.1:4200/api"))
    return {"PREFECT_API_URL": url, "PREFECT_API_AUTH_STRING": api_auth_string(settings)}


def prefect_env(settings: Settings, port: int, heartbeat: int = HEARTBEAT_SECONDS
                ) -> dict[str, str]:
    """The environment of the server, the worker and every flow run it starts.

    Prefect's API is closed: basic auth on every route but the health check, CSRF tokens
    on every change, and cross-origin requests allowed from the UI's own origin only (by
    default it has none of these and answers any web page the coordinator visits)."""
    home = settings.data_dir / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    auth = api_auth_string(settings)
    return {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_SERVER_API_AUTH_STRING": auth,
        "PREFECT_API_AUTH_STRING": auth,
        "PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED": "true",
        "PREFECT_SERVER_API_CORS_ALLOWED_ORIGINS": f"http://127.0.0.1:{port}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "true",
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(heartbeat),
        "PREFECT_LOGGING_LEVEL": "INFO",
        "PHOIHOP_DATA_DIR": str(settings.data_dir),
        **({"PHOIHOP_DATABASE_URL": settings.database_url} if settings.database_url else {}),
    }


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, seconds: float = 120
                 ) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["?"]
            raise RuntimeError(f"the Prefect server stopped at start-up: {tail[0][:200]} "
                               f"(log: {log})")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the Prefect server at {url} did not answer within {seconds:.0f} s")


def scaled_env(redis_url: str) -> dict[str, str]:
    """Prefect's settings for an API in several processes: events, ordering, leases and
    its background task queue in Redis (prefect-redis), as Prefect's guide to scaling a
    self-hosted server sets them."""
    return {
        "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
        "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
        "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
        "PREFECT_REDIS_MESSAGING_URL": redis_url,
        "PREFECT_SERVER_DOCKET_URL": redis_url,
    }


def heartbeat_margin(heartbeat: int, crashed_after: int) -> None:
    """Refuse a missed-heartbeat threshold a healthy run could cross (ValueError)."""
    if heartbeat < 30:
        raise ValueError(f"a heartbeat every {heartbeat} s: Prefect's least is 30 s")
    if crashed_after < SAFE_HEARTBEATS * heartbeat:
        raise ValueError(f"runs marked Crashed after {crashed_after} s without a heartbeat, "
                         f"under {SAFE_HEARTBEATS} heartbeats of {heartbeat} s: a healthy "
                         f"run would be marked Crashed")


def automation_key(automation: Any) -> Any:
    """What an automation does, for comparing the stored one with the wanted one: its
    fields without ids (the server gives the trigger a new id on every write), sets as
    sorted lists."""
    def canonical(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: canonical(v) for k, v in value.items() if k != "id"}
        if isinstance(value, list):
            items = [canonical(v) for v in value]
            return sorted(items) if all(isinstance(v, str) for v in items) else items
        return value

    from prefect.events.schemas.automations import AutomationCore

    fields = set(AutomationCore.model_fields)
    return canonical(automation.model_dump(mode="json", include=fields))


def prefect_db_url(url: str) -> str:
    """Prefect's database URL as its server wants it (the asyncpg driver)."""
    for plain in ("postgresql://", "postgresql+psycopg://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url.removeprefix(plain)
    return url


@dataclass
class LocalStack:
    settings: Settings
    port: int = 4200
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    # seconds between a flow run's heartbeats; default Settings.heartbeat_seconds
    heartbeat: int | None = None
    # seconds without one before the run is marked Crashed; default: Settings.crashed_after
    # with the settings' heartbeat, SAFE_HEARTBEATS heartbeats with one given here
    crashed_after: int | None = None
    # Prefect's API in this many processes, its services in one more: needs Prefect's
    # database on PostgreSQL (PREFECT_API_DATABASE_CONNECTION_URL) and Redis at redis_url
    api_workers: int = 1
    redis_url: str = "redis://127.0.0.1:6379/0"  # Settings.redis_url
    host: str = "127.0.0.1"  # where Prefect's API listens; beyond loopback needs its auth
    supervisor: Supervisor = field(default_factory=Supervisor)

    @property
    def ui_url(self) -> str:
        return f"http://{self._client_host}:{self.port}"

    @property
    def _client_host(self) -> str:
        return "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host

    def _popen(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        out = open(self.settings.data_dir / log, "ab")  # noqa: SIM115 (owned by the child)
        with out:  # the child has its own copy
            return subprocess.Popen(args, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                    cwd=ROOT, start_new_session=True)

    def _spawn(self, args: list[str], log: str, name: str | None = None,
               essential: bool = False, leftovers: bool = False) -> subprocess.Popen[bytes]:
        """A child process; with a `name`, supervised: started again when it exits
        (`essential`: its exit stops everything; `leftovers`: whatever is left of its
        process group, e.g. a portal's uvicorn workers holding the port, is killed
        first)."""
        proc = self._popen(args, log)
        self.processes.append(proc)
        if name:
            def again() -> subprocess.Popen[bytes]:
                if leftovers:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(child.proc.pid, signal.SIGKILL)
                return self._popen(args, log)

            child = self.supervisor.watch(name, proc, again, essential)
        return proc

    def _replaced(self, old: subprocess.Popen[bytes], new: subprocess.Popen[bytes]) -> None:
        if old in self.processes:
            self.processes[self.processes.index(old)] = new
        else:
            self.processes.append(new)

    def __post_init__(self) -> None:
        if self.heartbeat is None:
            self.heartbeat = self.settings.heartbeat_seconds
            crashed_after = self.settings.crashed_after
        else:
            crashed_after = SAFE_HEARTBEATS * self.heartbeat
        self.crashed_after = self.crashed_after or crashed_after
        heartbeat_margin(self.heartbeat, self.crashed_after)
        self.supervisor.replaced = self._replaced
        # Prefect reads its settings when first imported: point this process at the local
        # server before anything imports prefect.
        self.env = prefect_env(self.settings, self.port, self.heartbeat)
        self.env["PREFECT_SERVER_API_HOST"] = self.host
        self.env["PREFECT_API_URL"] = f"http://{self._client_host}:{self.port}/api"
        if self.settings.prefect_database_url:
            self.env["PREFECT_API_DATABASE_CONNECTION_URL"] = prefect_db_url(
                self.settings.prefect_database_url)
        # prefect_env always sets PREFECT_SERVER_API_AUTH_STRING: beyond loopback too, the
        # API answers nothing without credentials
        mine = {k: v for k, v in self.env.items()
                if k.startswith(("PREFECT_", "PHOIHOP_")) and not k.startswith("PREFECT_SERVER_")}
        self._saved_env = {k: os.environ.get(k) for k in mine}  # given back by stop()
        os.environ.update(mine)
        if self.api_workers > 1:  # the server's processes only: clients talk HTTP
            self.env.update(scaled_env(self.redis_url))

    def start_server(self) -> None:
        if self.api_workers > 1:
            self._start_scaled_server()
            return
        self._serve(["--analytics-off"], "prefect-server.log")

    def _serve(self, options: list[str], log: str, name: str | None = "Prefect server"
               ) -> subprocess.Popen[bytes]:
        proc = self._spawn([sys.executable, "-m", "prefect", "server", "start", "--host",
                            self.host, "--port", str(self.port), *options], log, name,
                           essential=True)
        wait_healthy(self.env["PREFECT_API_URL"], proc, self.settings.data_dir / log)
        return proc

    def _prefect(self, args: list[str], what: str) -> None:
        """A `prefect` command run to its end; its failure as a one-line RuntimeError (what
        `phoihop up` prints), with the last line it wrote."""
        done = subprocess.run([sys.executable, "-m", "prefect", *args], env=self.env,
                              capture_output=True, text=True)
        if done.returncode:
            said = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["?"]
            raise RuntimeError(f"could not {what} (prefect {' '.join(args[:3])}, exit "
                               f"{done.returncode}): {said[0][:300]}")

    def _start_scaled_server(self) -> None:
        """Prefect's API in `api_workers` processes, its services (scheduler, events,
        automations) in one more. On a database seen for the first time, the API
        processes would each migrate it and register Prefect's block types at once, and
        all but one fail (seen with Prefect 3.8); so the database is migrated first and
        one process starts and stops alone before the rest."""
        url = self.env.get("PREFECT_API_DATABASE_CONNECTION_URL", "")
        if not url.startswith("postgresql"):
            raise RuntimeError("Prefect's API in several processes needs its database on "
                               "PostgreSQL: set PREFECT_API_DATABASE_CONNECTION_URL")
        self._prefect(["server", "database", "upgrade", "-y"], "migrate Prefect's database")
        first = self._serve(["--analytics-off", "--no-services"], "prefect-server.log",
                            name=None)
        os.killpg(first.pid, signal.SIGINT)
        first.wait(timeout=60)
        self.processes.remove(first)
        self._serve(["--analytics-off", "--workers", str(self.api_workers)],
                    "prefect-server.log", name="Prefect API")
        self._spawn([sys.executable, "-m", "prefect", "server", "services", "start"],
                    "prefect-services.log", "Prefect services", leftovers=True)

    def deploy(self, timezone: str = LOCAL_ZONE) -> None:
        """One deployment per flow type, pulled by the process work pool; `deliver` with
        its trigger (delivery_trigger)."""
        from prefect import Flow
        from prefect.schedules import Cron

        template = self.settings.data_dir / "work-pool.json"
        template.write_text(json.dumps(JOB_TEMPLATE))
        self._prefect(["work-pool", "create", POOL, "--type", "process",
                       "--base-job-template", str(template), "--overwrite"],
                      f"create the work pool {POOL}")
        for name, entrypoint, cron in FLOWS:
            loaded = cast(Flow[..., Any], Flow.from_source(source=str(ROOT),
                                                           entrypoint=entrypoint))
            schedules = [Cron(cron, timezone=timezone)] if cron else None
            triggers = [self.delivery_trigger()] if name == "deliver" else None
            with contextlib.redirect_stdout(io.StringIO()):  # Prefect's table per deployment
                loaded.deploy(name=name, work_pool_name=POOL, build=False, push=False,
                              schedules=schedules, print_next_steps=False,
                              ignore_warnings=True, triggers=triggers,
                              enforce_parameter_schema=name not in SYNC_CREATED)
        self.automate()

    def delivery_trigger(self) -> Any:
        """The `deliver` deployment's own automation (`DELIVERY`, on the Automations page
        and the deployment's Triggers tab): on a reply or a decision event it runs
        `deliver`, at most once per EVENT_WINDOW_SECONDS (Prefect's reactive trigger fires
        on the first event of a window and folds the others of that window into it; the
        run, created after that first event, watches the outbox for the window and a
        margin: flows/deliver.py). Prefect re-creates a deployment's triggers on every
        deploy; one paused in the UI stays paused."""
        from datetime import timedelta

        from prefect.automations import Posture
        from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

        from services.delivery import EVENT_WINDOW_SECONDS

        async def paused() -> bool:
            from prefect.client.orchestration import get_client

            async with get_client() as client:
                return any(not a.enabled for a in await client.read_automations_by_name(
                    DELIVERY))

        return DeploymentEventTrigger(
            name=DELIVERY, enabled=not asyncio.run(paused()),
            description="Gửi thư ngay sau trả lời hoặc quyết định (biên nhận, thông báo nộp "
                        "báo cáo, quyết định) / deliver at once the receipts, submission "
                        "notices and decisions that replies and decisions queued",
            expect=set(DELIVER_ON), posture=Posture.Reactive, threshold=1,
            within=timedelta(seconds=EVENT_WINDOW_SECONDS),
            parameters={"watch_seconds": EVENT_WINDOW_SECONDS + WATCH_MARGIN})

    def automate(self) -> dict[str, str]:
        """A reply, a decision or an amendment may move fire times: an automation on
        `phoihop.reply.recorded`, `phoihop.agreement.imported`, `phoihop.decision.granted`
        and `phoihop.decision.returned` (RESYNC_ON) runs `sync` for that agreement
        (visible, and pausable, in the UI's Automations page).

        A run whose process died (its worker killed, its machine gone, the worker stopped
        with SIGTERM or Ctrl-C) stays `Running` in Prefect for ever: Prefect does not notice
        by itself. A second automation, Prefect's own recipe for such "zombie" runs, marks a
        run `Crashed` once it sent no heartbeat for `crashed_after` seconds (at least
        SAFE_HEARTBEATS heartbeats); it is not retried (the next run or the daily sweep does
        its work, `docs/flows.md`). A run that reached a terminal state is expected to stop:
        its Completed/Failed/Cancelled/Crashed event closes the timer.

        Both are reconciled on every start, never re-created: the stored one is left
        alone when it is what is wanted (the timers Prefect holds for runs whose
        heartbeats stopped survive a restart), updated in place when it differs (Prefect
        then starts its timers afresh), created when missing. One paused in the UI stays
        paused. Returns what was done to each: created, updated or kept."""
        return asyncio.run(self._reconcile(self._wanted_automations))

    async def _wanted_automations(self, client: Any) -> list[Any]:
        from datetime import timedelta

        from prefect.automations import Posture
        from prefect.client.schemas.objects import StateType
        from prefect.events.actions import ChangeFlowRunState, RunDeployment
        from prefect.events.schemas.automations import AutomationCore, EventTrigger
        from prefect.events.schemas.events import ResourceSpecification

        assert self.crashed_after is not None
        zombies = AutomationCore(
            name=ZOMBIES,
            description="Lần chạy mất tín hiệu được đánh dấu Crashed / a run whose "
                        "heartbeats stopped is marked Crashed",
            trigger=EventTrigger(
                after={"prefect.flow-run.heartbeat"},
                expect={"prefect.flow-run.heartbeat", *(f"prefect.flow-run.{s}" for s in
                                                        TERMINAL)},
                match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
                for_each={"prefect.resource.id"}, posture=Posture.Proactive,
                threshold=1, within=timedelta(seconds=self.crashed_after)),
            actions=[ChangeFlowRunState(
                name="Crashed", state=StateType.CRASHED, force=False,
                message="Mất tín hiệu của lần chạy: tiến trình đã dừng / the run's "
                        "heartbeats stopped: its process died")],
        )
        deployment = await client.read_deployment_by_name("sync/sync")
        resync = AutomationCore(
            name=AUTOMATION,
            description="Đồng bộ lịch của chương trình khi có trả lời, gia hạn được chấp "
                        "thuận, báo cáo bị trả lại hoặc chương trình được nhập / re-sync an "
                        "agreement's schedule after a reply, a granted extension, a returned "
                        "report or an import",
            trigger=EventTrigger(expect=set(RESYNC_ON), posture=Posture.Reactive,
                                 threshold=1),
            actions=[RunDeployment(source="selected", deployment_id=deployment.id,
                                   parameters={"agreement": AGREEMENT_TEMPLATE},
                                   job_variables=None)],
        )
        return [zombies, resync]

    @staticmethod
    async def _reconcile(wanted: Any) -> dict[str, str]:
        from prefect.client.orchestration import get_client

        done: dict[str, str] = {}
        async with get_client() as client:
            for want in await wanted(client):
                stored = await client.read_automations_by_name(want.name)
                if not stored:
                    await client.create_automation(want)
                    done[want.name] = "created"
                    continue
                keep, *extra = stored  # the newest; duplicates of older versions go
                for old in extra:
                    await client.delete_automation(old.id)
                want.enabled = keep.enabled  # paused in the UI: stays paused
                if automation_key(keep) == automation_key(want):
                    done[want.name] = "kept"
                    continue
                # a PUT: what is not set here (tags, other actions) gets its default
                await client.update_automation(keep.id, want)
                done[want.name] = "updated"
        return done
    def start_worker(self, name: str = "phoihop-worker-1") -> None:
        self._spawn([sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL,
                     "--type", "process", "--name", name], f"{name}.log", name)

    def start_mail_sink(self) -> Path:
        """The demo's mailbox: every message as an .eml file under <data dir>/mail."""
        folder = self.settings.data_dir / "mail"
        self._spawn([sys.executable, "-m", "notifications.mailsink", str(folder),
                     str(self.settings.mail.port)], "mail-sink.log", "mail sink",
                    leftovers=True)
        return folder

    def start_portal(self, workers: int = 1) -> None:
        """`phoihop portal` in a process group of its own (`workers`: its uvicorn worker
        processes)."""
        self._spawn([sys.executable, "-m", "cli.main", "portal", "--port",
                     str(self.settings.portal_port), "--workers", str(workers)], "portal.log",
                    "portal", leftovers=True)

    def client_settings(self) -> dict[Any, Any]:
        """Prefect settings pointing this process's client at the stack, for
        `temporary_settings` where Prefect was imported (and its settings read) before."""
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL

        return {PREFECT_API_URL: self.env["PREFECT_API_URL"],
                PREFECT_API_AUTH_STRING: self.env["PREFECT_API_AUTH_STRING"]}

    def stop(self) -> None:
        for proc in reversed(self.processes):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
        for proc in reversed(self.processes):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.processes.clear()
        self.supervisor.children.clear()
        for k, v in self._saved_env.items():  # this process's environment as it was
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
