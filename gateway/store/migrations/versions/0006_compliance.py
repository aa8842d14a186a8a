"""Compliance: risk tier overrides and version reviews.

Revision ID: 0006
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"  # after the rollouts tables
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "model_risk_tiers",
        sa.Column("model_uri", sa.String(600), primary_key=True),
        sa.Column("tier", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("set_by", sa.String(256), nullable=False),
        sa.Column("set_at", TS, nullable=False),
    )
    op.create_table(
        "version_reviews",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version_uri", sa.String(700), nullable=False),
        sa.Column("model_uri", sa.String(600), nullable=False),
        sa.Column("principal", sa.String(256), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_version_reviews_version", "version_reviews", ["version_uri", "at"])
    op.create_index("ix_version_reviews_model", "version_reviews", ["model_uri"])


def downgrade() -> None:
    op.drop_table("version_reviews")
    op.drop_table("model_risk_tiers")
