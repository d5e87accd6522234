"""The PostgreSQL roles of docs/deploy.md, as written, on the real server: each component
does its work under its own role and nothing more (renamed t20_* here, so as not to touch
an install's)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date, time, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from config.bootstrap import bootstrap
from config.settings import Settings
from core.calendar import local_instant
from models.links import issue
from models.tables import Contact, Obligation, Party, Reply
from portal.app import create_app
from services.imports import import_agreement
from tests.conftest import QT

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "t20_"
NAMES = r"\b(prefect_api|phoihop_owner|phoihop_worker|phoihop_portal|prefect|phoihop)\b"
ROLES = ("prefect_api", "phoihop_owner", "phoihop_worker", "phoihop_portal")
TZ = "Asia/Ho_Chi_Minh"
KEY = "QT-KHKT-2021-2025/hoc-tap-suot-doi/so-gddt/2022"


def documented_sql() -> list[str]:
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    return [re.sub(NAMES, lambda m: PREFIX + m.group(1), block)
            for block in re.findall(r"```sql\n(.*?)```", doc, re.S)]


def _password(role: str, sql: str) -> str:
    return re.search(rf"ROLE {PREFIX}{role} LOGIN PASSWORD '([^']+)'", sql).group(1)


def _url(role: str, db: str, sql: str) -> str:
    return f"postgresql://{PREFIX}{role}:{_password(role, sql)}@127.0.0.1:5432/{PREFIX}{db}"


def _psql(sql: str, db: str) -> None:
    done = subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-q", "-h", "127.0.0.1", "-U",
                           "postgres", "-d", db], input=sql, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _clean() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                         autocommit=True) as conn:
        for db in ("prefect", "phoihop"):
            conn.execute(f"DROP DATABASE IF EXISTS {PREFIX}{db} WITH (FORCE)")
        for role in ROLES:
            conn.execute(f"DROP ROLE IF EXISTS {PREFIX}{role}")


def test_one_role_per_component_with_least_privilege(tmp_path, pg_reason):
    if pg_reason:
        if os.environ.get("PHOIHOP_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here but does not answer: {pg_reason}")
        pytest.skip(f"needs PostgreSQL: {pg_reason}")
    import psycopg
    from psycopg.errors import InsufficientPrivilege

    roles, tables = documented_sql()
    _clean()
    try:
        _psql(roles, "postgres")
        # the owner migrates phoihop's database; then the table grants
        env = {"PATH": "/usr/bin:/bin", "PHOIHOP_DATA_DIR": str(tmp_path),
               "PHOIHOP_DATABASE_URL": _url("phoihop_owner", "phoihop", roles)}
        done = subprocess.run([sys.executable, "-m", "cli.main", "db", "upgrade"], cwd=ROOT,
                              env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        _psql(tables, f"{PREFIX}phoihop")

        # the worker role (and operators): imports, issues a link
        registered = local_instant(date(2022, 5, 18), time(0, 0), TZ)
        worker = bootstrap(Settings(data_dir=tmp_path,
                                    database_url=_url("phoihop_worker", "phoihop", roles)),
                           clock=lambda: registered)
        import_agreement(worker, QT.read_bytes(), str(QT))
        answered = local_instant(date(2022, 12, 1), time(9, 0), TZ)
        with worker.session(write=True) as s:
            o = s.exec(select(Obligation).where(Obligation.key == KEY)).one()
            focal = s.exec(select(Contact).join(Party, Party.id == Contact.party_id).where(
                Party.key == "so-gddt", Contact.role == "focal")).one()
            token = issue(s, worker.secret_key, purpose="reply", now=answered,
                          expires_at=o.deadline + timedelta(days=60), obligation_id=o.id,
                          contact_id=focal.id).token
        worker.engine.dispose()

        # the portal role: a partner's reply, through the real portal
        portal = bootstrap(Settings(data_dir=tmp_path,
                                    database_url=_url("phoihop_portal", "phoihop", roles)),
                           clock=lambda: answered)
        client = TestClient(create_app(portal))
        page = client.get(f"/r/{token}")
        assert page.status_code == 200
        form = {n: re.search(rf'name="{n}" value="([^"]+)"', page.text).group(1)
                for n in ("csrf", "form_nonce")}
        posted = client.post(f"/r/{token}", data=form | {
            "status": "done", "v-gdht-dang-ky": "1200", "v-gdht-dat": "1100",
            "answered_by": "Lê Thị Hoa"})
        assert posted.status_code == 200 and "Đã ghi nhận" in posted.text, posted.text[-500:]
        with portal.session() as s:
            assert s.exec(select(func.count()).select_from(Reply)).one() == 1
        portal.engine.dispose()

        # and nothing more
        for role, statements in {
            "phoihop_worker": ["DROP TABLE reply", "ALTER TABLE reply ADD COLUMN x int",
                               "CREATE TABLE x (id int)", "TRUNCATE outboxmessage"],
            "phoihop_portal": ["DELETE FROM reply", "UPDATE agreement SET code = code",
                               "INSERT INTO party (id) VALUES (-1)", "DROP TABLE link",
                               "DELETE FROM outboxmessage"],
        }.items():
            for sql in statements:
                with psycopg.connect(_url(role, "phoihop", roles)) as conn, \
                        pytest.raises(InsufficientPrivilege):
                    conn.execute(sql)
        for role, db in (("phoihop_worker", "prefect"), ("phoihop_portal", "prefect"),
                         ("prefect_api", "phoihop")):
            with pytest.raises(psycopg.OperationalError, match="permission denied"):
                psycopg.connect(_url(role, db, roles)).close()
        with psycopg.connect(_url("prefect_api", "prefect", roles)) as conn:
            conn.execute("CREATE TABLE migrated_by_prefect (id int)")  # it owns its database
    finally:
        _clean()
