from datetime import UTC, date, datetime

import pytest
from sqlmodel import select

from models.tables import Agreement, NaiveDatetimeError


def _agreement(**kw: object) -> Agreement:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    base = dict(code="X-1", title="t", signed_on=date(2024, 1, 1), period_start=date(2024, 1, 1),
                period_end=date(2025, 12, 31), convener="a", source="", source_hash="h",
                registered_at=now, updated_at=now)
    base.update(kw)
    return Agreement(**base)  # type: ignore[arg-type]


def test_instants_round_trip_as_aware_utc(app):
    with app.session(write=True) as s:
        s.add(_agreement())
    with app.session() as s:
        row = s.exec(select(Agreement)).one()
    assert row.registered_at == datetime(2024, 1, 1, tzinfo=UTC)
    assert row.registered_at.tzinfo is not None


def test_naive_datetime_reaching_the_database_raises(app):
    with pytest.raises(Exception) as info, app.session(write=True) as s:
        s.add(_agreement(registered_at=datetime(2024, 1, 1)))
        s.flush()
    assert isinstance(info.value.__cause__ or info.value, NaiveDatetimeError) or \
        "naive datetime" in str(info.value)


def test_migrations_match_the_tables(app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with app.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        version = conn.exec_driver_sql("select version_num from alembic_version").scalar()
    assert diff == []
    assert version == "0005"
