"""agreement: the timing of its resolved ladder (send_at and step offsets), so that sync
plans every agreement's coming ladder days without parsing its stored file again

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agreement") as batch:
        batch.add_column(sa.Column("timing", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("agreement") as batch:
        batch.drop_column("timing")
