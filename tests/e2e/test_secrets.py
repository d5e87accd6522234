"""Secrets never leak: issue #6, item 12.

Known secrets: an SMTP password (`PHOIHOP_MAIL__PASSWORD`), a named Apprise channel in the
TOML configuration whose URL carries a bot token, an Apprise URL with another token
written inline in an agreement file (the format accepts it; it must never be printed
back), and the portal's secret key. The whole demo runs with them (`phoihop demo` in its
own process, Prefect server, worker, portal, mail sink); offline, the Apprise sends fail,
which is where leaks happen. While it runs, everything the Prefect API serves is read
(flow-run logs, artifacts, events, runs, deployments, work pools, variables, blocks, the
server's settings); then it is stopped with Ctrl-C and everything it printed and every
file under its data directory (logs, .eml files, both SQLite databases with their WAL
files, as bytes) is searched. A secret counts as leaked when its middle (all but its first
and last character: masks may show those) appears.

The phoihop database holds the inline URL only sealed (models.sealed: the contact's
channels, the stored agreement file, the outbox rows), so no file is allowed to hold it.
Failing sends are also provoked one by one (SMTP login refused, no AUTH, nothing
listening, Apprise offline) and their error text, logs and outbox rows searched.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time as clock
import traceback
from collections.abc import Iterator
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from pydantic import SecretStr
from sqlmodel import select

from config.bootstrap import App, bootstrap
from config.settings import MailTransport, Settings
from core.calendar import local_instant
from models.sealed import unseal
from models.tables import OutboxMessage
from notifications.port import DeliveryError, Message
from notifications.send import send_pending
from notifications.smtp import SmtpNotifier
from services import ladder as ladder_work
from services.imports import import_agreement
from tests.conftest import QT, ROOT
from tests.e2e.browser import OUT
from tests.prefect_api import auth_header, csrf_headers
from tests.smtp_sink import Sink, SmtpServer, free_port

SMTP_PASSWORD = "Mk7fQ2x9Lw-smtp-PASSWORD-41"
NAMED_TOKEN = "AAHnamedTOKENx9Q7vR3"
INLINE_TOKEN = "AAHinlineTOKENz8R6pK2"
NAMED_URL = f"tgram://123456789:{NAMED_TOKEN}/987654321"
INLINE_URL = f"tgram://555555555:{INLINE_TOKEN}/444444444"
SECRETS = {"smtp password": SMTP_PASSWORD, "named channel token": NAMED_TOKEN,
           "inline channel token": INLINE_TOKEN}
TZ = "Asia/Ho_Chi_Minh"
FIGURES: dict[str, Any] = {}


def needles(secret: str) -> list[bytes]:
    """What betrays a secret: its middle, and (for a password) SMTP AUTH's base64 forms."""
    core = secret[1:-1]
    forms = [core.encode(), core.encode("utf-16-le")]
    for user in ("phoihop", ""):
        forms.append(base64.b64encode(f"\0{user}\0{secret}".encode()))
    forms.append(base64.b64encode(secret.encode()))
    return forms


def leaks(data: bytes | str, secrets: dict[str, str] = SECRETS) -> list[str]:
    raw = data.encode() if isinstance(data, str) else data
    return [name for name, secret in secrets.items() if any(n in raw for n in needles(secret))]


def with_channels(text: str) -> str:
    """An example agreement whose focal contacts also get the named and the inline channel."""
    return re.sub(r"(\{name: [^}]*role: focal[^}]*)\}",
                  rf'\1, channels: [alerts, "{INLINE_URL}"]}}', text)


# --- the whole demo -------------------------------------------------------------------------

class Reader(threading.Thread):
    def __init__(self, stream: Any) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.lines: list[str] = []

    def run(self) -> None:
        for line in iter(self.stream.readline, ""):
            self.lines.append(line)


def _wait_for(reader: Reader, text: str, proc: subprocess.Popen[str], seconds: float) -> None:
    deadline = clock.monotonic() + seconds
    while clock.monotonic() < deadline and proc.poll() is None:
        if any(text in line for line in reader.lines):
            return
        clock.sleep(0.5)
    raise AssertionError(f"`phoihop demo` did not print {text!r}: " + "".join(reader.lines)[-3000:])


def _api_headers(data: Path, api: str) -> dict[str, str]:
    """The demo's Prefect API answers only with its credentials (`<data dir>/demo/
    prefect-auth`), and POSTs only with a CSRF token (tests/prefect_api.py)."""
    auth = (data / "demo" / "prefect-auth").read_text(encoding="utf-8").strip()
    return {**auth_header(auth), **csrf_headers(api, auth)}


