"""Governance: stored policy evaluation, promotion requests and approvals, the
hash-chained audit log.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "governance_violations",
        sa.Column("version_uri", sa.String(700), primary_key=True),
        sa.Column("policy_id", sa.String(128), primary_key=True),
        sa.Column("model_uri", sa.String(600), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index("ix_governance_violations_model", "governance_violations", ["model_uri"])
    op.create_index("ix_governance_violations_policy", "governance_violations", ["policy_id"])
    op.create_table(
        "governance_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "promotion_requests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("version_uri", sa.String(700), nullable=False),
        sa.Column("registry_id", sa.String(64), nullable=False),
        sa.Column("from_stage", sa.String(16), nullable=False),
        sa.Column("target_stage", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(256), nullable=False),
        sa.Column("required_roles", sa.JSON, nullable=False),
        sa.Column("violations", sa.JSON, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("pending_key", sa.String(720)),
        sa.Column("claimed_by", sa.String(256)),
        sa.Column("claimed_at", TS),
        sa.Column("rejected_by", sa.String(256)),
        sa.Column("rejected_role", sa.String(64)),
        sa.Column("rejection_comment", sa.Text),
        sa.Column("rejected_at", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("pending_key", name="uq_promotion_requests_pending"),
    )
    op.create_index("ix_promotion_requests_version", "promotion_requests", ["version_uri"])
    op.create_index("ix_promotion_requests_status", "promotion_requests", ["status", "created_at"])
    op.create_table(
        "promotion_approvals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("principal", sa.String(256), nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("at", TS, nullable=False),
        sa.UniqueConstraint("request_id", "role", name="uq_promotion_approvals_role"),
        sa.UniqueConstraint("request_id", "principal", name="uq_promotion_approvals_principal"),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("principal", sa.String(256), nullable=False),
        sa.Column("subject", sa.String(700)),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64)),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_events_subject", "audit_events", ["subject", "seq"])
    op.create_index("ix_audit_events_principal", "audit_events", ["principal", "seq"])
    op.create_index("ix_audit_events_action", "audit_events", ["action", "seq"])
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64)),
    )


def downgrade() -> None:
    for table in (
        "audit_chain_head",
        "audit_events",
        "promotion_approvals",
        "promotion_requests",
        "governance_state",
        "governance_violations",
    ):
        op.drop_table(table)
