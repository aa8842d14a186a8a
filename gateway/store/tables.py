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
    false,
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

# The files of a native version that is a directory (``registerModelVersion``
# with ``files``), written in the registration's transaction; a version that is
# one artifact has none. The digest index answers "does any version still use
# these bytes?" before a retention rule deletes them.
native_version_files = Table(
    "native_version_files",
    metadata,
    Column("registry_id", String(64), primary_key=True),
    Column("model_name", String(256), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("digest", String(71), nullable=False),  # sha256:<64 hex>
    Column("size", BigInteger, nullable=False),
    Index("ix_native_version_files_digest", "digest"),
)

# Monotonic change counter per native registry, the cursor of ``changes_since``.
native_changes = Table(
    "native_changes",
    metadata,
    Column("registry_id", String(64), primary_key=True),
    Column("seq", BigInteger, nullable=False),
)

# --- catalogue index: every registry's models and versions --------------------

# Integer ids give full-text indexes a stable rowid to point at (SQLite's VACUUM
# may renumber implicit rowids); the URI is the key everything else uses.
catalogue_models = Table(
    "catalogue_models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uri", String(600), nullable=False, unique=True),
    Column("registry_id", String(64), nullable=False),
    Column("name", String(256), nullable=False),
    Column("team", String(128)),
    Column("description", Text),
    Column("search_text", Text, nullable=False),
    Column("latest_version", String(64)),
    Column("version_count", Integer, nullable=False, default=0),
    Column("top_stage", String(16)),
    Column("stage_mask", Integer, nullable=False, default=0),  # one bit per stage any version has
    Column("framework", String(128)),  # the latest version's
    Column("compliant", Boolean),  # False when any version is not; kept by CatalogueIndex
    # A restricted=true tag on the model or any of its versions: only its team sees it.
    Column("restricted", Boolean, nullable=False, default=False),
    Column("updated_order", BigInteger, nullable=False),  # epoch microseconds, for keyset paging
    Column("created_at", UtcDateTime()),
    Column("updated_at", UtcDateTime()),
    Column("record", JSON, nullable=False),
    Column("indexed_at", UtcDateTime(), nullable=False),
    Index("ix_catalogue_models_registry", "registry_id", "name"),
    Index("ix_catalogue_models_name", "name", "uri"),
    Index("ix_catalogue_models_updated", "updated_order", "uri"),
    # Covers the facet scan (one grouped pass over these columns): no wide rows read.
    Index(
        "ix_catalogue_models_facets",
        "team",
        "registry_id",
        "framework",
        "stage_mask",
        "compliant",
        "restricted",
    ),
)

catalogue_versions = Table(
    "catalogue_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uri", String(700), nullable=False, unique=True),
    Column("model_uri", String(600), nullable=False),
    Column("registry_id", String(64), nullable=False),
    Column("model_name", String(256), nullable=False),
    Column("version", String(64), nullable=False),
    Column("version_order", BigInteger, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("team", String(128)),
    Column("compliant", Boolean),  # NULL until policies are evaluated: counts as compliant
    Column("restricted", Boolean, nullable=False, default=False),  # its model's flag
    Column("framework", String(128)),
    Column("updated_order", BigInteger, nullable=False),
    Column("search_text", Text, nullable=False),
    Column("created_at", UtcDateTime()),
    Column("updated_at", UtcDateTime()),
    Column("record", JSON, nullable=False),
    Column("indexed_at", UtcDateTime(), nullable=False),
    Index("ix_catalogue_versions_model", "model_uri", "version_order"),
    Index("ix_catalogue_versions_registry", "registry_id", "stage"),
    Index("ix_catalogue_versions_name", "model_name", "version_order", "uri"),
    Index("ix_catalogue_versions_updated", "updated_order", "uri"),
    Index(
        "ix_catalogue_versions_facets", "team", "registry_id", "framework", "stage", "compliant", "restricted"
    ),
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
    # A first full sync's catalogue is in, its versions' details are still being read
    # (or that pass failed and the next full one has not read them yet).
    Column("details_pending", Boolean, nullable=False, default=False, server_default=false()),
)

# --- governance ---------------------------------------------------------------

