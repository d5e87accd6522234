"""The reply portal under load (issue: the partner portal): replies from 50 concurrent clients.

The portal runs as `phoihop portal` runs it, in a process of its own (uvicorn, one
process, its masked access log on), on SQLite (a temporary file) and then on PostgreSQL
(127.0.0.1:5432/test, a fresh schema). Synthetic agreements are imported and every
obligation used gets a reply link of its own (`models.links.issue`, bound to the focal
contact of its party). Each client, over one keep-alive connection on loopback, takes
the next unused link, GETs the form (for its form nonce and HMAC form token) and POSTs a
valid reply (done, or in progress with a percentage, indicator values filled in); only
the POST is timed. Throughput counts acknowledged replies over the whole measured run,
GETs included. Afterwards the stored Reply rows are counted: one per acknowledged POST,
none lost, none duplicated (one per obligation, one per form nonce).

Rate limits stay on. All clients share 127.0.0.1, so the benchmark raises the per-address
limit (setting `portal_rate_per_address`) to 1,000,000 a minute: 50 partners would come
from 50 addresses. The per-link limit (60 a minute) is untouched: each link gets one GET
and one POST.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from pydantic import SecretStr

from benchmarks.core import PG_URL, row
from benchmarks.synthetic import generate
from config.bootstrap import App, bootstrap
from config.settings import Settings
from models.links import issue
from models.migrate import upgrade
from models.store import import_many
from models.tables import Contact, Obligation, Party, Reply

Row = dict[str, Any]
ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 50
REPLIES = 3000  # measured; plus WARMUP per client, not timed
WARMUP = 2
PER_ADDRESS = 1_000_000
FORM_FIELD = re.compile(r'name="(csrf|form_nonce)" value="([^"]+)"')
INDICATOR = re.compile(r'name="(v-[^"]+)"')
NAMES = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Cường", "Phạm Thị Dung"]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(app: App, links: int) -> list[str]:
    """Import enough synthetic agreements and issue one reply link per obligation used."""
    upgrade(app.engine)
    agreements = max(4, math.ceil(links / 30))  # 30-150 open obligations each
    import_many(app, list(generate(agreements, seed=20261124)))
    now = app.now()
    tokens: list[str] = []
    with app.session(write=True) as s:
        parties = Party.__table__.c  # type: ignore[attr-defined]
        contacts = Contact.__table__.c  # type: ignore[attr-defined]
        duties = Obligation.__table__.c  # type: ignore[attr-defined]
        focal = {(a, p): c for a, p, c in s.execute(
            sa.select(parties.agreement_id, parties.key, sa.func.min(contacts.id))
            .join(Contact.__table__, contacts.party_id == parties.id)  # type: ignore[attr-defined]
            .group_by(parties.agreement_id, parties.key))}
        rows = s.execute(sa.select(duties.id, duties.agreement_id, duties.party)
                         .where(duties.status == "open").order_by(duties.id)
                         .limit(links)).all()
        if len(rows) < links:
            raise RuntimeError(f"only {len(rows)} open obligations for {links} links")
        for oid, agreement_id, party in rows:
            tokens.append(issue(s, app.secret_key, purpose="reply", now=now,
                                expires_at=now + timedelta(days=30), obligation_id=oid,
                                contact_id=focal[(agreement_id, party)]).token)
    return tokens


@dataclass
class Server:
    """`phoihop portal` in a process of its own."""

    url: str
    directory: Path
    secret: str
    profile: Path | None = None
    per_address: int = PER_ADDRESS
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PHOIHOP_")}
        env |= {"PHOIHOP_DATABASE_URL": self.url, "PHOIHOP_DATA_DIR": str(self.directory),
                "PHOIHOP_SECRET_KEY": self.secret, "XDG_DATA_HOME": str(self.directory),
                "PHOIHOP_PORTAL_URL": f"http://127.0.0.1:{self.port}",
                "PHOIHOP_PORTAL_RATE_PER_ADDRESS": str(self.per_address)}
        command = [sys.executable, "-m", "cli.main", "portal", "--port", str(self.port)]
        if self.profile is not None:  # cProfile of the whole server process
            command[1:3] = ["-m", "benchmarks.profiled", str(self.profile), "cli.main"]
        self.log = open(self.directory / f"portal-{self.port}.log", "wb")
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(f"{self.base}/static/portal.css", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("the portal did not start: " + self.output()[-500:])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        """CPU seconds the server process has used (Linux /proc), all threads."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def output(self) -> str:
        return (self.directory / f"portal-{self.port}.log").read_text(errors="replace")

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds, measured POSTs
    acknowledged: int = 0
    failures: dict[str, int] = field(default_factory=dict)

    def fail(self, what: str) -> None:
        self.failures[what] = self.failures.get(what, 0) + 1


async def reply_once(client: httpx.AsyncClient, token: str, rng: random.Random, tally: Tally,
                     timed: bool) -> None:
    try:
        await post_reply(client, token, rng, tally, timed)
    except httpx.TransportError as exc:
        tally.fail(type(exc).__name__)


