"""The main job on one machine: a local Prefect server, a process work pool and worker.

Everything runs from this checkout with embedded defaults: Prefect's own SQLite
database lives under `<data dir>/prefect`, analytics are off, the flow-run vacuum is on.
Deployments are few, one per flow type (ladder, review, sweep, sync); each agreement's work is
its own flow runs created by `sync`. Stopping (Ctrl-C) ends the worker, then the server;
starting again resumes from both databases.
"""

from __future__ import annotations

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

from config.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
POOL = "phoihop"
AUTOMATION = "phoihop: re-sync an agreement after a reply or an import"
AGREEMENT_TEMPLATE = "{{ event.resource['phoihop.agreement'] }}"
ZOMBIES = "phoihop: a run whose heartbeats stopped is Crashed"
HEARTBEAT_SECONDS = 60  # a heartbeat a minute is plenty here (Prefect's least is 30)
MISSED_HEARTBEATS = 3  # a run silent this many heartbeats is marked Crashed
FLOWS = (("ladder", "flows/ladder.py:ladder", None),
         ("review", "flows/review.py:review", None),
         ("sweep", "flows/ladder.py:sweep", "15 7 * * *"),  # daily catch-up, 07:15 local
         ("sync", "flows/sync.py:sync", "0 7 * * *"))  # daily reconcile, 07:00 local
# Runs of these are created by `sync` only, tens of thousands at a time, with parameters
# it builds itself: Prefect's server does not check them against the flow's parameter
# schema on creation (4 ms a run); the flow still validates them when it starts.
SYNC_CREATED = {"ladder", "review"}
# The work pool's base job template: the process worker's settings as fixed values, no
# per-deployment job variables. Prefect's server validates a run's job variables against
# the pool's variables schema on every run it creates, the schema itself included; with
# the process worker's default template that was 35 of the ~55 ms of server time a
# scheduled run cost (profiled, docs/performance.md), 1.6 ms with this one.
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