# The stored policy evaluation of each indexed version: one row per violated policy
# (``catalogue_versions.compliant`` holds the verdict). Kept current by the
# compliance listener inside the indexing transaction.
governance_violations = Table(
    "governance_violations",
    metadata,
    Column("version_uri", String(700), primary_key=True),
    Column("policy_id", String(128), primary_key=True),
    Column("model_uri", String(600), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("message", Text, nullable=False),
    Index("ix_governance_violations_model", "model_uri"),
    Index("ix_governance_violations_policy", "policy_id"),
)

# Small named values governance keeps between starts (e.g. the policy file digest).
governance_state = Table(
    "governance_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

promotion_requests = Table(
    "promotion_requests",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("version_uri", String(700), nullable=False),
    Column("registry_id", String(64), nullable=False),
    Column("from_stage", String(16), nullable=False),
    Column("target_stage", String(16), nullable=False),
    Column("reason", Text),
    Column("status", String(16), nullable=False),  # PENDING | BLOCKED | REJECTED | APPLIED | FAILED
    Column("requested_by", String(256), nullable=False),
    Column("required_roles", JSON, nullable=False),
    Column("violations", JSON, nullable=False),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, default=0),
    # "<version uri> <target stage>" while PENDING, else NULL: a unique key that
    # allows one open request per version and target on both databases.
    Column("pending_key", String(720)),
    # Set by the one approver whose conditional UPDATE wins the write-through.
    Column("claimed_by", String(256)),
    Column("claimed_at", UtcDateTime()),
    Column("rejected_by", String(256)),
    Column("rejected_role", String(64)),
    Column("rejection_comment", Text),
    Column("rejected_at", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # Held for a rollout: approval does not write through; the rollout does when it succeeds.
    Column("held", Boolean, nullable=False, default=False, server_default=false()),
    UniqueConstraint("pending_key", name="uq_promotion_requests_pending"),
    Index("ix_promotion_requests_version", "version_uri"),
    Index("ix_promotion_requests_status", "status", "created_at"),
)

# One row per approval; the unique keys are what make a repeated or concurrent
# approval for the same role, or by the same principal, impossible.
promotion_approvals = Table(
    "promotion_approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(36), nullable=False),
    Column("role", String(64), nullable=False),
    Column("principal", String(256), nullable=False),
    Column("comment", Text),
    Column("at", UtcDateTime(), nullable=False),
    UniqueConstraint("request_id", "role", name="uq_promotion_approvals_role"),
    UniqueConstraint("request_id", "principal", name="uq_promotion_approvals_principal"),
)

# The append-only, hash-chained audit log. ``seq`` is assigned by the appender
# (1, 2, 3 ... without gaps) while it holds the chain head.
audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("action", String(64), nullable=False),
    Column("principal", String(256), nullable=False),
    Column("subject", String(700)),
    Column("details", JSON, nullable=False),
    Column("prev_hash", String(64)),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_events_subject", "subject", "seq"),
    Index("ix_audit_events_principal", "principal", "seq"),
    Index("ix_audit_events_action", "action", "seq"),
    Index("ix_audit_events_at", "at"),
)

# One row (id = 1): the newest event's sequence number and hash. Appenders lock it
# (FOR UPDATE on PostgreSQL) so events chain in commit order; verification
# compares it with the last event, which catches events cut off the end.
audit_chain_head = Table(
    "audit_chain_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64)),
)

# --- lineage ------------------------------------------------------------------

# One row per edge of the lineage graph. ``origin_version_uri`` is the version
# whose record, tags or registry lineage produced the edge: re-harvesting a
# version replaces exactly its rows. ``evidence`` says how the edge is known
# (``record``, ``tag:lineage.parent``, ``registry``). Node descriptions ride on
# the edge so a walk needs no second lookup.
lineage_edges = Table(
    "lineage_edges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_uri", String(1024), nullable=False),
    Column("source_kind", String(32), nullable=False),
    Column("source_label", String(512)),
    Column("source_registry", String(64)),
    Column("target_uri", String(1024), nullable=False),
    Column("target_kind", String(32), nullable=False),
    Column("target_label", String(512)),
    Column("target_registry", String(64)),
    Column("relation", String(16), nullable=False),
    Column("origin_version_uri", String(700), nullable=False),
    Column("evidence", String(64), nullable=False),
    Index("ix_lineage_edges_source", "source_uri", "relation"),
    Index("ix_lineage_edges_target", "target_uri", "relation"),
    Index("ix_lineage_edges_origin", "origin_version_uri"),
)

# What makes two versions the same model (SAME_AS at query time): the normalised
# artifact URI (``uri:s3://...``) and the content digest (``digest:sha256:...``).
lineage_artifacts = Table(
    "lineage_artifacts",
    metadata,
    Column("version_uri", String(700), primary_key=True),
    Column("key", String(1024), primary_key=True),
    Column("registry_id", String(64), nullable=False),
    Index("ix_lineage_artifacts_key", "key", "registry_id"),
)

