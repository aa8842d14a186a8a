"""Lineage: the edge store beside the catalogue index, artifact keys for SAME_AS
links, and lineage's small state (the reference-resolution fingerprint).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lineage_edges",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source_uri", sa.String(1024), nullable=False),
        sa.Column("source_kind", sa.String(32), nullable=False),
        sa.Column("source_label", sa.String(512)),
        sa.Column("source_registry", sa.String(64)),
        sa.Column("target_uri", sa.String(1024), nullable=False),
        sa.Column("target_kind", sa.String(32), nullable=False),
        sa.Column("target_label", sa.String(512)),
        sa.Column("target_registry", sa.String(64)),
        sa.Column("relation", sa.String(16), nullable=False),
        sa.Column("origin_version_uri", sa.String(700), nullable=False),
        sa.Column("evidence", sa.String(64), nullable=False),
    )
    op.create_index("ix_lineage_edges_source", "lineage_edges", ["source_uri", "relation"])
    op.create_index("ix_lineage_edges_target", "lineage_edges", ["target_uri", "relation"])
    op.create_index("ix_lineage_edges_origin", "lineage_edges", ["origin_version_uri"])
    op.create_table(
        "lineage_artifacts",
        sa.Column("version_uri", sa.String(700), primary_key=True),
        sa.Column("key", sa.String(1024), primary_key=True),
        sa.Column("registry_id", sa.String(64), nullable=False),
    )
    op.create_index("ix_lineage_artifacts_key", "lineage_artifacts", ["key", "registry_id"])
    op.create_table(
        "lineage_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("lineage_state", "lineage_artifacts", "lineage_edges"):
        op.drop_table(table)