def _api_dump(api: str, headers: dict[str, str]) -> dict[str, str]:
    """Everything the Prefect API serves that could hold text of ours, as JSON text."""
    out: dict[str, str] = {}
    with httpx.Client(base_url=api, timeout=30, headers=headers) as c:
        logs, offset = [], 0
        while True:
            page = c.post("/logs/filter", json={"limit": 200, "offset": offset}).json()
            logs += page
            offset += 200
            if len(page) < 200:
                break
        out["logs"] = json.dumps(logs)
        for name in ("artifacts", "flow_runs", "task_runs", "deployments", "work_pools",
                     "variables", "flows", "work_queues"):
            r = c.post(f"/{name}/filter", json={"limit": 200})
            r.raise_for_status()
            out[name] = r.text
        out["blocks"] = c.post("/block_documents/filter",
                               json={"limit": 200, "include_secrets": True}).text
        events = c.post("/events/filter", json={"limit": 50}).json()
        pages = [events]
        while events.get("next_page") and len(pages) < 100:
            events = c.get(events["next_page"]).json()
            pages.append(events)
        out["events"] = json.dumps(pages)
        out["admin settings"] = c.get("/admin/settings").text
    out["counts"] = json.dumps({"logs": len(logs),
                                "events": sum(len(p.get("events", [])) for p in pages)})
    return out


# Logging as shipped, and as a coordinator troubleshooting Telegram would set it: Prefect's
# documented way to get a library's log into the flow-run logs (and the UI).
LOGGING = {"default": {}, "apprise-debug": {"PREFECT_LOGGING_EXTRA_LOGGERS": "apprise",
                                            "PREFECT_LOGGING_ROOT_LEVEL": "DEBUG"}}


@pytest.fixture(scope="module", params=sorted(LOGGING))
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("secrets")
    examples = tmp / "examples"
    examples.mkdir()
    for f in (ROOT / "config" / "examples").iterdir():
        text = f.read_text(encoding="utf-8")
        (examples / f.name).write_text(with_channels(text) if f.name.endswith("2030.yaml")
                                       or f.name.endswith("2025.yaml") else text,
                                       encoding="utf-8")
    config = tmp / "phoihop.toml"
    config.write_text(f'[channels]\nalerts = "{NAMED_URL}"\n', encoding="utf-8")
    data = tmp / "data"
    port, portal, mail = free_port(), free_port(), free_port()
    env = {**os.environ, "PHOIHOP_DATA_DIR": str(data), "PHOIHOP_CONFIG": str(config),
           "PHOIHOP_MAIL__PASSWORD": SMTP_PASSWORD, "PHOIHOP_MAIL__PORT": str(mail),
           "PHOIHOP_PORTAL_PORT": str(portal), "PHOIHOP_PORTAL_URL": f"http://127.0.0.1:{portal}",
           "COLUMNS": "200"}
    for k in ("PHOIHOP_DATABASE_URL", "PREFECT_API_URL", "PHOIHOP_MAIL__USERNAME",
              "PREFECT_LOGGING_EXTRA_LOGGERS", "PREFECT_LOGGING_ROOT_LEVEL"):
        env.pop(k, None)
    env.update(LOGGING[request.param])
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "demo", "--examples",
                             str(examples), "--port", str(port)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    out, err = Reader(proc.stdout), Reader(proc.stderr)
    out.start()
    err.start()
    api = f"http://127.0.0.1:{port}/api"
    result: dict[str, Any] = {"data": data, "env": env, "api": api, "logging": request.param}
    try:
        _wait_for(out, "Ctrl-C", proc, 240)
        deadline = clock.monotonic() + 240  # the start-up sweep: sent what it could
        sweep: dict[str, Any] = {}
        while clock.monotonic() < deadline:
            runs = httpx.post(f"{api}/flow_runs/filter", json={
                "flows": {"name": {"any_": ["sweep"]}}, "limit": 5}, timeout=30,
                headers=_api_headers(data, api)).json()
            done = [r for r in runs if r["state_type"] in ("COMPLETED", "FAILED", "CRASHED")]
            if done:
                sweep = done[0]
                break
            clock.sleep(1)
        assert sweep.get("state_type") == "COMPLETED", sweep or "no sweep ran"
        clock.sleep(2)  # its last logs reach the API
        result["api_dump"] = _api_dump(api, _api_headers(data, api))
        shown = subprocess.run([sys.executable, "-m", "cli.main", "config"], env={
            **env, "PHOIHOP_MAIL__USERNAME": "phoihop"}, cwd=ROOT, capture_output=True,
            text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        result["config"] = shown.stdout + shown.stderr
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=90)
        out.join(timeout=10)
        err.join(timeout=10)
    result.update(code=code, stdout="".join(out.lines), stderr="".join(err.lines))
    yield result