# Small named values lineage keeps between starts (the resolution fingerprint:
# when the configured registries change, stored references are resolved again).
lineage_state = Table(
    "lineage_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# --- canary rollouts (gateway.rollouts) ---------------------------------------

# One row per rollout: its plan, where it stands, the traffic to restore, and the
# lease of the one replica driving it (taken over when it expires).
rollouts = Table(
    "rollouts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("version_uri", String(700), nullable=False),
    Column("registry_id", String(64), nullable=False),
    Column("endpoint_uri", String(1024), nullable=False),
    Column("promotion_id", String(36)),
    # PENDING_APPROVAL | RUNNING | SUCCEEDED | ROLLED_BACK | ABORTED | FAILED
    Column("status", String(20), nullable=False),
    Column("steps", JSON, nullable=False),
    Column("step_seconds", Integer, nullable=False),
    Column("max_error_rate", Float, nullable=False),
    Column("step_index", Integer, nullable=False),  # -1 before the first step
    Column("current_percent", Float, nullable=False),
    # NULL while the current step's traffic shift is not yet confirmed done.
    Column("step_started_at", UtcDateTime()),
    Column("candidate_variant", String(256)),
    Column("previous_traffic", JSON),
    Column("reason", Text),
    Column("outcome", Text),
    Column("requested_by", String(256), nullable=False),
    Column("stop_requested", Text),  # an abort's reason, until the driver acts on it
    Column("lease_owner", String(128)),
    Column("lease_expires_at", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("started_at", UtcDateTime()),
    Column("finished_at", UtcDateTime()),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_rollouts_status", "status", "created_at"),
)

# The statuses of a rollout still in progress (``gateway.rollouts.records.ACTIVE``).
ROLLOUT_ACTIVE_STATUSES = ("PENDING_APPROVAL", "RUNNING")
_rollout_active = rollouts.c.status.in_(ROLLOUT_ACTIVE_STATUSES)
# At most one rollout in progress per endpoint: the store holds it, so two starts
# racing (in one process or on two replicas) cannot both insert one.
Index(
    "ux_rollouts_active_endpoint",
    rollouts.c.registry_id,
    rollouts.c.endpoint_uri,
    unique=True,
    postgresql_where=_rollout_active,
    sqlite_where=_rollout_active,
)

rollout_steps = Table(
    "rollout_steps",
    metadata,
    Column("rollout_id", String(36), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("percent", Float, nullable=False),
    Column("started_at", UtcDateTime()),
    Column("finished_at", UtcDateTime()),
    Column("error_rate", Float),
    Column("passed", Boolean),
)

# --- serving: what serves what, and every stage change -------------------------

# Endpoints as their registry read them (SageMaker, Vertex) or as a serving
# system reported them (recordDeployment, POST /deployments; source "reported").
serving_endpoints = Table(
    "serving_endpoints",
    metadata,
    Column("registry_id", String(64), primary_key=True),
    Column("uri", String(700), primary_key=True),
    Column("name", String(512), nullable=False),
    Column("status", String(64)),
    Column("source", String(16), nullable=False),  # "registry" | "reported"
    Column("updated_at", UtcDateTime()),
    Column("seen_at", UtcDateTime(), nullable=False),
)

# One row per slice of an endpoint's traffic (a variant, a deployed model, a version).
serving_traffic = Table(
    "serving_traffic",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("registry_id", String(64), nullable=False),
    Column("endpoint_uri", String(700), nullable=False),
    Column("position", Integer, nullable=False),  # the registry's order of variants
    Column("variant", String(256)),
    Column("version_uri", String(700)),  # NULL: not a catalogue version (a bare image)
    Column("model_uri", String(600)),
    Column("percent", Float, nullable=False),
    Column("status", String(64)),
    Column("updated_at", UtcDateTime()),
    Index("ix_serving_traffic_endpoint", "registry_id", "endpoint_uri"),
    Index("ix_serving_traffic_version", "version_uri"),
    Index("ix_serving_traffic_model", "model_uri"),
)

# Every stage change modelgate saw or made, oldest first by id: from syncs
# ("sync"), applied promotions ("promotion"), rollbacks ("rollback") and the
# rollout engine ("rollout"). from_stage NULL: the first stage seen.
stage_changes = Table(
    "stage_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version_uri", String(700), nullable=False),
    Column("model_uri", String(600), nullable=False),
    Column("from_stage", String(16)),
    Column("to_stage", String(16), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("principal", String(256)),
    Column("source", String(16), nullable=False),
    Index("ix_stage_changes_version", "version_uri", "id"),
    Index("ix_stage_changes_model", "model_uri", "at"),
)

# --- compliance: risk tiers and reviews ----------------------------------------

# A model's risk tier set by hand (``setRiskTier``); absent: the policy file's rules decide.
model_risk_tiers = Table(
    "model_risk_tiers",
    metadata,
    Column("model_uri", String(600), primary_key=True),
    Column("tier", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("set_by", String(256), nullable=False),
    Column("set_at", UtcDateTime(), nullable=False),
)

# Review comments on versions (``addReview``), append-only; an APPROVED review
# resets the version's periodic-review clock.
version_reviews = Table(
    "version_reviews",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("version_uri", String(700), nullable=False),
    Column("model_uri", String(600), nullable=False),
    Column("principal", String(256), nullable=False),
    Column("comment", Text, nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Index("ix_version_reviews_version", "version_uri", "at"),
    Index("ix_version_reviews_model", "model_uri"),
)

# --- rollback: the traffic a rollback's request restores -----------------------

# One row per endpoint a rollback puts back: the gateway rollout whose recorded
# previous split is restored when the request is applied (restored_at then set).
rollback_traffic = Table(
    "rollback_traffic",
    metadata,
    Column("promotion_id", String(36), primary_key=True),
    Column("endpoint_uri", String(700), primary_key=True),
    Column("registry_id", String(64), nullable=False),
    Column("rollout_id", String(36), nullable=False),
    Column("as_of", UtcDateTime(), nullable=False),
    Column("restored_at", UtcDateTime()),
)
