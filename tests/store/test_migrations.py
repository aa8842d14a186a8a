"""Migrations create exactly the schema the code describes, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gateway.store.database import Database
from gateway.store.migrate import current_revision, head_revision, is_managed
from gateway.store.tables import metadata


async def test_migrated_schema_matches_tables(database_url: str) -> None:
    db = Database(database_url)
    try:
        await db.migrate()
        await db.migrate()  # idempotent: a second start changes nothing

        def diff(sync_conn):  # type: ignore[no-untyped-def]
            context = MigrationContext.configure(
                sync_conn, opts={"compare_type": True, "include_name": is_managed}
            )
            return compare_metadata(context, metadata), current_revision(sync_conn)

        async with db.engine.connect() as conn:
            differences, revision = await conn.run_sync(diff)
        assert differences == []
        assert revision == head_revision()
    finally:
        await db.aclose()
