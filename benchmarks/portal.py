"""The reply portal under load (issue: the partner portal): replies from 50 concurrent clients.

The portal runs as `phoihop portal` runs it, in a process of its own (uvicorn, its masked
access log on), on SQLite (a temporary file) in one process, and then on PostgreSQL
(127.0.0.1:5432/test, a fresh schema) in one worker process a core, as `docs/deploy.md`
says to run it there (`PHOIHOP_BENCH_PORTAL_WORKERS` sets the processes of both).
Synthetic agreements are imported and every obligation used gets a reply link of its own
(`models.links.issue`, bound to the focal contact of its party). Three runs on the same
server, each by 50 concurrent clients on loopback (`Connection`: requests written and
responses read by hand, so that the clients, on the same two cores, take little of the
CPU the server is measured on). Every POST goes on a new connection, closed after its
response, as a partner's browser sends a form it showed minutes before (the server closed
that page's connection after its keep-alive timeout); its latency includes the connect.
GETs reuse a kept-alive connection where the client has one (the untimed form fetches of
runs 2 and 3; in run 1 each GET follows a POST that closed its connection). New
connections are also how the kernel spreads the work over `--workers` processes: 50
connections opened at once and kept alive mostly went to one process (measured
02/12/2026: that process at 1.0 core, the other idle).

1. GET form + POST: each client takes the next unused link, GETs the form (for its form
   nonce and HMAC form token) and POSTs a valid reply (done, or in progress with a
   percentage, indicator values filled in); only the POST is timed, and the throughput
   counts the GETs' time too.
2. Submissions, what the target names: the forms of as many new links are fetched first,
   untimed; then the 50 clients POST them back to back. Its latency and rate are the
   reply *submission* figures (POST only; the server's CPU counted during the POSTs).

3. Paced submissions: as 2, but the 50 clients submit on a fixed schedule, 300 a second
   in all (the target rate), latency counted from each POST's scheduled instant. With
   50 clients submitting back to back (2), the latency is queueing: by Little's law
   the mean is 50 / rate, so p99 ≤ 100 ms needs well over 500/s there; this run
   measures the latency at the rate the target names.

After each run the Reply rows it added are counted: one per acknowledged POST, none
lost, none duplicated (one per obligation, one per form nonce).

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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import sqlalchemy as sa
from pydantic import SecretStr

from benchmarks.core import NoPostgres, pg_schema, row
from benchmarks.synthetic import generate
from config.bootstrap import App, bootstrap
from config.settings import Settings
from models.links import issue
from models.migrate import upgrade
from models.tables import Contact, Obligation, Party, Reply
from services.imports import import_many

Row = dict[str, Any]
ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 50
REPLIES = 3000  # measured; plus WARMUP per client, not timed
WARMUP = 2
PER_ADDRESS = 1_000_000
TARGET_RATE = 300.0  # submissions a second the paced run offers
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
    workers: int = 1
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PHOIHOP_")}
        env |= {"PHOIHOP_DATABASE_URL": self.url, "PHOIHOP_DATA_DIR": str(self.directory),
                "PHOIHOP_SECRET_KEY": self.secret, "XDG_DATA_HOME": str(self.directory),
                "PHOIHOP_PORTAL_URL": f"http://127.0.0.1:{self.port}",
                "PHOIHOP_PORTAL_RATE_PER_ADDRESS": str(self.per_address)}
        command = [sys.executable, "-m", "cli.main", "portal", "--port", str(self.port)]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
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

    def cpu(self) -> dict[int, float]:
        """CPU seconds the server has used (Linux /proc), all threads, per process: the
        server's and its worker processes' (uvicorn --workers)."""
        assert self.process is not None
        stats = _proc_cpu()
        tree = {self.process.pid}
        for _ in range(3):  # children, grandchildren
            tree |= {pid for pid, (parent, _name, _cpu) in stats.items() if parent in tree}
        return {pid: stats[pid][2] for pid in tree if pid in stats}

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


def _proc_cpu(children: bool = False) -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command name, CPU seconds) of every process (Linux /proc);
    `children`: with the CPU of its children that exited (and were waited for)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, tail = (entry / "stat").read_text().rsplit(")", 1)
        except OSError:  # gone meanwhile
            continue
        fields = tail.split()
        used = int(fields[11]) + int(fields[12])
        if children:
            used += int(fields[13]) + int(fields[14])
        stats[int(entry.name)] = (int(fields[1]), head.split("(", 1)[1], used / tick)
    return stats


def postgres_cpu() -> float:
    """CPU seconds of every `postgres` process on the machine: the server's own
    processes and its backends, with the backends that exited (the postmaster's children:
    a connection closed by the pool takes its backend with it)."""
    return sum(cpu for _parent, name, cpu in _proc_cpu(children=True).values()
               if name == "postgres")


@dataclass
class Split:
    """Where the cores went during a run: CPU seconds of the portal process(es), of
    PostgreSQL's processes and of this benchmark process (the clients), and wall seconds."""

    portal: float = 0.0
    postgres: float = 0.0
    processes: tuple[float, ...] = ()  # the portal's CPU seconds, process by process
    client: float = 0.0
    machine: float = 0.0  # all CPUs busy time (/proc/stat), everything on the machine

    def text(self, seconds: float, replies: int) -> str:
        if not seconds or not replies:
            return ""
        per = "; ".join(f"{what} {cpu / seconds:.2f} cores ({cpu / replies * 1000:.1f} ms a reply)"
                        for what, cpu in (("portal", self.portal), ("PostgreSQL", self.postgres),
                                          ("clients", self.client)) if cpu)
        busy = [cpu for cpu in self.processes if cpu >= 0.01 * seconds]
        if len(busy) > 1:  # uvicorn's workers: how evenly they shared the work
            per += " (portal processes " + " + ".join(f"{cpu / seconds:.2f}"
                                                      for cpu in busy) + ")"
        return f"CPU: {per}; machine {self.machine / seconds:.2f} of {os.cpu_count()} cores"


