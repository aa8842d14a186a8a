"""Table definitions (SQLAlchemy Core). Alembic migrations create them; a test
checks that the migrated schema and these definitions agree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite too (which
    stores no zone and would hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: modelgate stores aware UTC times only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

# --- native registry: the source of truth for native models ------------------

native_models = Table(
    "native_models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("registry_id", String(64), nullable=False),
    Column("name", String(256), nullable=False),
    Column("description", Text),
    Column("tags", JSON, nullable=False),
    Column("last_version", Integer, nullable=False, default=0),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("change_seq", BigInteger, nullable=False, default=0),
    UniqueConstraint("registry_id", "name", name="uq_native_models_registry_name"),
)

native_versions = Table(
    "native_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("registry_id", String(64), nullable=False),
    Column("model_name", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("record", JSON, nullable=False),  # the full ModelVersion (gateway.codec)
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("registry_id", "model_name", "version", name="uq_native_versions_number"),
)

# Monotonic change counter per native registry, the cursor of ``changes_since``.
native_changes = Table(
    "native_changes",
    metadata,
    Column("registry_id", String(64), primary_key=True),
    Column("seq", BigInteger, nullable=False),
)

# --- catalogue index: every registry's models and versions --------------------

catalogue_models = Table(
    "catalogue_models",
    metadata,
    Column("uri", String(600), primary_key=True),
    Column("registry_id", String(64), nullable=False),
    Column("name", String(256), nullable=False),
    Column("team", String(128)),
    Column("description", Text),
    Column("search_text", Text, nullable=False),
    Column("latest_version", String(64)),
    Column("version_count", Integer, nullable=False, default=0),
    Column("top_stage", String(16)),
    Column("created_at", UtcDateTime()),
    Column("updated_at", UtcDateTime()),
    Column("record", JSON, nullable=False),
    Column("indexed_at", UtcDateTime(), nullable=False),
    Index("ix_catalogue_models_registry", "registry_id", "name"),
    Index("ix_catalogue_models_name", "name", "uri"),
)

catalogue_versions = Table(
    "catalogue_versions",
    metadata,
    Column("uri", String(700), primary_key=True),
    Column("model_uri", String(600), nullable=False),
    Column("registry_id", String(64), nullable=False),
    Column("model_name", String(256), nullable=False),
    Column("version", String(64), nullable=False),
    Column("version_order", BigInteger, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("team", String(128)),
    Column("compliant", Boolean),  # NULL until policies are evaluated: counts as compliant
    Column("search_text", Text, nullable=False),
    Column("created_at", UtcDateTime()),
    Column("updated_at", UtcDateTime()),
    Column("record", JSON, nullable=False),
    Column("indexed_at", UtcDateTime(), nullable=False),
    Index("ix_catalogue_versions_model", "model_uri", "version_order"),
    Index("ix_catalogue_versions_registry", "registry_id", "stage"),
)

# Tags of indexed models and versions, one row each, for tag filters and facets.
catalogue_tags = Table(
    "catalogue_tags",
    metadata,
    Column("subject_uri", String(700), nullable=False),
    Column("key", String(256), nullable=False),
    Column("value", Text, nullable=False),
    Index("ix_catalogue_tags_subject", "subject_uri"),
    Index("ix_catalogue_tags_key", "key"),
)

registry_state = Table(
    "registry_state",
    metadata,
    Column("registry_id", String(64), primary_key=True),
    Column("healthy", Boolean, nullable=False, default=True),
    Column("synced_at", UtcDateTime()),
    Column("last_error", Text),
    Column("cursor", Text),
    Column("sync_seconds", Float),
)
