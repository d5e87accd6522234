"""Shared fixtures: a real SQLite file and the real PostgreSQL server, by fixture parameter.

`app` is a bootstrapped App on a fresh, migrated database. PostgreSQL tests use
a schema of their own in the `test` database and drop it afterwards. Where no
PostgreSQL server answers they skip, saying so, except when
PHOIHOP_REQUIRE_POSTGRES=1 (CI here), where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from config.bootstrap import App, bootstrap
from config.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
EXAMPLES = SHARED / "examples"
QT = EXAMPLES / "quang-tri-2021-2025.yaml"
TH = EXAMPLES / "thanh-hoa-2024-2030.yaml"
QT_REPLIES = EXAMPLES / "quang-tri-replies.yaml"
PG_URL = os.environ.get("PHOIHOP_TEST_PG_URL",
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_available() -> str | None:
    try:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as c:
            c.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # the reason is printed in the skip message
        return str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def pg_reason() -> str | None:
    return _pg_available()


class FixedClock:
    """A clock the test moves by hand."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One Prefect test server for the whole session (it takes 12-24 s to start)."""
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
                             PREFECT_SERVER_ANALYTICS_ENABLED: False}), \
            prefect_test_harness(server_startup_timeout=90):
        yield


def assert_no_server_errors(data_dir: Path, allowed: tuple[str, ...] = ()) -> None:
    """Prefect's server logs hold no ERROR but those matching `allowed` (regexes) and those
    Prefect recovers from by itself (flows.doctor.RETRIED): a service failing every loop (the
    scheduler on an unsupported SQLAlchemy) fails the test."""
    import re

    from flows.doctor import RETRIED, log_errors

    allowed = (*allowed, *RETRIED)
    errors = [line for name in ("prefect-server.log", "prefect-services.log")
              for line in log_errors(data_dir / name)[0]]
    unexpected = [e for e in errors if not any(re.search(a, e) for a in allowed)]
    assert not unexpected, "Prefect's server logged errors:\n" + "\n".join(unexpected[:10])


@contextmanager
def prefect_stack(settings: Settings, api_workers: int = 1, redis_url: str = "",
                  allowed_errors: tuple[str, ...] = ()) -> Iterator[Any]:
    """A local Prefect server with phoihop's deployments (flows.local.LocalStack), this
    process's Prefect client pointed at it even if Prefect was imported before.
    api_workers > 1: the scaled shape (PREFECT_API_DATABASE_CONNECTION_URL on PostgreSQL,
    events through Redis at redis_url). On the way out, Prefect's server log must hold no
    ERROR line but those matching `allowed_errors`."""
    from flows.local import LocalStack
    from tests.smtp_sink import free_port

    stack = LocalStack(settings, free_port(), api_workers=api_workers,
                       redis_url=redis_url or settings.redis_url)
    from prefect.events.worker import EventsWorker
    from prefect.settings import temporary_settings

    # Prefect's events worker is one per process and keeps the server it started with:
    # drained on the way in and out, the next event starts one for the right server
    EventsWorker.drain_all(timeout=10)
    with temporary_settings(stack.client_settings()):
        try:
            stack.start_server()
            stack.deploy()
            yield stack
        finally:
            EventsWorker.drain_all(timeout=10)
            stack.stop()
    assert_no_server_errors(settings.data_dir, allowed_errors)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2022, 5, 18, 1, 0, tzinfo=UTC))


def _migrate(app: App) -> None:
    from models.migrate import upgrade

    upgrade(app.engine)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, pg_reason: str | None
           ) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'phoihop.db'}"
        return
    if pg_reason is not None:
        if os.environ.get("PHOIHOP_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here but does not answer: {pg_reason}")
        pytest.skip(f"no PostgreSQL server at {PG_URL}: {pg_reason}")
    from benchmarks.core import pg_schema

    with pg_schema("t", PG_URL) as url:
        yield url


@pytest.fixture
def app(db_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[App]:
    settings = Settings(database_url=db_url, data_dir=tmp_path / "data")
    application = bootstrap(settings, clock=clock)
    _migrate(application)
    yield application
    application.engine.dispose()


@pytest.fixture
def smtp() -> Iterator[object]:
    """A real SMTP server on loopback that keeps what it receives."""
    from tests.smtp_sink import SmtpServer

    with SmtpServer() as server:
        yield server


@pytest.fixture
def mailer(app: App, smtp: object) -> App:
    """`app` sending its mail to the `smtp` server."""
    settings = app.settings.model_copy(update={
        "mail": app.settings.mail.model_copy(update={"port": smtp.port}),  # type: ignore[attr-defined]
        "portal_url": "http://127.0.0.1:8600"})
    return bootstrap(settings, clock=app.clock)