@pytest.mark.proof  # the whole demo, twice: ~3 min (make proofs)
def test_demo_leaks_no_secret(demo: dict[str, Any]):
    data: Path = demo["data"]
    assert demo["code"] in (0, 130), demo["stderr"][-3000:]
    assert "Ctrl-C" in demo["stdout"]
    # the run did what leaks come from: the Apprise sends failed, mail was delivered
    from sqlmodel import Session, create_engine

    engine = create_engine(f"sqlite:///{data / 'demo' / 'phoihop.db'}")
    with Session(engine) as s:
        rows = s.exec(select(OutboxMessage)).all()
    engine.dispose()
    failed = [r for r in rows if r.channel == "apprise" and r.last_error]
    assert failed, "no Apprise send was attempted"
    secret_key = (data / "demo" / "secret.key").read_bytes().strip()
    assert {unseal(secret_key, r.recipient) for r in failed} >= {"alerts", INLINE_URL}
    assert list((data / "demo" / "mail").glob("*.eml")), "no e-mail reached the mail sink"
    hits: dict[str, list[str]] = {}

    def check(where: str, content: bytes | str) -> None:
        found = leaks(content)
        if found:
            hits[where] = found

    check("stdout", demo["stdout"])
    check("stderr", demo["stderr"])
    check("phoihop config", demo["config"])
    assert "***" in demo["config"]  # it did show the masked password and channel
    for name, text in demo["api_dump"].items():
        check(f"Prefect API: {name}", text)
    files = [f for f in sorted(data.rglob("*")) if f.is_file()]
    for f in files:  # the databases too: the inline URL is stored sealed
        check(str(f.relative_to(data)), f.read_bytes())
    for r in rows:
        check(f"outbox #{r.id} last_error", r.last_error or "")
    key_hits = [str(f.relative_to(data)) for f in files
                if f.name != "secret.key" and secret_key[4:-4] in f.read_bytes()]
    key_hits += [k for k in ("stdout", "stderr") if secret_key[4:-4].decode() in demo[k]]
    key_hits += [k for k, v in demo["api_dump"].items() if secret_key[4:-4].decode() in v]
    FIGURES[f"demo ({demo['logging']} logging)"] = {
        "secrets": len(SECRETS) + 1, "files": len(files),
        "bytes": sum(f.stat().st_size for f in files),
        "eml": len(list((data / "demo" / "mail").glob("*.eml"))),
        "apprise_failures": len(failed), "api_sections": len(demo["api_dump"]) - 1,
        "api_records": json.loads(demo["api_dump"]["counts"]),
        "hits": sum(len(v) for v in hits.values()) + len(key_hits)}
    print(f"\nsecrets: {json.dumps(FIGURES, ensure_ascii=False)}")
    OUT.mkdir(exist_ok=True)
    (OUT / "secrets-figures.json").write_text(json.dumps(FIGURES, indent=2), encoding="utf-8")
    assert hits == {}
    assert key_hits == []


# --- failing sends, one by one --------------------------------------------------------------

def _message(to: str) -> Message:
    return Message(to_address=to, to_name="Lê Thị Hoa", subject="Thử", text="Nội dung",
                   html=None, message_id="<test@phoihop>")


def _error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc)


class Refusing:
    """An SMTP server's authenticator that refuses every login, and remembers what it got."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str,
                 auth_data: Any) -> AuthResult:
        self.seen.append(bytes(getattr(auth_data, "password", b"") or b""))
        return AuthResult(success=False, handled=False)


def test_failing_smtp_sends_name_no_password(capfd: pytest.CaptureFixture[str],
                                             caplog: pytest.LogCaptureFixture):
    errors: list[str] = []
    refusing = Refusing()
    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port, authenticator=refusing,
                            auth_require_tls=False)
    controller.start()
    try:
        for target in (port, None, free_port()):  # login refused, no AUTH, nothing there
            if target is None:
                with SmtpServer() as plain:
                    errors.append(_send_smtp(plain.port))
            else:
                errors.append(_send_smtp(target))
    finally:
        controller.stop()
    assert refusing.seen and set(refusing.seen) == {SMTP_PASSWORD.encode()}  # it went out
    assert "535" in errors[0] and "AUTH" in errors[1] and "Connection" in errors[2], errors
    captured = capfd.readouterr()
    assert [leaks(e) for e in errors] == [[], [], []]
    assert leaks(captured.out + captured.err + caplog.text) == []


def _send_smtp(port: int) -> str:
    notifier = SmtpNotifier(MailTransport(port=port, username="phoihop",
                                          password=SecretStr(SMTP_PASSWORD), timeout_seconds=5))
    with pytest.raises(DeliveryError) as failed:
        notifier.send(_message("hoa.lt@sogddt.quangtri.example"))
    notifier.close()
    return _error_text(failed.value)


APPRISE_SENDS = f"""
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,  # as verbose as anyone could set it
                    format="%(name)s %(levelname)s %(message)s")
