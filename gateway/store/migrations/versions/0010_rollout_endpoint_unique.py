"""At most one rollout in progress (PENDING_APPROVAL or RUNNING) per endpoint: a
partial unique index on (registry_id, endpoint_uri).

A store that already holds several on one endpoint (two starts that raced
before this index) keeps one: a RUNNING one before one still waiting for
approval, then the oldest. The others are ended ABORTED, with an outcome saying
why, and their held PRODUCTION requests are withdrawn (REJECTED by ``system``).
The migration cannot reach the serving system: an aborted rollout that had
shifted traffic leaves it as it is, and its outcome says so.

Revision ID: 0010
Revises: 0009
"""

from datetime import UTC, datetime
from itertools import groupby

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ACTIVE = ("PENDING_APPROVAL", "RUNNING")
WHERE = sa.text("status IN ('PENDING_APPROVAL', 'RUNNING')")
TS = sa.DateTime(timezone=True)

rollouts = sa.table(
    "rollouts",
    sa.column("id", sa.String),
    sa.column("registry_id", sa.String),
    sa.column("endpoint_uri", sa.String),
    sa.column("promotion_id", sa.String),
    sa.column("status", sa.String),
    sa.column("outcome", sa.Text),
    sa.column("stop_requested", sa.Text),
    sa.column("lease_owner", sa.String),
    sa.column("lease_expires_at", TS),
    sa.column("created_at", TS),
    sa.column("finished_at", TS),
    sa.column("updated_at", TS),
)
requests = sa.table(
    "promotion_requests",
    sa.column("id", sa.String),
    sa.column("status", sa.String),
    sa.column("pending_key", sa.String),
    sa.column("claimed_at", TS),
    sa.column("rejected_by", sa.String),
    sa.column("rejected_role", sa.String),
    sa.column("rejection_comment", sa.Text),
    sa.column("rejected_at", TS),
    sa.column("updated_at", TS),
)


def _end_duplicates() -> None:
    conn = op.get_bind()
    active = conn.execute(
        sa.select(
            rollouts.c.id,
            rollouts.c.registry_id,
            rollouts.c.endpoint_uri,
            rollouts.c.promotion_id,
            rollouts.c.status,
            rollouts.c.created_at,
        ).where(rollouts.c.status.in_(ACTIVE))
    ).all()

    def endpoint(r: sa.Row) -> tuple[str, str]:  # type: ignore[type-arg]
        return (r.registry_id, r.endpoint_uri)

    now = datetime.now(UTC)
    for _, group in groupby(sorted(active, key=endpoint), key=endpoint):
        kept, *ended = sorted(group, key=lambda r: (r.status != "RUNNING", r.created_at, r.id))
        for r in ended:
            why = (
                f"aborted by migration 0010: rollout {kept.id} was already in progress on this endpoint "
                "(one rollout per endpoint at a time)"
                + ("; the endpoint's traffic was left as it was" if r.status == "RUNNING" else "")
            )
            conn.execute(
                sa.update(rollouts)
                .where(rollouts.c.id == r.id)
                .values(
                    status="ABORTED",
                    outcome=why,
                    stop_requested=None,
                    lease_owner=None,
                    lease_expires_at=None,
                    finished_at=now,
                    updated_at=now,
                )
            )
            if r.promotion_id:
                conn.execute(
                    sa.update(requests)
                    .where(
                        requests.c.id == r.promotion_id,
                        requests.c.status == "PENDING",
                        requests.c.claimed_at.is_(None),
                    )
                    .values(
                        status="REJECTED",
                        pending_key=None,
                        rejected_by="system",
                        rejected_role="",
                        rejection_comment=f"rollout ABORTED: {why}",
                        rejected_at=now,
                        updated_at=now,
                    )
                )


def upgrade() -> None:
    _end_duplicates()
    op.create_index(
        "ux_rollouts_active_endpoint",
        "rollouts",
        ["registry_id", "endpoint_uri"],
        unique=True,
        postgresql_where=WHERE,
        sqlite_where=WHERE,
    )


def downgrade() -> None:
    op.drop_index("ux_rollouts_active_endpoint", table_name="rollouts")
