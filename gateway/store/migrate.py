"""Run Alembic migrations on a live connection (no alembic.ini needed).

``modelgate serve`` upgrades the schema at start; ``modelgate db upgrade``
does it alone, for deployments that migrate before rolling out.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).parent / "migrations"


def is_managed(name: str | None, type_: str, *_: object) -> bool:
    """Objects the table metadata describes; full-text search objects (FTS5 tables
    and their shadow tables, GIN expression indexes) are created by hand."""
    return not (name and "_fts" in name)


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(connection: Connection, revision: str = "head") -> None:
    command.upgrade(alembic_config(connection), revision)


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
