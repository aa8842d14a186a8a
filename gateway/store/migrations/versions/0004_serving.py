"""Serving state (endpoints and their traffic) and the stage history.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "serving_endpoints",
        sa.Column("registry_id", sa.String(64), primary_key=True),
        sa.Column("uri", sa.String(700), primary_key=True),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("status", sa.String(64)),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("updated_at", TS),
        sa.Column("seen_at", TS, nullable=False),
    )
    op.create_table(
        "serving_traffic",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("registry_id", sa.String(64), nullable=False),
        sa.Column("endpoint_uri", sa.String(700), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("variant", sa.String(256)),
        sa.Column("version_uri", sa.String(700)),
        sa.Column("model_uri", sa.String(600)),
        sa.Column("percent", sa.Float, nullable=False),
        sa.Column("status", sa.String(64)),
        sa.Column("updated_at", TS),
    )
    op.create_index("ix_serving_traffic_endpoint", "serving_traffic", ["registry_id", "endpoint_uri"])
    op.create_index("ix_serving_traffic_version", "serving_traffic", ["version_uri"])
    op.create_index("ix_serving_traffic_model", "serving_traffic", ["model_uri"])
    op.create_table(
        "stage_changes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version_uri", sa.String(700), nullable=False),
        sa.Column("model_uri", sa.String(600), nullable=False),
        sa.Column("from_stage", sa.String(16)),
        sa.Column("to_stage", sa.String(16), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("principal", sa.String(256)),
        sa.Column("source", sa.String(16), nullable=False),
    )
    op.create_index("ix_stage_changes_version", "stage_changes", ["version_uri", "id"])
    op.create_index("ix_stage_changes_model", "stage_changes", ["model_uri", "at"])


def downgrade() -> None:
    for table in ("stage_changes", "serving_traffic", "serving_endpoints"):
        op.drop_table(table)
