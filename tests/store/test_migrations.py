"""Migrations create exactly the schema the code describes, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gateway.catalogue.index import CatalogueIndex, SearchFilter
from gateway.domain import Model, ModelVersion
from gateway.store.database import Database
from gateway.store.migrate import current_revision, head_revision, is_managed, upgrade
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


async def no_fulltext(*_: object) -> None:
    return None


async def test_an_index_written_before_0008_keeps_its_full_text_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows indexed at 0007 got their full-text entries from the insert trigger; after
    0008 the index writes them itself. Changing and removing the old rows, and adding
    new ones, leaves search answering exactly (a missing entry would corrupt FTS5)."""
    db = Database(f"sqlite:///{tmp_path}/old.db")
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(upgrade, "0007")
        index = CatalogueIndex(db)

        def pair(name: str, words: str) -> tuple[Model, list[ModelVersion]]:
            return Model("old", name, description=words), [ModelVersion("old", name, "1", description=words)]

        # As the code of 0007 wrote them: the trigger made the full-text entries.
        with monkeypatch.context() as m:
            m.setattr("gateway.catalogue.index.add_fulltext", no_fulltext)
            await index.replace_models(
                [pair("kept", "heron"), pair("changed", "egret"), pair("gone", "ibis")]
            )
        await db.migrate()
        await index.replace_models([pair("changed", "stork"), pair("new", "crane")])
        await index.remove_models("old", ["gone"])

        async def names(word: str) -> list[str]:
            page = await index.search_models(word, SearchFilter(), 10, None, facets=())
            return sorted(m.name for m in page.items)

        assert [await names(w) for w in ("heron", "egret", "stork", "ibis", "crane")] == [
            ["kept"],
            [],
            ["changed"],
            [],
            ["new"],
        ]
    finally:
        await db.aclose()