def machine_busy() -> float:
    """CPU seconds all CPUs spent not idle (/proc/stat), since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_now(server: Server) -> Split:
    """PostgreSQL's processes counted on PostgreSQL only (other work may use the server)."""
    on_postgres = server.url.startswith("postgresql")
    each = server.cpu()
    return Split(sum(each.values()), postgres_cpu() if on_postgres else 0.0,
                 tuple(each[pid] for pid in sorted(each)), time.process_time(),
                 machine_busy())


def cpu_since(server: Server, start: Split) -> Split:
    end = cpu_now(server)
    return Split(end.portal - start.portal, end.postgres - start.postgres,
                 tuple(b - a for a, b in zip(start.processes, end.processes, strict=False)),
                 end.client - start.client, end.machine - start.machine)


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds, measured POSTs
    acknowledged: int = 0
    failures: dict[str, int] = field(default_factory=dict)

    def fail(self, what: str) -> None:
        self.failures[what] = self.failures.get(what, 0) + 1


TRANSPORT = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)


class Connection:
    """One client's HTTP/1.1 connection to the portal on loopback (kept alive unless a
    request asks for its own): requests written and responses read by hand over asyncio
    streams. httpx cost the clients 1.4-3.7 ms of CPU a submission (measured 02/12/2026),
    on the same two cores as the server it measures; the rate rows' "clients" column shows
    what this costs (0.2-0.6 ms). Reconnects after a `Connection: close` or a failure
    (`TRANSPORT`, which the caller counts)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, path: str, body: bytes = b"", close: bool = False
                      ) -> tuple[int, str]:
        """(status, body text) of one request; `body` is an urlencoded form (POST);
        `close`: on a new connection, closed after the response (a browser's POST of a
        form it showed minutes before: the server closed that page's connection after its
        keep-alive timeout, 5 s in uvicorn)."""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
        if close:  # a connection of its own, closed after the response
            self.close()
            head += "Connection: close\r\n"
        if method == "POST":
            head += ("Content-Type: application/x-www-form-urlencoded\r\n"
                     f"Content-Length: {len(body)}\r\n")
        try:
            async with asyncio.timeout(60):
                if self.streams is None:
                    self.streams = await asyncio.open_connection("127.0.0.1", self.port)
                reader, writer = self.streams
                writer.write(head.encode() + b"\r\n" + body)
                status, headers = self._head(await reader.readuntil(b"\r\n\r\n"))
                if headers.get("transfer-encoding") == "chunked":
                    data = b""
                    while size := int((await reader.readuntil(b"\r\n"))[:-2], 16):
                        data += (await reader.readexactly(size + 2))[:-2]
                    await reader.readuntil(b"\r\n")
                else:
                    data = await reader.readexactly(int(headers.get("content-length", "0")))
        except BaseException:
            self.close()
            raise
        if headers.get("connection") == "close":
            self.close()
        return status, data.decode()

    @staticmethod
    def _head(raw: bytes) -> tuple[int, dict[str, str]]:
        status_line, *lines = raw[:-4].decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        return int(status_line.split(" ", 2)[1]), headers

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


def connections(server: Server, clients: int) -> list[Connection]:
    return [Connection(server.port) for _ in range(clients)]


async def reply_once(client: Connection, token: str, rng: random.Random, tally: Tally,
                     timed: bool) -> None:
    try:
        await post_reply(client, token, rng, tally, timed)
    except TRANSPORT as exc:
        tally.fail(type(exc).__name__)


async def post_reply(client: Connection, token: str, rng: random.Random, tally: Tally,
                     timed: bool) -> None:
    form = await fetch_form(client, token, rng, tally)
    if form is not None:
        await submit(client, token, form, tally, timed)


async def fetch_form(client: Connection, token: str, rng: random.Random, tally: Tally
                     ) -> bytes | None:
    """GET a link's form and fill it in as a partner would (a valid reply), urlencoded."""
    status, text = await client.request("GET", f"/r/{token}")
    if status != 200:
        tally.fail(f"GET {status}")
        return None
    form = dict(FORM_FIELD.findall(text))
    form |= {name: "10" for name in INDICATOR.findall(text)}
    form |= {"answered_by": rng.choice(NAMES), "note": "Đã triển khai theo kế hoạch."}
    if rng.random() < 0.7:
        form["status"] = "done"
    else:
        form |= {"status": "in_progress", "percent": str(rng.randint(0, 100))}
    return urlencode(form).encode()


