"""Rollback traffic: the endpoints a rollback's request puts back on their
split from before the gateway's rollouts.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rollback_traffic",
        sa.Column("promotion_id", sa.String(36), primary_key=True),
        sa.Column("endpoint_uri", sa.String(700), primary_key=True),
        sa.Column("registry_id", sa.String(64), nullable=False),
        sa.Column("rollout_id", sa.String(36), nullable=False),
        sa.Column("as_of", TS, nullable=False),
        sa.Column("restored_at", TS),
    )


def downgrade() -> None:
    op.drop_table("rollback_traffic")
