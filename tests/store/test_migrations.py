"""Migrations create exactly the schema the code describes, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gateway.catalogue.index import CatalogueIndex, SearchFilter, SearchQuery
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
            page = await index.search_models(SearchQuery(word, SearchFilter(), 10, None, facets=()))
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


async def test_0010_keeps_one_rollout_in_progress_per_endpoint(database_url: str) -> None:
    """A store where two starts raced before 0010 holds two rollouts in progress on
    one endpoint: the migration keeps the RUNNING one, ends the other ABORTED
    saying why and withdraws its held request, then the index holds."""
    from alembic import command
    from sqlalchemy import insert, select
    from sqlalchemy.exc import IntegrityError

    from gateway.store.migrate import alembic_config
    from gateway.store.tables import promotion_requests, rollouts

    db = Database(database_url)
    now = datetime.now(UTC)

    def rollout(rid: str, status: str, created: datetime, endpoint: str = "ep/a") -> dict[str, Any]:
        return dict(
            id=rid, version_uri=f"mg://sm/m/{rid}", registry_id="sm", endpoint_uri=endpoint,
            promotion_id=f"p-{rid}", status=status, steps=[50, 100], step_seconds=60,
            max_error_rate=0.01, step_index=-1, current_percent=0.0, requested_by="alice",
            created_at=created, updated_at=created,
        )  # fmt: skip

    def request(rid: str) -> dict[str, Any]:
        return dict(
            id=f"p-{rid}", version_uri=f"mg://sm/m/{rid}", registry_id="sm", from_stage="NONE",
            target_stage="PRODUCTION", status="PENDING", requested_by="alice", required_roles=[],
            violations=[], attempts=0, pending_key=f"mg://sm/m/{rid} PRODUCTION", held=True,
            created_at=now, updated_at=now,
        )  # fmt: skip

    try:
        await db.migrate()
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0009"))
            await conn.execute(
                insert(rollouts),
                [
                    rollout("older", "PENDING_APPROVAL", now - timedelta(hours=2)),
                    rollout("running", "RUNNING", now - timedelta(hours=1)),
                    rollout("newer", "PENDING_APPROVAL", now),
                    rollout("elsewhere", "PENDING_APPROVAL", now, endpoint="ep/b"),
                ],
            )
            await conn.execute(
                insert(promotion_requests), [request(r) for r in ("older", "running", "newer", "elsewhere")]
            )
        await db.migrate()

        async with db.read() as conn:
            rows = {r.id: r for r in await conn.execute(select(rollouts))}
            requests = {r.id: r for r in await conn.execute(select(promotion_requests))}
        assert {k: r.status for k, r in rows.items()} == {
            "older": "ABORTED",
            "running": "RUNNING",
            "newer": "ABORTED",
            "elsewhere": "PENDING_APPROVAL",
        }
        assert "rollout running was already in progress on this endpoint" in rows["newer"].outcome
        assert {k: r.status for k, r in requests.items()} == {
            "p-older": "REJECTED",
            "p-running": "PENDING",
            "p-newer": "REJECTED",
            "p-elsewhere": "PENDING",
        }
        assert requests["p-newer"].pending_key is None
        with pytest.raises(IntegrityError):
            async with db.write() as conn:
                await conn.execute(insert(rollouts).values(rollout("again", "PENDING_APPROVAL", now)))
    finally:
        await db.aclose()