@dataclass
class LocalStack:
    settings: Settings
    port: int = 4200
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    heartbeat: int = HEARTBEAT_SECONDS  # seconds between a flow run's heartbeats
    # Prefect's API in this many processes, its services in one more: needs Prefect's
    # database on PostgreSQL (PREFECT_API_DATABASE_CONNECTION_URL) and Redis at redis_url
    api_workers: int = 1
    redis_url: str = "redis://127.0.0.1:6379/0"  # Settings.redis_url

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        out = open(self.settings.data_dir / log, "ab")  # noqa: SIM115 (owned by the child)
        proc = subprocess.Popen(args, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                cwd=ROOT, start_new_session=True)
        self.processes.append(proc)
        return proc

    def __post_init__(self) -> None:
        # Prefect reads its settings when first imported: point this process at the local
        # server before anything imports prefect.
        self.env = prefect_env(self.settings, self.port, self.heartbeat)
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

    def _serve(self, options: list[str], log: str) -> subprocess.Popen[bytes]:
        proc = self._spawn([sys.executable, "-m", "prefect", "server", "start", "--host",
                            "127.0.0.1", "--port", str(self.port), *options], log)
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
        first = self._serve(["--analytics-off", "--no-services"], "prefect-server.log")
        os.killpg(first.pid, signal.SIGINT)
        first.wait(timeout=60)
        self.processes.remove(first)
        self._serve(["--analytics-off", "--workers", str(self.api_workers)],
                    "prefect-server.log")
        self._spawn([sys.executable, "-m", "prefect", "server", "services", "start"],
                    "prefect-services.log")

    def deploy(self, timezone: str = "Asia/Ho_Chi_Minh") -> None:
        """One deployment per flow type, pulled by the process work pool."""
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
            with contextlib.redirect_stdout(io.StringIO()):  # Prefect's table per deployment
                loaded.deploy(name=name, work_pool_name=POOL, build=False, push=False,
                              schedules=schedules, print_next_steps=False,
                              ignore_warnings=True,
                              enforce_parameter_schema=name not in SYNC_CREATED)
        self.automate()

    def automate(self) -> None:
        """A reply or an amendment may move fire times: an automation on
        `phoihop.reply.recorded` and `phoihop.agreement.imported` runs `sync` for that
        agreement (visible, and pausable, in the UI's Automations page).

        A run whose process died (its worker killed, its machine gone, the worker stopped
        with SIGTERM or Ctrl-C) stays `Running` in Prefect for ever: Prefect does not notice
        by itself. A second automation, Prefect's own recipe for such "zombie" runs, marks a
        run `Crashed` once MISSED_HEARTBEATS heartbeats are missing; it is not retried (the
        next run or the daily sweep does its work, `docs/flows.md`). Both are re-created on
        every start, never duplicated."""
        import asyncio
        from datetime import timedelta

        from prefect.automations import Automation, EventTrigger, Posture, RunDeployment
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.objects import StateType
        from prefect.events.actions import ChangeFlowRunState
        from prefect.events.schemas.events import ResourceSpecification

        async def replace() -> None:
            async with get_client() as client:
                for name in (AUTOMATION, ZOMBIES):
                    for old in await client.read_automations_by_name(name):
                        await client.delete_automation(old.id)
                await Automation(
                    name=ZOMBIES,
                    description="Lần chạy mất tín hiệu được đánh dấu Crashed / a run whose "
                                "heartbeats stopped is marked Crashed",
                    trigger=EventTrigger(
                        after={"prefect.flow-run.heartbeat"},
                        expect={"prefect.flow-run.heartbeat", "prefect.flow-run.Completed",
                                "prefect.flow-run.Failed", "prefect.flow-run.Cancelled",
                                "prefect.flow-run.Crashed"},
                        match=ResourceSpecification({"prefect.resource.id":
                                                     ["prefect.flow-run.*"]}),
                        for_each={"prefect.resource.id"}, posture=Posture.Proactive,
                        threshold=1,
                        within=timedelta(seconds=MISSED_HEARTBEATS * self.heartbeat)),
                    actions=[ChangeFlowRunState(
                        name="Crashed", state=StateType.CRASHED, force=False,
                        message="Mất tín hiệu của lần chạy: tiến trình đã dừng / the run's "
                                "heartbeats stopped: its process died")],
                ).acreate()
                deployment = await client.read_deployment_by_name("sync/sync")
                await Automation(
                    name=AUTOMATION,
                    description="Đồng bộ lịch của chương trình khi có trả lời / re-sync an "
                                "agreement's schedule after a reply",
                    trigger=EventTrigger(expect={"phoihop.reply.recorded",
                                                 "phoihop.agreement.imported"},
                                         posture=Posture.Reactive, threshold=1),
                    actions=[RunDeployment(source="selected", deployment_id=deployment.id,
                                           parameters={"agreement": AGREEMENT_TEMPLATE},
                                           job_variables=None)],
                ).acreate()

        asyncio.run(replace())

    def start_worker(self, name: str = "phoihop-worker-1") -> None:
        self._spawn([sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL,
                     "--type", "process", "--name", name], f"{name}.log")

    def start_mail_sink(self) -> Path:
        """The demo's mailbox: every message as an .eml file under <data dir>/mail."""
        folder = self.settings.data_dir / "mail"
        self._spawn([sys.executable, "-m", "notifications.mailsink", str(folder),
                     str(self.settings.mail.port)], "mail-sink.log")
        return folder

    def start_portal(self, workers: int = 1) -> None:
        """`phoihop portal` in a process group of its own (`workers`: its uvicorn worker
        processes)."""
        self._spawn([sys.executable, "-m", "cli.main", "portal", "--port",
                     str(self.settings.portal_port), "--workers", str(workers)], "portal.log")

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
        for k, v in self._saved_env.items():  # this process's environment as it was
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
