"""Bring a database to the current schema."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

import models.tables  # noqa: F401  (registers the tables)


def upgrade(engine: sa.Engine) -> None:
    """Create or migrate the schema. (Alembic takes over in models/migrations.)"""
    SQLModel.metadata.create_all(engine)
