"""Files private to phoihop's account: the data dir 0700, databases, logs, dossiers 0600,
an existing install tightened at start; a password named in the configuration, not written
in the agreement file, never reaches the database; one written inline in the agreement
file reaches it only sealed (models.sealed), and still carries the messages."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlmodel import select

from config.bootstrap import App, bootstrap
from config.settings import Settings
from core.calendar import local_instant
from models.ladder_state import load_stored
from models.outbox import digest_key
from models.sealed import is_sealed, unseal
from models.tables import Agreement, Contact, OutboxMessage
from notifications.send import send_pending
from services.imports import import_agreement, seal_channels
from services.ladder import enqueue_fired, tick
from tests.conftest import QT
from tests.smtp_sink import free_port

PASSWORD = "S3cretPassw0rd"
CONTACT = "{name: Lý Minh Khoa, role: focal, email: khoa.lm@sotttt.quangtri.example}"


def _run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PHOIHOP_DATA_DIR": str(data), "PHOIHOP_LANGUAGE": "vi"}
    env.pop("PHOIHOP_DATABASE_URL", None)
    env.pop("PHOIHOP_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True,
                          text=True, env=env, timeout=120, preexec_fn=lambda: os.umask(0o022))


def _modes(root: Path) -> dict[str, int]:
    out = {".": stat.S_IMODE(root.stat().st_mode)}
    for p in root.rglob("*"):
        out[str(p.relative_to(root))] = stat.S_IMODE(p.lstat().st_mode)
    return out


def test_a_new_install_is_private(tmp_path: Path):
    data = tmp_path / "data"
    assert _run(data, "import", str(QT)).returncode == 0
    built = _run(data, "review", "QT-KHKT-2021-2025", "--cycle", "1", "--at",
                 "2023-01-31T08:00:00+07:00")
    assert built.returncode == 0, built.stderr
    modes = _modes(data)
    assert any(name.endswith(".docx") for name in modes), modes
    assert "phoihop.db" in modes
    wrong = {n: oct(m) for n, m in modes.items()
             if m != (0o700 if (data / n).is_dir() else 0o600)}
    assert wrong == {}


def test_an_existing_install_is_tightened_at_start(tmp_path: Path):
    data = tmp_path / "data"
    assert _run(data, "import", str(QT)).returncode == 0
    (data / "dossiers" / "old").mkdir(parents=True)
    (data / "dossiers" / "old" / "x.docx").write_bytes(b"x")
    (data / "portal.log").write_text("log\n")
    (data / "prefect").mkdir()
    (data / "prefect" / "prefect.db").write_bytes(b"")
    for p in [data, *data.rglob("*")]:  # as an install from before: world-readable
        p.chmod(0o755 if p.is_dir() else 0o644)
    assert _run(data, "agreements").returncode == 0
    modes = _modes(data)
    assert {n for n, m in modes.items() if m & 0o077} == set(), modes
    assert modes["."] == 0o700 and modes["portal.log"] == 0o600
    assert modes["prefect/prefect.db"] == 0o600 and modes["dossiers/old"] == 0o700


def test_a_password_in_an_agreement_channel_is_masked_and_kept_out_by_naming_it(tmp_path: Path):
    """The spec accepts secrets written inline and wants them masked wherever printed; the
    way to keep one out of the agreement file and the database is a channel named in the
    configuration."""
    data = tmp_path / "data"
    url = f"mailto://khoa:{PASSWORD}@mail.example"
    text = QT.read_text().replace(
        CONTACT, "{name: Lý Minh Khoa, role: focal, email: khoa.lm@sotttt.quangtri.example, "
                 f"channels: ['{url}']}}")
    assert text != QT.read_text()
    inline = tmp_path / "inline.yaml"
    inline.write_text(text)
    result = _run(data, "validate", str(inline))
    assert result.returncode == 0, result.stdout + result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    # the same channel named in the configuration is accepted: the secret stays there
    named = tmp_path / "named.yaml"
    named.write_text(text.replace(f"'{url}'", "'khoa-mail'"))
    data.mkdir(parents=True, exist_ok=True)
    toml = tmp_path / "phoihop.toml"
    toml.write_text(f'[channels]\nkhoa-mail = "{url}"\n')
    env = {**os.environ, "PHOIHOP_DATA_DIR": str(data), "PHOIHOP_CONFIG": str(toml)}
    env.pop("PHOIHOP_DATABASE_URL", None)
    ok = subprocess.run([sys.executable, "-m", "cli.main", "import", str(named)],
                        capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert PASSWORD.encode() not in (data / "phoihop.db").read_bytes()
    wal = data / "phoihop.db-wal"
    assert not wal.exists() or PASSWORD.encode() not in wal.read_bytes()


# --- an inline channel secret, sealed in the database ---------------------------------------

TZ = "Asia/Ho_Chi_Minh"


class Hook(BaseHTTPRequestHandler):
    """An Apprise `json://` endpoint: keeps the Authorization header of every POST."""

    received: list[str]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append(self.headers.get("Authorization") or "")
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def hook() -> Iterator[tuple[int, list[str]]]:
    received: list[str] = []
    handler = type("Handler", (Hook,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], received
    server.shutdown()
    server.server_close()


def inline_agreement(*urls: str) -> bytes:
    """Quảng Trị with Khoa's channels written inline, and once in a comment."""
    channels = ", ".join(f"'{u}'" for u in urls)
    text = QT.read_text().replace(
        CONTACT, "{name: Lý Minh Khoa, role: focal, email: khoa.lm@sotttt.quangtri.example, "
                 f"channels: [{channels}]}}  # kênh cũ: {urls[0]}")
    assert text != QT.read_text()
    return text.encode()


