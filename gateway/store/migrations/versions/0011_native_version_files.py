"""The files of native versions that are directories: one row per file (path,
digest, size), written with the version; indexed by digest so retention can
tell whether any version still uses a stored file.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "native_version_files",
        sa.Column("registry_id", sa.String(64), primary_key=True),
        sa.Column("model_name", sa.String(256), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("digest", sa.String(71), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_native_version_files_digest", "native_version_files", ["digest"])


def downgrade() -> None:
    op.drop_index("ix_native_version_files_digest", table_name="native_version_files")
    op.drop_table("native_version_files")
