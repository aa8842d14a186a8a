"""Registry state: whether a first full sync is still reading version details
(run params, metrics, datasets, code) that its catalogue pass left out.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "registry_state",
        sa.Column("details_pending", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("registry_state", "details_pending")