def acknowledged(status: int, text: str) -> bool:
    return status == 200 and "Đã ghi nhận" in text


async def submit(client: Connection, token: str, form: bytes, tally: Tally, timed: bool
                 ) -> None:
    started = time.perf_counter()
    status, text = await client.request("POST", f"/r/{token}", form, close=True)
    took = time.perf_counter() - started
    if acknowledged(status, text):
        tally.acknowledged += 1
        if timed:
            tally.latencies.append(took)
    else:
        tally.fail(f"POST {status}")


async def load(server: Server, tokens: list[str], clients: int, warmup: int
               ) -> tuple[Tally, float, Split]:
    """Warm-up (`warmup` replies per client, untimed), then the measured run: the tally,
    its wall seconds and the server's CPU seconds during it."""
    tally = Tally()
    queue = iter(tokens)

    async def client_loop(number: int, budget: int | None, timed: bool,
                          client: Connection) -> None:
        rng = random.Random(number)
        done = 0
        while budget is None or done < budget:
            token = next(queue, None)
            if token is None:
                return
            await reply_once(client, token, rng, tally, timed)
            done += 1

    pool = connections(server, clients)
    try:
        await asyncio.gather(*(client_loop(i, warmup, False, c) for i, c in enumerate(pool)))
        started, cpu = time.perf_counter(), cpu_now(server)
        await asyncio.gather(*(client_loop(i, None, True, c) for i, c in enumerate(pool)))
        seconds, cpu = time.perf_counter() - started, cpu_since(server, cpu)
    finally:
        for c in pool:
            c.close()
    return tally, seconds, cpu


