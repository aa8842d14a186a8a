"""Canary rollouts: the rollout (with the lease of the replica driving it), its
steps, and the hold that keeps a rollout's PRODUCTION promotion from writing
through before the rollout succeeds.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"  # chained after the serving tables (merged from deploy)
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("version_uri", sa.String(700), nullable=False),
        sa.Column("registry_id", sa.String(64), nullable=False),
        sa.Column("endpoint_uri", sa.String(1024), nullable=False),
        sa.Column("promotion_id", sa.String(36)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("steps", sa.JSON, nullable=False),
        sa.Column("step_seconds", sa.Integer, nullable=False),
        sa.Column("max_error_rate", sa.Float, nullable=False),
        sa.Column("step_index", sa.Integer, nullable=False),
        sa.Column("current_percent", sa.Float, nullable=False),
        sa.Column("step_started_at", TS),
        sa.Column("candidate_variant", sa.String(256)),
        sa.Column("previous_traffic", sa.JSON),
        sa.Column("reason", sa.Text),
        sa.Column("outcome", sa.Text),
        sa.Column("requested_by", sa.String(256), nullable=False),
        sa.Column("stop_requested", sa.Text),
        sa.Column("lease_owner", sa.String(128)),
        sa.Column("lease_expires_at", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS),
        sa.Column("finished_at", TS),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_rollouts_status", "rollouts", ["status", "created_at"])
    op.create_table(
        "rollout_steps",
        sa.Column("rollout_id", sa.String(36), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("percent", sa.Float, nullable=False),
        sa.Column("started_at", TS),
        sa.Column("finished_at", TS),
        sa.Column("error_rate", sa.Float),
        sa.Column("passed", sa.Boolean),
    )
    with op.batch_alter_table("promotion_requests") as batch:
        batch.add_column(sa.Column("held", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("promotion_requests") as batch:
        batch.drop_column("held")
    op.drop_table("rollout_steps")
    op.drop_table("rollouts")