def stored_text(app: App) -> bytes:
    """What the database holds: the SQLite file with its WAL as bytes; on PostgreSQL
    every row of every table, as text."""
    url = app.engine.url
    if url.get_backend_name() == "sqlite":
        db = Path(str(url.database))
        return b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm"))
                        if p.exists())
    with app.engine.connect() as c:
        tables = sa.inspect(c).get_table_names()
        assert {"contact", "agreement", "outboxmessage"} <= set(tables)
        return repr([(t, [tuple(r) for r in c.execute(sa.text(f'SELECT * FROM "{t}"'))])
                     for t in sorted(tables)]).encode()


class Recording:
    """A channel that keeps the address of each message handed to it."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, message: Any) -> None:
        self.sent.append(message.to_address)

    def close(self) -> None:
        return None


def fire_requests(app: App, raw: bytes, channels: int) -> Any:
    """Imported at signing; the ten 2022-H1 requests fired on 15/06/2022, Khoa's also to
    his `channels`."""
    import_agreement(app, raw, "inline.yaml")
    now = local_instant(date(2022, 6, 15), time(8, 0), TZ)
    with app.session(write=True) as s:
        assert enqueue_fired(s, app, tick(s, app, now), now) == 10 + channels
    return now


def test_an_inline_channel_secret_is_stored_sealed_and_still_delivers(mailer, clock, hook):
    port, received = hook
    url = f"json://khoa:{PASSWORD}@127.0.0.1:{port}/hook"
    down = f"json://khoa:{PASSWORD}@127.0.0.1:{free_port()}/down"  # nothing listens
    clock.at = local_instant(date(2022, 5, 18), time(0, 0), TZ)
    now = fire_requests(mailer, inline_agreement(url, down), 2)
    report = send_pending(mailer, now, worker="w1")
    assert (report.sent, report.retried, report.dead) == (11, 1, 0)  # 10 e-mails, 1 hook
    auth = base64.b64encode(f"khoa:{PASSWORD}".encode()).decode()
    assert received == [f"Basic {auth}"]  # the channel got the URL, opened to send
    with mailer.session() as s:
        contact = s.exec(select(Contact).where(Contact.name == "Lý Minh Khoa")).one()
        rows = s.exec(select(OutboxMessage).where(OutboxMessage.channel == "apprise")).all()
        row = s.exec(select(Agreement)).one()
        loaded = load_stored(s, mailer.parse_options, row)  # parsed without the key
    assert [unseal(mailer.secret_key, c) for c in contact.channels] == [url, down]
    assert all(is_sealed(c) for c in contact.channels)
    assert sorted(r.recipient for r in rows) == sorted(contact.channels)
    failed = next(r for r in rows if r.state == "retry_wait")
    assert failed.last_error and "127.0.0.1" in failed.last_error
    assert len(loaded.plan.obligations) > 0 and "://" in row.source
    khoa = next(c for p in loaded.agreement.parties for c in p.contacts
                if c.name == "Lý Minh Khoa")
    assert khoa.channels == tuple(contact.channels)
    stored = stored_text(mailer)
    assert b"khoa.lm@sotttt.quangtri.example" in stored  # the dump is readable text
    assert PASSWORD.encode() not in stored
    assert auth.encode() not in stored


def test_a_changed_secret_key_says_so_in_one_line(app, clock, hook):
    port, received = hook
    url = f"json://khoa:{PASSWORD}@127.0.0.1:{port}/hook"
    clock.at = local_instant(date(2022, 5, 18), time(0, 0), TZ)
    now = fire_requests(app, inline_agreement(url), 1)
    other = bootstrap(app.settings.model_copy(update={"secret_key": SecretStr("another")}),
                      clock=app.clock)
    email, apprise = Recording(), Recording()
    report = send_pending(other, now, worker="w1", notifiers={"email": email,
                                                              "apprise": apprise})
    assert (report.sent, report.dead, apprise.sent) == (10, 1, [])
    with other.session() as s:
        dead = s.exec(select(OutboxMessage).where(OutboxMessage.state == "dead")).one()
        notices = s.exec(select(OutboxMessage).where(
            OutboxMessage.kind == "undeliverable")).all()
    assert dead.last_error is not None and "\n" not in dead.last_error
    assert dead.last_error.startswith("kênh gửi tin đã niêm phong không mở được")
    assert "khóa bí mật" in dead.last_error and "changed since" in dead.last_error
    assert notices == [] and received == []  # not the contact's fault: nobody is told
    with other.session() as s:  # what does not send still works: the file parses
        assert load_stored(s, other.parse_options, s.exec(select(Agreement)).one()).plan
    done, _why = seal_channels(other, other.engine)  # what `db upgrade` counts, leaves as is
    assert (done.rows, done.unopened) == (0, 1)


def stored_as_before(app: App, url: str, raw: bytes) -> tuple[Any, str]:
    """The requests fired, the inline URL then written back readable where phoihop stored
    it before sealing existed: the contact, the stored file, the outbox row and its digest
    key. The instant, and the outbox row's digest."""
    app.clock.at = local_instant(date(2022, 5, 18), time(0, 0), TZ)  # type: ignore[attr-defined]
    now = fire_requests(app, raw, 1)
    with app.session(write=True) as s:
        contact = s.exec(select(Contact).where(Contact.name == "Lý Minh Khoa")).one()
        contact.channels = [url]
        row = s.exec(select(Agreement)).one()
        row.source = raw.decode()
        old = s.exec(select(OutboxMessage).where(OutboxMessage.channel == "apprise")).one()
        digest = old.digest_key.rsplit("#", 2)[0]
        old.recipient, old.digest_key = url, f"{digest}#apprise#{url}"
        s.add_all([contact, row, old])
    assert PASSWORD.encode() in stored_text(app)
    return now, digest