async def fetch_forms(pool: list[Connection], tokens: list[str], seed: int, tally: Tally
                      ) -> list[tuple[str, bytes]]:
    """Every link's form, fetched and filled in by the clients (untimed)."""
    forms: list[tuple[str, bytes]] = []
    fetch = iter(tokens)

    async def fetcher(number: int, client: Connection) -> None:
        rng = random.Random(seed + number)
        for token in fetch:
            try:
                form = await fetch_form(client, token, rng, tally)
            except TRANSPORT as exc:
                tally.fail(type(exc).__name__)
                continue
            if form is not None:
                forms.append((token, form))

    await asyncio.gather(*(fetcher(i, c) for i, c in enumerate(pool)))
    return forms


async def submissions(server: Server, tokens: list[str], clients: int
                      ) -> tuple[Tally, float, Split]:
    """What the target names: reply submissions. Every link's form is fetched first,
    untimed (the same 50 clients, one GET per link); then the 50 clients POST the filled
    forms back to back. The tally, the submitting run's wall seconds and the server's CPU
    seconds during it (GETs excluded)."""
    tally = Tally()
    pool = connections(server, clients)

    async def submitter(client: Connection) -> None:
        for token, form in post:
            try:
                await submit(client, token, form, tally, True)
            except TRANSPORT as exc:
                tally.fail(type(exc).__name__)

    try:
        post = iter(await fetch_forms(pool, tokens, 1000, tally))
        started, cpu = time.perf_counter(), cpu_now(server)
        await asyncio.gather(*(submitter(c) for c in pool))
        seconds, cpu = time.perf_counter() - started, cpu_since(server, cpu)
    finally:
        for c in pool:
            c.close()
    return tally, seconds, cpu


async def paced(server: Server, tokens: list[str], clients: int, rate: float
                ) -> tuple[Tally, float, Split]:
    """Submissions at the target's rate: forms fetched untimed, then the 50 clients
    submit on a fixed schedule, `rate` a second in all (each client every clients/rate
    seconds, staggered). Latency is counted from the scheduled instant, so a client that
    falls behind counts its wait (no coordinated omission)."""
    tally = Tally()
    pool = connections(server, clients)

    async def submitter(number: int, client: Connection, start: float) -> None:
        for k, (token, form) in enumerate(forms[number::clients]):
            due = start + (k * clients + number) / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            try:
                status, text = await client.request("POST", f"/r/{token}", form,
                                                    close=True)
            except TRANSPORT as exc:
                tally.fail(type(exc).__name__)
                continue
            if acknowledged(status, text):
                tally.acknowledged += 1
                tally.latencies.append(time.perf_counter() - due)
            else:
                tally.fail(f"POST {status}")

    try:
        forms = await fetch_forms(pool, tokens, 2000, tally)
        started, cpu = time.perf_counter(), cpu_now(server)
        await asyncio.gather(*(submitter(i, c, started) for i, c in enumerate(pool)))
        seconds, cpu = time.perf_counter() - started, cpu_since(server, cpu)
    finally:
        for c in pool:
            c.close()
    return tally, seconds, cpu


def stored(app: App) -> tuple[int, int, int]:
    """Reply rows, distinct obligations among them, distinct form nonces among them."""
    with app.session() as s:
        replies = Reply.__table__.c  # type: ignore[attr-defined]
        return tuple(s.execute(sa.select(
            sa.func.count(), sa.func.count(sa.distinct(replies.obligation_id)),
            sa.func.count(sa.distinct(replies.submission)))).one())


