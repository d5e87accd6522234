"""feed_link: the capabilities of the party calendar feeds (docs/calendar.md), bound to an
agreement, one of its parties and the contact the link was sent to

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("nonce", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", models.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", models.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", models.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agreement_id"], ["agreement.id"]),
        sa.ForeignKeyConstraint(["party_id"], ["party.id"]),
        sa.ForeignKeyConstraint(["contact_id"], ["contact.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("feed_link") as batch:
        batch.create_index("ix_feed_link_contact_agreement", ["contact_id", "agreement_id"],
                           unique=False)


def downgrade() -> None:
    with op.batch_alter_table("feed_link") as batch:
        batch.drop_index("ix_feed_link_contact_agreement")
    op.drop_table("feed_link")
