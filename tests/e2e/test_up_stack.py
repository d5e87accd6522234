"""`phoihop up` for real, as a coordinator starts it: a Prefect server, worker, portal and a
mail server. One stack for the module, then each test looks at it as its user would:

- `up` checks itself (✓ per line) and `phoihop doctor` says the same, or ✗ with the log to read;
- Prefect's own services work: the scheduler creates the sweep's and the daily sync's cron
  runs, the late-runs service marks a run Late and our flow skips one 20 hours late;
- Prefect's API is closed: a cross-origin web page, or a request without credentials or a
  CSRF token, creates nothing and the worker runs nothing; nothing listens beyond loopback;
- a reply and a decision through the portal reach the mail server within a minute, through
  Prefect (their events, the `deliver` deployment's automation), with no ladder or sweep run;
- the UI (signed in) shows an agreement's upcoming runs and its artifacts in Chromium;
- Prefect's server log holds no ERROR; Ctrl-C stops everything cleanly.
The tests run in file order; the last one stops the stack.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TH, assert_no_server_errors
from tests.e2e.browser import ARGS, CHROMIUM, OUT, need_chromium
from tests.fault_restarts import descendants
from tests.prefect_api import api_post, auth_header, csrf_headers, sign_in_script
from tests.smtp_sink import Sink, SmtpServer, free_port

CODE = "TH-KHKT-2024-2030"
EVIL = "http://evil.example"


@dataclass
class Up:
    proc: subprocess.Popen[str]
    ui: str
    api: str
    port: int
    data: Path
    lines: list[str]
    auth: str
    env: dict[str, str]
    sink: Sink

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return api_post(self.api, path, body, self.auth)

    def runs(self, deployment: str, **flow_runs: Any) -> list[dict[str, Any]]:
        return self.post("flow_runs/filter", {
            "deployments": {"name": {"any_": [deployment]}}, "flow_runs": flow_runs,
            "sort": "EXPECTED_START_TIME_ASC", "limit": 50, "offset": 0})


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    data = tmp_path_factory.mktemp("up")
    port, portal = free_port(), free_port()
    with SmtpServer() as smtp:
        env = {**os.environ, "PHOIHOP_DATA_DIR": str(data), "PHOIHOP_PORTAL_PORT": str(portal),
               "PHOIHOP_PORTAL_URL": f"http://127.0.0.1:{portal}", "COLUMNS": "200",
               "PHOIHOP_MAIL__PORT": str(smtp.port)}
        for k in ("PHOIHOP_DATABASE_URL", "PHOIHOP_CONFIG", "PREFECT_API_URL",
                  "PREFECT_API_AUTH_STRING", "PREFECT_SERVER_API_AUTH_STRING"):
            env.pop(k, None)
        proc = subprocess.Popen([sys.executable, "-m", "cli.main", "up", str(TH), "--port",
                                 str(port)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        lines: list[str] = []
        deadline = time.monotonic() + 240
        assert proc.stdout is not None
        while time.monotonic() < deadline and proc.poll() is None:
            lines.append(proc.stdout.readline())
            if "Ctrl-C" in lines[-1]:
                break
        try:
            assert proc.poll() is None and "Ctrl-C" in lines[-1], "".join(lines)[-3000:]
            ui = f"http://127.0.0.1:{port}"
            yield Up(proc, ui, f"{ui}/api", port, data, lines,
                     (data / "prefect-auth").read_text().strip(), env, smtp.sink)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
                proc.wait(timeout=60)


def test_up_checks_itself_and_says_so_in_vietnamese(up: Up) -> None:
    said = "".join(up.lines)
    assert "Kiểm tra hệ thống:" in said, said
    checks = [ln for ln in up.lines if ln.startswith(("✓", "✗"))]
    assert [c[0] for c in checks] == ["✓"] * 5, said
    for words in ("Cơ sở dữ liệu ở bản cấu trúc mới nhất", "Máy chủ thư", "Cổng trả lời phản hồi",
                  "Worker đang nhận việc", "Bộ lập lịch của Prefect đã tạo lần quét tới"):
        assert any(words in c for c in checks), (words, checks)
    assert "prefect-auth" in said  # where the coordinator finds the UI's sign-in


def test_the_scheduler_creates_the_sweep_and_sync_cron_runs(up: Up) -> None:
    now = datetime.now(UTC)
    for deployment, local_time in (("sweep", "07:15"), ("sync", "07:00")):
        runs = up.runs(deployment, state={"type": {"any_": ["SCHEDULED"]}})
        upcoming = [r for r in runs
                    if datetime.fromisoformat(r["expected_start_time"]) > now]
        assert upcoming, f"Prefect's scheduler created no {deployment} run: {runs}"
        first = datetime.fromisoformat(upcoming[0]["expected_start_time"])
        assert first < now + timedelta(days=1, minutes=1)
        hanoi = first.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Ho_Chi_Minh"))
        assert f"{hanoi:%H:%M}" == local_time, first


def _doctor(up: Up, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", "doctor", *args],
                          env={**up.env, **env}, capture_output=True, text=True, timeout=120)


def test_doctor_is_all_ticks_against_the_running_stack(up: Up) -> None:
    done = _doctor(up, "--port", str(up.port))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 5 and all(ln.startswith("✓ ") for ln in lines), done.stdout
    english = _doctor(up, "--port", str(up.port), PHOIHOP_LANGUAGE="en")
    assert "✓ Prefect's scheduler created the next sweep" in english.stdout, english.stdout


def test_doctor_names_the_log_and_exits_1_when_prefect_is_not_there(up: Up) -> None:
    done = _doctor(up, "--port", str(free_port()))
    assert done.returncode == 1, done.stdout + done.stderr
    failed = [ln for ln in done.stdout.splitlines() if ln.startswith("✗ ")]
    assert len(failed) == 2, done.stdout  # the worker and the scheduler
    assert all(str(up.data) in ln for ln in failed), failed  # the log to read
    assert "Traceback" not in done.stdout + done.stderr
    assert "Có kiểm tra không đạt" in done.stderr


def test_sync_from_another_terminal_uses_the_stacks_credentials(up: Up) -> None:
    """A coordinator's `phoihop sync` beside the running `up`: PREFECT_API_URL set, the
    credentials read from the data dir's prefect-auth."""
    env = {**up.env, "PREFECT_API_URL": up.api}
    env.pop("PREFECT_API_AUTH_STRING", None)
    done = subprocess.run([sys.executable, "-m", "cli.main", "sync"], env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Kế hoạch" in done.stdout and "Traceback" not in done.stdout + done.stderr


def _count(up: Up) -> tuple[int, int, int]:
    return (len(up.post("flows/filter", {"limit": 200, "offset": 0})),
            len(up.post("deployments/filter", {"limit": 200, "offset": 0})),
            len(up.post("flow_runs/filter", {"limit": 200, "offset": 0})))


def _raw(url: str, body: dict[str, Any] | None, headers: dict[str, str],
         method: str = "POST") -> tuple[int, dict[str, str]]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


ATTACK_PAGE = """<!doctype html><html><body><script>
const api = %(api)s;
const marker = %(marker)s;
async function attack() {
  const out = [];
  const inits = [{mode: "no-cors"}, {mode: "cors"}, {mode: "no-cors", credentials: "include"}];
  for (const init of inits) {
    try {
      const r = await fetch(api + "/flows/", {
        method: "POST", body: JSON.stringify({name: "evil-flow"}),
        headers: {"content-type": "text/plain"}, ...init});
      out.push(r.type + ":" + r.status);
    } catch (e) { out.push("refused:" + e.name); }
  }
  try {
    const r = await fetch(api + "/flows/", {method: "POST", mode: "cors",
      body: JSON.stringify({name: "evil-flow"}),
      headers: {"content-type": "application/json",
                "authorization": "Basic " + btoa("phoihop:guess")}});
    out.push("guess:" + r.status);
  } catch (e) { out.push("guess-refused:" + e.name); }
  document.title = "done " + out.join(",");
}
attack();
</script></body></html>"""


def test_a_web_page_of_another_origin_cannot_use_prefects_api(up: Up, tmp_path: Path) -> None:
    """The attack of issue 14: a page the coordinator visits posts to 127.0.0.1:4200 (a form
    post needs no CORS preflight), creating a flow, then a deployment whose pull step runs a
    shell command, then a run. With phoihop's settings every step is refused and the worker
    runs nothing."""
    need_chromium()
    before = _count(up)
    marker = tmp_path / "pwned"
    # 1. plain requests with a forged Origin, with and without credentials or a CSRF token
    flow = {"name": "evil-flow"}
    for headers in ({"Origin": EVIL, "content-type": "text/plain"},
                    {"content-type": "application/json"},
                    {"Origin": EVIL, "content-type": "application/json",
                     **auth_header("phoihop:guess")}):
        status, answer = _raw(f"{up.api}/flows/", flow, headers)
        assert status in (401, 403), (headers, status)  # no CSRF token or no credentials
        assert answer.get("access-control-allow-origin") in (None, up.ui), answer
    # the right credentials but no CSRF token (what a page riding a signed-in session lacks)
    status, _ = _raw(f"{up.api}/flows/", flow, {"Origin": EVIL, **auth_header(up.auth),
                                                  "content-type": "application/json"})
    assert status == 403
    # a CORS preflight from the other origin is not allowed
    status, answer = _raw(f"{up.api}/flows/", None, {
        "Origin": EVIL, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,authorization"}, method="OPTIONS")
    assert answer.get("access-control-allow-origin") not in ("*", EVIL), (status, answer)
    # the deployment with a shell pull step, and a run of it, refused the same way
    deployment = {"name": "evil", "flow_id": "00000000-0000-0000-0000-000000000000",
                  "work_pool_name": "phoihop", "entrypoint": "x.py:f",
                  "pull_steps": [{"prefect.deployments.steps.run_shell_script":
                                  {"script": f"touch {marker}"}}]}
    for path in ("deployments/", "deployments/00000000-0000-0000-0000-000000000000/"
                 "create_flow_run"):
        status, _ = _raw(f"{up.api}/{path}", deployment, {"Origin": EVIL,
                                                          "content-type": "text/plain"})
        assert status in (401, 403)

    # 2. a real page of another origin in Chromium, as the coordinator's browser runs it
    page_dir = tmp_path / "site"
    page_dir.mkdir()
    (page_dir / "index.html").write_text(ATTACK_PAGE % {"api": json.dumps(up.api),
                                                        "marker": json.dumps(str(marker))})
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(  # noqa: E731
        *a, directory=str(page_dir), **k)
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            # the coordinator is signed in to the UI in this browser
            page.goto(up.ui)
            page.evaluate(sign_in_script(up.auth))
            page.goto(f"http://localhost:{site.server_address[1]}/index.html")
            page.wait_for_function("document.title.startsWith('done')", timeout=30_000)
            title = page.title()
            browser.close()
    finally:
        site.shutdown()
    assert "guess:" not in title or "guess:401" in title, title
    time.sleep(3)  # anything the worker would have picked up
    assert _count(up) == before, "the attack created something in Prefect"
    assert not marker.exists()
    names = {f["name"] for f in up.post("flows/filter", {"limit": 200, "offset": 0})}
    assert "evil-flow" not in names


def _listening(pids: set[int]) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN that one of `pids` holds."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for row in Path(table).read_text().splitlines()[1:]:
            cols = row.split()
            if cols[3] != "0A" or cols[9] not in inodes:
                continue
            hexaddr, hexport = cols[1].split(":")
            raw = bytes.fromhex(hexaddr)
            if width == 8:
                addr = ".".join(str(b) for b in raw[::-1])
            else:  # four little-endian 32-bit words
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                addr = ":".join(words[i:i + 2].hex() for i in range(0, 16, 2))
            found.append((addr, int(hexport, 16)))
    return found


def test_nothing_listens_beyond_loopback(up: Up) -> None:
    sockets = _listening({up.proc.pid, *descendants(up.proc.pid)})
    ports = {port for _, port in sockets}
    assert up.port in ports and int(up.env["PHOIHOP_PORTAL_PORT"]) in ports, sockets
    loopback = ("127.", "0000:0000:0000:0000:0000:0000:0000:0001",
                "0000:0000:0000:0000:0000:ffff:7f")
    assert all(addr.startswith(loopback) for addr, _ in sockets), sockets


def _state(up: Up, run_id: str) -> tuple[str, str]:
    req = urllib.request.Request(f"{up.api}/flow_runs/{run_id}", headers=auth_header(up.auth))
    with urllib.request.urlopen(req, timeout=10) as r:
        run = json.loads(r.read())
    return run["state_type"], run["state_name"]


def _mail(up: Up, subject: str, to: str, since: int = 0) -> list[Any]:
    """Messages the mail server took (from the `since`-th on) whose subject holds `subject`,
    addressed to `to`."""
    return [m for m in up.sink.messages[since:]
            if subject in str(m["Subject"]) and to in str(m["To"])]


def _wait_mail(up: Up, subject: str, to: str, count: int = 1, since: int = 0,
               seconds: float = 60) -> tuple[list[Any], float]:
    """The messages once `count` of them arrived, and how long it took (fails after
    `seconds`)."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        found = _mail(up, subject, to, since)
        if len(found) >= count:
            return found, time.monotonic() - start
        time.sleep(0.25)
    raise AssertionError(f"{subject!r} to {to}: {len(_mail(up, subject, to, since))} of "
                         f"{count} within {seconds:.0f} s; the mail server took "
                         f"{[str(m['Subject']) for m in up.sink.messages[since:]]}")


def _portal_form(client: Any, path: str) -> dict[str, str]:
    import re

    page = client.get(path)
    assert page.status_code == 200, page.text[:300]
    return {name: re.search(rf'name="{name}" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
            for name in ("csrf", "form_nonce")}


def test_replies_and_decisions_are_delivered_within_a_minute(up: Up) -> None:
    """Issue #17: a partner answers through the portal and gets the receipt within a minute,
    and the coordinator the submission with its decision links, with no ladder or sweep run:
    the reply's event starts a run of the `deliver` deployment through its automation. The
    coordinator accepts through the link in that e-mail and the partner hears within a
    minute. Two quick replies get one receipt each; every Message-ID arrives once; the
    events of a window make one run ("Gửi thư ngay"), Completed."""
    import re

    import httpx
    from sqlmodel import select

    from config.bootstrap import bootstrap
    from config.settings import Settings
    from models.links import issue
    from models.tables import Contact, Obligation, Party

    app = bootstrap(Settings(data_dir=up.data, database_url=f"sqlite:///{up.data / 'phoihop.db'}"))
    tokens: dict[str, tuple[str, str]] = {}  # party -> (reply link token, focal's address)
    with app.session(write=True) as s:
        for party in ("btg-tu", "so-gddt"):  # a report without indicators for `done`
            o = next(o for o in s.exec(select(Obligation).where(
                Obligation.party == party, Obligation.status == "open").order_by(
                Obligation.due)) if party != "btg-tu" or "/tuyen-truyen/" in o.key)
            focal = s.exec(select(Contact).join(Party, Party.id == Contact.party_id).where(
                Party.key == party, Party.agreement_id == o.agreement_id,
                Contact.role == "focal")).one()
            tokens[party] = (issue(s, app.secret_key, purpose="reply", now=app.now(),
                                   expires_at=o.deadline + timedelta(days=60),
                                   obligation_id=o.id, contact_id=focal.id).token,
                             str(focal.email))
    portal = f"http://127.0.0.1:{up.env['PHOIHOP_PORTAL_PORT']}"
    deadline = time.monotonic() + 120  # the start-up sweep done: it would deliver too
    while time.monotonic() < deadline and any(up.runs(d, state={"type": {"any_": [
            "PENDING", "RUNNING"]}}) for d in ("sweep", "ladder")):
        time.sleep(1)
    started = datetime.now(UTC)
    before = len(up.sink.messages)
    with httpx.Client(base_url=portal, timeout=30) as client:
        token, partner = tokens["btg-tu"]
        done = client.post(f"/r/{token}", data={
            **_portal_form(client, f"/r/{token}"), "status": "done",
            "answered_by": "Nguyễn Văn Thành", "note": "Đã gửi báo cáo năm"})
        assert done.status_code == 200 and "Đã ghi nhận trả lời" in done.text, done.text[:300]
        receipts, took = _wait_mail(up, "Đã ghi nhận trả lời", partner, since=before)
        submissions, _ = _wait_mail(up, "Báo cáo đã nộp chờ xem xét", "nga.lt@", since=before)
        assert took < 60
        accept = re.search(r"Chấp nhận: \S+/d/([\w-]+)", submissions[0].get_body(
            ("plain",)).get_content()).group(1)  # type: ignore[union-attr]

        # the coordinator accepts; meanwhile another partner answers twice in a row
        decided = client.post(f"/d/{accept}", data=_portal_form(client, f"/d/{accept}"))
        assert decided.status_code == 200, decided.text[:300]
        accepted_at = time.monotonic()
        other, other_partner = tokens["so-gddt"]
        for percent in ("30", "60"):
            answer = client.post(f"/r/{other}", data={
                **_portal_form(client, f"/r/{other}"), "status": "in_progress",
                "percent": percent, "answered_by": "Trịnh Thị Hương"})
            assert answer.status_code == 200, answer.text[:300]
    decisions, _ = _wait_mail(up, "Báo cáo đã được chấp nhận", partner, since=before)
    assert time.monotonic() - accepted_at < 60
    both, _ = _wait_mail(up, "Đã ghi nhận trả lời", other_partner, count=2, since=before)
    assert sorted(str(m["Subject"]).rsplit(", ", 1)[1] for m in both) == ["lần 1", "lần 2"], [
        str(m["Subject"]) for m in both]

    # the runs that did it: `deliver`, named for the coordinators; no ladder or sweep ran
    deadline = time.monotonic() + 90  # the last run watches the outbox for its window
    while time.monotonic() < deadline:
        runs = up.runs("deliver")
        if runs and all(r["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
                        for r in runs):
            break
        time.sleep(1)
    assert runs and all(r["state_type"] == "COMPLETED" for r in runs), [
        (r["name"], r["state_name"]) for r in runs]
    assert all(r["name"].startswith("Gửi thư ngay · ") for r in runs), runs
    assert 1 <= len(runs) <= 2, [(r["name"], r["parameters"]) for r in runs]  # 4 events
    assert all(r["parameters"].get("watch_seconds") for r in runs)  # by the automation
    flows = {f["id"]: f["name"] for f in up.post("flows/filter", {"limit": 50, "offset": 0})}
    assert {flows[r["flow_id"]] for r in runs} == {"deliver"}
    others = up.post("flow_runs/filter", {
        "deployments": {"name": {"any_": ["ladder", "sweep"]}},
        "flow_runs": {"end_time": {"after_": started.isoformat()}}, "limit": 50, "offset": 0})
    assert others == [], [(r["name"], r["start_time"]) for r in others]
    ids = [str(m["Message-ID"]) for m in up.sink.messages]
    assert len(ids) == len(set(ids)), "a message was handed over twice"
    assert len(_mail(up, "Đã ghi nhận trả lời", partner, before)) == 1
    assert len(decisions) == len(receipts) == 1


def test_late_runs_are_marked_late_and_a_day_late_run_is_skipped(up: Up) -> None:
    """Prefect's late-runs service marks a run that has not started Late (the pool paused,
    as if no worker were up); once workers take it again, a ladder run 21 hours late does
    nothing but say so, and the daily sweep catches up (docs/flows.md)."""
    pool = f"{up.api}/work_pools/phoihop"
    patch = {**auth_header(up.auth), **csrf_headers(up.api, up.auth),
             "content-type": "application/json"}
    assert _raw(pool, {"is_paused": True}, patch, method="PATCH")[0] == 204
    try:
        ladder = up.post("deployments/filter", {"deployments": {"name": {"any_": ["ladder"]}},
                                                "limit": 1, "offset": 0})[0]
        at = (datetime.now(UTC) - timedelta(hours=21)).isoformat()
        run = up.post(f"deployments/{ladder['id']}/create_flow_run", {
            "parameters": {"agreement": CODE}, "name": "late-ladder",
            "state": {"type": "SCHEDULED", "state_details": {"scheduled_time": at}}})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _state(up, run["id"])[1] != "Late":
            time.sleep(1)
        assert _state(up, run["id"]) == ("SCHEDULED", "Late")
    finally:
        patch = {**auth_header(up.auth), **csrf_headers(up.api, up.auth),
                 "content-type": "application/json"}
        assert _raw(pool, {"is_paused": False}, patch, method="PATCH")[0] == 204
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _state(up, run["id"])[0] != "COMPLETED":
        time.sleep(1)
    assert _state(up, run["id"])[0] == "COMPLETED"
    deadline = time.monotonic() + 30  # the run's own logs arrive in batches
    while time.monotonic() < deadline:
        logs = up.post("logs/filter", {"logs": {"flow_run_id": {"any_": [run["id"]]}},
                                       "limit": 200, "offset": 0})
        if any("Bỏ qua" in log["message"] for log in logs):
            break
        time.sleep(1)
    assert any("Bỏ qua lần chạy nhắc việc" in log["message"] for log in logs), [
        log["message"][:200] for log in logs]


def test_prefects_server_log_holds_no_error(up: Up) -> None:
    assert_no_server_errors(up.data)
    assert not [ln for ln in up.lines if "Máy chủ Prefect ghi lỗi" in ln], up.lines


def test_ui_shows_upcoming_runs_and_artifacts_then_stops(up: Up) -> None:
    """Moved from test_prefect_ui.py: the same assertions, signed in to the UI."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    proc, ui, data = up.proc, up.ui, up.data

    def _post(url: str, body: dict) -> list[dict]:
        return up.post(url.split("/api/", 1)[1], body)

    runs = _post(f"{ui}/api/flow_runs/filter", {
        "flow_runs": {"tags": {"all_": ["agreement:TH-KHKT-2024-2030"]}},
        "sort": "EXPECTED_START_TIME_ASC", "limit": 50, "offset": 0})
    scheduled = [r for r in runs if r["state_type"] == "SCHEDULED"]
    assert scheduled, runs
    first = scheduled[0]
    assert first["name"].startswith("TH-KHKT-2024-2030 · ")
    assert any(t.startswith("party:") for t in first["tags"])
    deadline = time.monotonic() + 60  # the start-up sweep publishes the artifacts
    keys: set[str] = set()
    while time.monotonic() < deadline and "th-khkt-2024-2030-summary" not in keys:
        keys = {a["key"] for a in _post(f"{ui}/api/artifacts/filter",
                                        {"limit": 50, "offset": 0, "sort": "ID_DESC"})}
        time.sleep(1)
    assert {"th-khkt-2024-2030-summary", "th-khkt-2024-2030-obligations"} <= keys

    OUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(ui)  # what the coordinator opens first: the sign-in page
        page.wait_for_selector("input[type=password]", timeout=30_000)
        page.screenshot(path=str(OUT / "prefect-sign-in.png"))
        page.fill("input[type=password]", up.auth)
        page.keyboard.press("Enter")
        page.wait_for_selector("text=Dashboard", timeout=30_000)
        page.goto(f"{ui}/runs/flow-run/{first['id']}")
        page.wait_for_selector(f"text={first['name']}", timeout=30_000)
        page.screenshot(path=str(OUT / "prefect-upcoming-run.png"))
        page.goto(f"{ui}/artifacts")
        page.wait_for_selector("text=th-khkt-2024-2030-summary", timeout=30_000)
        page.screenshot(path=str(OUT / "prefect-artifacts.png"))
        browser.close()

    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) in (0, 130)
    with pytest.raises(OSError):  # the server is gone with it
        urllib.request.urlopen(f"{ui}/api/health", timeout=3)
    assert (data / "prefect-server.log").exists() and (data / "phoihop-worker-1.log").exists()