def test_old_rows_are_sealed_and_leave_no_copy(app, clock):
    """On SQLite and PostgreSQL: what `db upgrade` runs (services.imports.seal_channels,
    then the storage rewritten)."""
    url = f"json://khoa:{PASSWORD}@127.0.0.1:9/hook"
    stored_as_before(app, url, inline_agreement(url))
    done, why = seal_channels(app, app.engine)
    assert (done.contacts, done.agreements, done.messages, done.unopened) == (1, 1, 1, 0)
    assert why is None  # the storage rewritten
    assert PASSWORD.encode() not in stored_text(app)
    assert seal_channels(app, app.engine)[0].rows == 0  # once


def test_db_upgrade_seals_what_was_stored_before(tmp_path: Path, clock):
    """A database written before channels were sealed (the URL readable in the contact,
    the stored file, the outbox rows and their digest keys): `phoihop db upgrade` seals
    them once, and the file keeps no old copy; messages still reach the channel."""
    data = tmp_path / "data"
    url = f"mailto://khoa:{PASSWORD}@mail.example"
    raw = inline_agreement(url)
    app = bootstrap(Settings(data_dir=data), clock=clock)
    from models.migrate import upgrade

    upgrade(app.engine)
    now, digest = stored_as_before(app, url, raw)
    app.engine.dispose()

    first = _run(data, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert "Đã niêm phong kênh ghi thẳng trong 1 đầu mối, 1 chương trình, 1 tin nhắn" \
        in first.stdout
    assert PASSWORD.encode() not in stored_text(app)
    again = _run(data, "db", "upgrade")
    assert again.returncode == 0 and "niêm phong" not in again.stdout
    with app.session() as s:
        contact = s.exec(select(Contact).where(Contact.name == "Lý Minh Khoa")).one()
        row = s.exec(select(Agreement)).one()
        msg = s.exec(select(OutboxMessage).where(OutboxMessage.channel == "apprise")).one()
        assert len(load_stored(s, app.parse_options, row).plan.obligations) > 0
    assert [unseal(app.secret_key, c) for c in contact.channels] == [url]
    assert msg.recipient == contact.channels[0]
    assert msg.digest_key == digest_key(digest, "apprise", msg.recipient)
    apprise = Recording()
    send_pending(app, now, worker="w1", notifiers={"email": Recording(), "apprise": apprise})
    assert apprise.sent == [url]  # opened for the channel
    listed = _run(data, "agreements")
    assert listed.returncode == 0 and PASSWORD not in listed.stdout + listed.stderr


def test_an_inline_channel_imported_by_the_command_is_sealed_and_masked(tmp_path: Path):
    data = tmp_path / "data"
    inline = tmp_path / "inline.yaml"
    inline.write_bytes(inline_agreement(f"mailto://khoa:{PASSWORD}@mail.example"))
    shown = [_run(data, "validate", str(inline)), _run(data, "import", str(inline)),
             _run(data, "agreements"), _run(data, "obligations", "--all")]
    assert [r.returncode for r in shown] == [0, 0, 0, 0], shown[1].stderr
    assert all(PASSWORD not in r.stdout + r.stderr for r in shown)
    stored = b"".join(p.read_bytes() for p in data.glob("phoihop.db*"))
    assert b"khoa.lm@sotttt.quangtri.example" in stored and PASSWORD.encode() not in stored
