"""reply: the submission key of the form it came from (one reply per submitted form)

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reply") as batch:
        batch.add_column(sa.Column("submission", sa.String(length=64), nullable=True))
        batch.create_unique_constraint("uq_reply_submission", ["submission"])


def downgrade() -> None:
    with op.batch_alter_table("reply") as batch:
        batch.drop_constraint("uq_reply_submission", type_="unique")
        batch.drop_column("submission")
