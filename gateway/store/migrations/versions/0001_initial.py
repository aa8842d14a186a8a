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
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uri", sa.String(600), nullable=False, unique=True),
        sa.Column("registry_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("team", sa.String(128)),
        sa.Column("description", sa.Text),
        sa.Column("search_text", sa.Text, nullable=False),
        sa.Column("latest_version", sa.String(64)),
        sa.Column("version_count", sa.Integer, nullable=False),
        sa.Column("top_stage", sa.String(16)),
        sa.Column("stage_mask", sa.Integer, nullable=False),
        sa.Column("framework", sa.String(128)),
        sa.Column("compliant", sa.Boolean),
        sa.Column("restricted", sa.Boolean, nullable=False),
        sa.Column("updated_order", sa.BigInteger, nullable=False),
        sa.Column("created_at", TS),
        sa.Column("updated_at", TS),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("indexed_at", TS, nullable=False),
    )
    op.create_index("ix_catalogue_models_registry", "catalogue_models", ["registry_id", "name"])
    op.create_index("ix_catalogue_models_name", "catalogue_models", ["name", "uri"])
    op.create_index("ix_catalogue_models_updated", "catalogue_models", ["updated_order", "uri"])
    op.create_index(
        "ix_catalogue_models_facets",
        "catalogue_models",
        ["team", "registry_id", "framework", "stage_mask", "compliant", "restricted"],
    )
    op.create_table(
        "catalogue_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uri", sa.String(700), nullable=False, unique=True),
        sa.Column("model_uri", sa.String(600), nullable=False),
        sa.Column("registry_id", sa.String(64), nullable=False),
        sa.Column("model_name", sa.String(256), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("version_order", sa.BigInteger, nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("team", sa.String(128)),
        sa.Column("compliant", sa.Boolean),
        sa.Column("restricted", sa.Boolean, nullable=False),
        sa.Column("framework", sa.String(128)),
        sa.Column("updated_order", sa.BigInteger, nullable=False),
        sa.Column("search_text", sa.Text, nullable=False),
        sa.Column("created_at", TS),
        sa.Column("updated_at", TS),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("indexed_at", TS, nullable=False),
    )
    op.create_index("ix_catalogue_versions_model", "catalogue_versions", ["model_uri", "version_order"])
    op.create_index("ix_catalogue_versions_registry", "catalogue_versions", ["registry_id", "stage"])
    op.create_index(
        "ix_catalogue_versions_name", "catalogue_versions", ["model_name", "version_order", "uri"]
    )
    op.create_index("ix_catalogue_versions_updated", "catalogue_versions", ["updated_order", "uri"])
    op.create_index(
        "ix_catalogue_versions_facets",
        "catalogue_versions",
        ["team", "registry_id", "framework", "stage", "compliant", "restricted"],
    )
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
    create_fulltext(op.get_bind().dialect.name)


# Full-text search lives outside the table metadata: FTS5 on SQLite (external
# content tables kept current by triggers), GIN expression indexes on PostgreSQL.
FULLTEXT_TABLES = {
    "catalogue_models": "catalogue_models_fts",
    "catalogue_versions": "catalogue_versions_fts",
}


def create_fulltext(dialect: str) -> None:
    for table, fts in FULLTEXT_TABLES.items():
        if dialect == "sqlite":
            op.execute(
                f"CREATE VIRTUAL TABLE {fts} USING fts5(search_text, content='{table}', "
                "content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
            )
            op.execute(
                f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
                f"INSERT INTO {fts}(rowid, search_text) VALUES (new.id, new.search_text); END"
            )
            op.execute(
                f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "
                f"INSERT INTO {fts}({fts}, rowid, search_text) "
                "VALUES ('delete', old.id, old.search_text); END"
            )
            op.execute(
                f"CREATE TRIGGER {fts}_au AFTER UPDATE OF search_text ON {table} BEGIN "
                f"INSERT INTO {fts}({fts}, rowid, search_text) VALUES ('delete', old.id, old.search_text); "
                f"INSERT INTO {fts}(rowid, search_text) VALUES (new.id, new.search_text); END"
            )
        else:
            # A stored tsvector: ranking reads it instead of re-parsing every matching row.
            op.execute(
                f"ALTER TABLE {table} ADD COLUMN search_fts tsvector "
                "GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED"
            )
            op.execute(f"CREATE INDEX {fts} ON {table} USING gin (search_fts)")


def downgrade() -> None:
    for fts in FULLTEXT_TABLES.values():
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"DROP TABLE IF EXISTS {fts}")
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