extra = logging.StreamHandler(sys.stdout)  # a handler on Apprise's own logger, as Prefect's
extra.setFormatter(logging.Formatter("EXTRA %(message)s"))  # PREFECT_LOGGING_EXTRA_LOGGERS
logging.getLogger("apprise").addHandler(extra)  # attaches them (the flow-run logs in the UI)
from notifications.apprise_channel import AppriseNotifier
from notifications.port import DeliveryError, Message

notifier = AppriseNotifier({{"alerts": "{NAMED_URL}"}})
for to in ("alerts", "{INLINE_URL}", "tgram://{INLINE_TOKEN}"):  # the last: no bot id
    try:
        notifier.send(Message(to_address=to, to_name="x", subject="Thử", text="Nội dung",
                              html=None, message_id="<test@phoihop>"))
    except DeliveryError as exc:
        print("DeliveryError:", exc)
"""


def test_failing_apprise_sends_name_no_token():
    """Apprise logs the URLs it uses in full (the bot token in "Telegram POST URL: …" at
    DEBUG); in a process whose root logger is at DEBUG, with a handler on Apprise's own
    logger besides, none of it may come out (regression)."""
    out = subprocess.run([sys.executable, "-c", APPRISE_SENDS], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    errors = [line for line in out.stdout.splitlines() if line.startswith("DeliveryError:")]
    assert len(errors) == 3
    assert "tgram://1...3/987654321" in errors[0]  # masked, yet telling which channel
    assert "Starting new HTTPS connection" in out.stderr  # DEBUG logging was on
    assert "EXTRA Telegram POST URL: https://api.telegram.org/bot" in out.stdout  # and reached
    assert leaks(out.stdout) == [] and leaks(out.stderr) == [], [
        line[:160] for line in (out.stdout + out.stderr).splitlines() if leaks(line)]


@pytest.fixture
def channel_app(db_url: str, tmp_path: Path, smtp: Any) -> Iterator[App]:
    settings = Settings(database_url=db_url, data_dir=tmp_path / "data", send_retries=1,
                        channels={"alerts": SecretStr(NAMED_URL)},
                        mail=MailTransport(port=smtp.port, password=SecretStr(SMTP_PASSWORD)))
    at = [local_instant(date(2022, 5, 18), time(0, 0), TZ)]
    application = bootstrap(settings, clock=lambda: at[0])
    from models.migrate import upgrade

    upgrade(application.engine)
    import_agreement(application, with_channels(QT.read_text(encoding="utf-8")).encode(),
                     str(QT))
    yield application
    application.engine.dispose()


def test_outbox_errors_and_undeliverable_notices_name_no_token(channel_app: App, smtp: Any):
    """Through the outbox: the failed Apprise rows' errors, the undeliverable notice the
    coordinators get about them (its text carries the error), on SQLite and PostgreSQL."""
    at = local_instant(date(2022, 11, 15), time(8, 0), TZ)  # the requests for 15/12/2022
    ladder_work.fire_steps(channel_app, at)
    send_pending(channel_app, at, "test")  # send_retries=1: a failure is final
    later = at + timedelta(minutes=5)
    send_pending(channel_app, later, "test")  # the undeliverable notices
    with channel_app.session() as s:
        rows = s.exec(select(OutboxMessage)).all()
    failed = [r for r in rows if r.channel == "apprise"]
    assert failed and all(r.state == "dead" and r.last_error for r in failed)
    assert {unseal(channel_app.secret_key, r.recipient) for r in failed} == {"alerts",
                                                                                INLINE_URL}
    assert [r.id for r in rows if leaks(r.recipient + (r.digest_key or ""))] == []  # sealed
    assert [r.id for r in rows if leaks(r.last_error or "")] == []
    notices = [m for m in smtp.sink.messages if "Không gửi được" in str(m["Subject"])]
    assert notices
    for m in notices:
        body = m.get_body(("plain",)).get_content()
        assert "tgram://" in body and leaks(body) == [], body[-600:]
    assert all(leaks(m.as_bytes()) == [] for m in smtp.sink.messages)
