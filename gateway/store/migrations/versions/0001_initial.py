"""Native registry, catalogue index and registry state.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "native_models",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("registry_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("last_version", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("change_seq", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("registry_id", "name", name="uq_native_models_registry_name"),
    )
    op.create_table(
        "native_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("registry_id", sa.String(64), nullable=False),
        sa.Column("model_name", sa.String(256), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("registry_id", "model_name", "version", name="uq_native_versions_number"),
    )
    op.create_table(
        "native_changes",
        sa.Column("registry_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "catalogue_models",
        sa.Column("uri", sa.String(600), primary_key=True),
        sa.Column("registry_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("team", sa.String(128)),
        sa.Column("description", sa.Text),
        sa.Column("search_text", sa.Text, nullable=False),
        sa.Column("latest_version", sa.String(64)),
        sa.Column("version_count", sa.Integer, nullable=False),
        sa.Column("top_stage", sa.String(16)),
        sa.Column("created_at", TS),
        sa.Column("updated_at", TS),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("indexed_at", TS, nullable=False),
    )
    op.create_index("ix_catalogue_models_registry", "catalogue_models", ["registry_id", "name"])
    op.create_index("ix_catalogue_models_name", "catalogue_models", ["name", "uri"])
    op.create_table(
        "catalogue_versions",
        sa.Column("uri", sa.String(700), primary_key=True),
        sa.Column("model_uri", sa.String(600), nullable=False),
        sa.Column("registry_id", sa.String(64), nullable=False),
        sa.Column("model_name", sa.String(256), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("version_order", sa.BigInteger, nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("team", sa.String(128)),
        sa.Column("compliant", sa.Boolean),
        sa.Column("search_text", sa.Text, nullable=False),
        sa.Column("created_at", TS),
        sa.Column("updated_at", TS),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("indexed_at", TS, nullable=False),
    )
    op.create_index("ix_catalogue_versions_model", "catalogue_versions", ["model_uri", "version_order"])
    op.create_index("ix_catalogue_versions_registry", "catalogue_versions", ["registry_id", "stage"])
    op.create_table(
        "catalogue_tags",
        sa.Column("subject_uri", sa.String(700), nullable=False),
        sa.Column("key", sa.String(256), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_index("ix_catalogue_tags_subject", "catalogue_tags", ["subject_uri"])
    op.create_index("ix_catalogue_tags_key", "catalogue_tags", ["key"])
    op.create_table(
        "registry_state",
        sa.Column("registry_id", sa.String(64), primary_key=True),
        sa.Column("healthy", sa.Boolean, nullable=False),
        sa.Column("synced_at", TS),
        sa.Column("last_error", sa.Text),
        sa.Column("cursor", sa.Text),
        sa.Column("sync_seconds", sa.Float),
    )


def downgrade() -> None:
    for table in (
        "registry_state",
        "catalogue_tags",
        "catalogue_versions",
        "catalogue_models",
        "native_changes",
        "native_versions",
        "native_models",
    ):
        op.drop_table(table)