def whole_row(name: str, tally: Tally, before: tuple[int, int, int],
              after: tuple[int, int, int], errors: list[str]) -> Row:
    """Stored vs acknowledged for one phase: the Reply rows it added, one per acknowledged
    POST, one per obligation, one per form nonce."""
    rows, obligations, nonces = (a - b for a, b in zip(after, before, strict=True))
    lost, duplicated = max(0, tally.acknowledged - rows), rows - min(obligations, nonces)
    failures = ", ".join(f"{n} {what}" for what, n in sorted(tally.failures.items()))
    whole = rows == tally.acknowledged and duplicated == 0 and not tally.failures and not errors
    return row(f"{name}: stored replies vs acknowledged POSTs",
               f"{tally.acknowledged:,} acknowledged, {rows:,} stored: {lost} lost, "
               f"{duplicated} duplicated" + (f"; failed: {failures}" if failures else "")
               + (f"; {len(errors)} server errors logged" if errors else ""),
               "0 lost, 0 duplicated", whole)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


def measure(label: str, url: str, directory: Path, clients: int, replies: int,
            profile: Path | None = None, submissions_count: int | None = None,
            workers: int = 1) -> tuple[list[Row], list[Row]]:
    """(rows of the GET form + POST run, rows of the POST-only submissions run)."""
    sub = replies if submissions_count is None else submissions_count
    secret = secrets.token_urlsafe(32)
    app = bootstrap(Settings(database_url=url, data_dir=directory,
                             secret_key=SecretStr(secret)),
                    clock=lambda: datetime.now(UTC))
    first = replies + clients * WARMUP
    pace = sub // 2  # the paced run: half as many submissions (10 s at 300/s)
    try:
        tokens = prepare(app, first + sub + pace)
        empty = stored(app)
        with Server(url, directory, secret, profile, workers=workers) as server:
            busy = os.getloadavg()[0]
            tally, seconds, cpu = asyncio.run(load(server, tokens[:first], clients, WARMUP))
            middle = stored(app)
            sub_busy = os.getloadavg()[0]
            sub_tally, sub_seconds, sub_cpu = asyncio.run(
                submissions(server, tokens[first:first + sub], clients)) if sub \
                else (Tally(), 0.0, Split())
            after_sub = stored(app)
            pace_busy = os.getloadavg()[0]
            pace_tally, pace_seconds, pace_cpu = asyncio.run(
                paced(server, tokens[first + sub:], clients, TARGET_RATE)) if pace \
                else (Tally(), 0.0, Split())
            errors = [line for line in server.output().splitlines()
                      if "Traceback" in line or "ERROR" in line]
        end = stored(app)
    finally:
        app.engine.dispose()
    measured = len(tally.latencies)
    setup = f"{clients} clients" + (f", {workers} workers" if workers > 1 else "")
    name = f"portal ({label}): {setup}"
    if not measured:
        return [row(f"{name}: replies", f"none acknowledged: {tally.failures}", "",
                    False)], []
    p50, p99 = percentile(tally.latencies, 50) * 1000, percentile(tally.latencies, 99) * 1000
    rate = measured / seconds
    cores = os.cpu_count()
    first_rows = [
        row(f"{name}: reply POST latency", f"p50 {p50:.0f} ms, p99 {p99:.0f} ms "
            f"({measured:,} POSTs)", "p99 ≤ 100 ms", p99 <= 100),
        row(f"{name}: replies per second (GET form + POST)",
            f"{rate:.0f}/s ({measured:,} in {seconds:.1f} s; server CPU "
            f"{cpu.portal / measured * 1000:.1f} ms a reply; {cores} cores, load {busy:.1f} "
            f"before; {cpu.text(seconds, measured)})", "≥ 300/s",
            rate >= 300),
        whole_row(name, tally, empty, middle, errors),
    ]
    if not sub:
        return first_rows, []
    done = len(sub_tally.latencies)
    if not done:
        return first_rows, [row(f"{name}: submissions", f"none acknowledged: "
                                f"{sub_tally.failures}", "", False)]
    s50 = percentile(sub_tally.latencies, 50) * 1000
    s99 = percentile(sub_tally.latencies, 99) * 1000
    sub_rate = done / sub_seconds
    paced_rows = []
    if pace_tally.latencies:
        p_50 = percentile(pace_tally.latencies, 50) * 1000
        p_99 = percentile(pace_tally.latencies, 99) * 1000
        got = len(pace_tally.latencies) / pace_seconds
        paced_rows = [
            row(f"{name}: submission latency at {TARGET_RATE:.0f}/s offered (paced, POST only)",
                f"p50 {p_50:.0f} ms, p99 {p_99:.0f} ms ({len(pace_tally.latencies):,} POSTs, "
                f"{got:.0f}/s achieved; load {pace_busy:.1f} before; "
                f"{pace_cpu.text(pace_seconds, len(pace_tally.latencies))})", "p99 ≤ 100 ms",
                p_99 <= 100),
            whole_row(f"{name}: paced submissions", pace_tally, after_sub, end, errors),
        ]
    return first_rows, [
        row(f"{name}: reply submission latency (POST only, forms fetched untimed before)",
            f"p50 {s50:.0f} ms, p99 {s99:.0f} ms ({done:,} POSTs)", "p99 ≤ 100 ms", s99 <= 100),
        row(f"{name}: reply submissions per second (POST only)",
            f"{sub_rate:.0f}/s ({done:,} in {sub_seconds:.1f} s; server CPU "
            f"{sub_cpu.portal / done * 1000:.1f} ms a submission; {cores} cores, load "
            f"{sub_busy:.1f} before; {sub_cpu.text(sub_seconds, done)})", "≥ 300/s",
            sub_rate >= 300),
        whole_row(f"{name}: submissions", sub_tally, middle, after_sub, errors),
        *paced_rows,
    ]