async def post_reply(client: httpx.AsyncClient, token: str, rng: random.Random, tally: Tally,
                     timed: bool) -> None:
    page = await client.get(f"/r/{token}")
    if page.status_code != 200:
        tally.fail(f"GET {page.status_code}")
        return
    form = dict(FORM_FIELD.findall(page.text))
    form |= {name: "10" for name in INDICATOR.findall(page.text)}
    form |= {"answered_by": rng.choice(NAMES), "note": "Đã triển khai theo kế hoạch."}
    if rng.random() < 0.7:
        form["status"] = "done"
    else:
        form |= {"status": "in_progress", "percent": str(rng.randint(0, 100))}
    started = time.perf_counter()
    answer = await client.post(f"/r/{token}", data=form)
    took = time.perf_counter() - started
    if answer.status_code == 200 and "Đã ghi nhận" in answer.text:
        tally.acknowledged += 1
        if timed:
            tally.latencies.append(took)
    else:
        tally.fail(f"POST {answer.status_code}")


async def load(server: Server, tokens: list[str], clients: int, warmup: int
               ) -> tuple[Tally, float, float]:
    """Warm-up (`warmup` replies per client, untimed), then the measured run: the tally,
    its wall seconds and the server's CPU seconds during it."""
    tally = Tally()
    queue = iter(tokens)

    async def client_loop(number: int, budget: int | None, timed: bool,
                          client: httpx.AsyncClient) -> None:
        rng = random.Random(number)
        done = 0
        while budget is None or done < budget:
            token = next(queue, None)
            if token is None:
                return
            await reply_once(client, token, rng, tally, timed)
            done += 1

    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    pool = [httpx.AsyncClient(base_url=server.base, limits=limits, timeout=60)
            for _ in range(clients)]
    try:
        await asyncio.gather(*(client_loop(i, warmup, False, c) for i, c in enumerate(pool)))
        started, cpu = time.perf_counter(), server.cpu()
        await asyncio.gather(*(client_loop(i, None, True, c) for i, c in enumerate(pool)))
        seconds, cpu = time.perf_counter() - started, server.cpu() - cpu
    finally:
        await asyncio.gather(*(c.aclose() for c in pool))
    return tally, seconds, cpu


def stored(app: App) -> tuple[int, int, int]:
    """Reply rows, distinct obligations among them, distinct form nonces among them."""
    with app.session() as s:
        replies = Reply.__table__.c  # type: ignore[attr-defined]
        return tuple(s.execute(sa.select(
            sa.func.count(), sa.func.count(sa.distinct(replies.obligation_id)),
            sa.func.count(sa.distinct(replies.submission)))).one())


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


def measure(label: str, url: str, directory: Path, clients: int, replies: int,
            profile: Path | None = None) -> list[Row]:
    secret = secrets.token_urlsafe(32)
    app = bootstrap(Settings(database_url=url, data_dir=directory,
                             secret_key=SecretStr(secret)),
                    clock=lambda: datetime.now(UTC))
    try:
        tokens = prepare(app, replies + clients * WARMUP)
        with Server(url, directory, secret, profile) as server:
            busy = os.getloadavg()[0]
            tally, seconds, cpu = asyncio.run(load(server, tokens, clients, WARMUP))
            errors = [line for line in server.output().splitlines()
                      if "Traceback" in line or "ERROR" in line]
        rows, obligations, nonces = stored(app)
    finally:
        app.engine.dispose()
    measured = len(tally.latencies)
    name = f"portal ({label}): {clients} clients"
    if not measured:
        return [row(f"{name}: replies", f"none acknowledged: {tally.failures}", "", False)]
    p50, p99 = percentile(tally.latencies, 50) * 1000, percentile(tally.latencies, 99) * 1000
    rate = measured / seconds
    lost, duplicated = max(0, tally.acknowledged - rows), rows - min(obligations, nonces)
    failures = ", ".join(f"{n} {what}" for what, n in sorted(tally.failures.items()))
    whole = rows == tally.acknowledged and duplicated == 0 and not tally.failures and not errors
    return [
        row(f"{name}: reply POST latency", f"p50 {p50:.0f} ms, p99 {p99:.0f} ms "
            f"({measured:,} POSTs)", "p99 ≤ 100 ms", p99 <= 100),
        row(f"{name}: replies per second (GET form + POST)",
            f"{rate:.0f}/s ({measured:,} in {seconds:.1f} s; server CPU {cpu / measured * 1000:.1f}"
            f" ms a reply; {os.cpu_count()} cores, load {busy:.1f} before)", "≥ 300/s",
            rate >= 300),
        row(f"{name}: stored replies vs acknowledged POSTs",
            f"{tally.acknowledged:,} acknowledged, {rows:,} stored: {lost} lost, "
            f"{duplicated} duplicated" + (f"; failed: {failures}" if failures else "")
            + (f"; {len(errors)} server errors logged" if errors else ""),
            "0 lost, 0 duplicated", whole),
    ]


def run(clients: int = CLIENTS, replies: int = REPLIES) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "sqlite").mkdir()
        rows += measure("SQLite", f"sqlite:///{directory / 'sqlite' / 'portal.db'}",
                        directory / "sqlite", clients, replies)
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(PG_URL)
        try:
            with admin.begin() as c:
                c.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        except sa.exc.OperationalError as exc:
            admin.dispose()
            return [*rows, row("portal (PostgreSQL)", "no server: " + str(exc)[:60], "", None)]
        (directory / "pg").mkdir()
        try:
            rows += measure("PostgreSQL", f"{PG_URL}?options=-csearch_path%3D{schema}",
                            directory / "pg", clients, replies)
        finally:
            with admin.begin() as c:
                c.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    return rows