def run(clients: int = CLIENTS, replies: int = REPLIES, workers: int | None = None,
        backends: str | None = None) -> list[Row]:
    """Both backends: first the GET form + POST rows of each, then the POST-only
    submission rows of each (`backends`: PHOIHOP_BENCH_PORTAL_BACKENDS, "sqlite,postgresql"
    by default, one of them to measure only that one). Each backend as it is deployed
    (`docs/deploy.md`): SQLite in one process (`phoihop portal`), PostgreSQL in one process
    a core (`phoihop portal --workers N`, `scripts/scale-out.sh`); `workers`
    (PHOIHOP_BENCH_PORTAL_WORKERS) sets the processes of both."""
    chosen_workers = workers or int(os.environ.get("PHOIHOP_BENCH_PORTAL_WORKERS", "0"))
    sqlite_workers = chosen_workers or 1
    postgres_workers = chosen_workers or os.cpu_count() or 1
    if backends is None:
        backends = os.environ.get("PHOIHOP_BENCH_PORTAL_BACKENDS", "sqlite,postgresql")
    chosen = {b.strip().lower() for b in backends.split(",") if b.strip()}
    if not chosen or chosen - {"sqlite", "postgresql"}:
        raise ValueError(f"PHOIHOP_BENCH_PORTAL_BACKENDS: sqlite and/or postgresql, not "
                         f"{backends!r}")
    first: list[Row] = []
    second: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        if "sqlite" in chosen:
            (directory / "sqlite").mkdir()
            a, b = measure("SQLite", f"sqlite:///{directory / 'sqlite' / 'portal.db'}",
                           directory / "sqlite", clients, replies, workers=sqlite_workers)
            first, second = first + a, second + b
        if "postgresql" not in chosen:
            return first + second
        (directory / "pg").mkdir()
        try:
            with pg_schema() as url:
                a, b = measure("PostgreSQL", url, directory / "pg", clients, replies,
                               workers=postgres_workers)
        except NoPostgres as exc:
            return [*first, row("portal (PostgreSQL)", "no server: " + str(exc)[:60], "",
                                None), *second]
        first, second = first + a, second + b
    return first + second
