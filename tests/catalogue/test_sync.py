"""The sync engine against an in-memory registry at the adapter seam."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.catalogue.index import CatalogueIndex, SearchFilter, SearchQuery
from gateway.catalogue.pipeline import FIRST_BATCH_SIZE
from gateway.catalogue.sync import SyncEngine
from gateway.config import RegistrySettings
from gateway.domain import ModelVersion
from gateway.store.database import Database
from tests.fakes.memory_registry import (
    DetailFillingRegistry,
    MemoryRegistry,
    PagedBulkRegistry,
    PerModelRegistry,
)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    await db.migrate()
    yield db
    await db.aclose()


def engine_for(database: Database, *registries: MemoryRegistry) -> SyncEngine:
    settings = {
        r.registry_id: RegistrySettings(id=r.registry_id, kind="memory", team="ml") for r in registries
    }
    return SyncEngine(CatalogueIndex(database), {r.registry_id: r for r in registries}, settings)


async def names(index: CatalogueIndex) -> list[str]:
    page = await index.search_models(SearchQuery(None, SearchFilter(), 100, None, facets=()))
    return [m.name for m in page.items]


@pytest.mark.parametrize("registry_class", [MemoryRegistry, PerModelRegistry])
async def test_full_sync_indexes_everything_and_drops_deleted(
    database: Database, registry_class: type
) -> None:
    reg = registry_class("mem", page_size=7)
    for i in range(30):
        reg.put(f"m{i:02d}", versions=2)
    engine = engine_for(database, reg)
    result = await engine.sync_registry("mem", full=True)
    assert (result.models, result.changed, result.error) == (30, 30, None)
    assert len(await names(engine.index)) == 30
    versions = await engine.index.search_versions(SearchQuery(None, SearchFilter(), 100, None, facets=()))
    assert versions.total == 60
    assert all(v.team == "ml" for v in versions.items)  # the registry's team fills in

    reg.delete("m03")
    again = await engine.sync_registry("mem", full=True)
    assert (again.changed, again.removed) == (0, 1)
    assert "m03" not in await names(engine.index)


async def test_bulk_listing_is_used_when_the_registry_offers_it(database: Database) -> None:
    reg = MemoryRegistry("mem")
    for i in range(20):
        reg.put(f"m{i}")
    await engine_for(database, reg).sync_registry("mem", full=True)
    assert reg.calls["list_all_versions"] == 1
    assert reg.calls["list_versions"] == 0


async def test_incremental_sync_reads_only_what_changed(database: Database) -> None:
    reg = MemoryRegistry("mem")
    for i in range(50):
        reg.put(f"m{i:02d}")
    engine = engine_for(database, reg)
    await engine.sync_registry("mem")  # first pass is always full
    reg.calls.clear()

    nothing = await engine.sync_registry("mem")
    assert not nothing.full and nothing.models == 0
    assert sum(reg.calls.values()) == 1  # one changes_since, not a re-listing

    reg.put("m07", versions=1)  # a new version
    reg.put("new-model")
    reg.delete("m42")
    reg.calls.clear()
    result = await engine.sync_registry("mem")
    assert (result.full, result.changed, result.removed) == (False, 2, 1)
    assert reg.calls["list_models"] == 0
    assert reg.calls["get_model"] == 2
    listed = await names(engine.index)
    assert "new-model" in listed and "m42" not in listed
    m07 = await engine.index.search_versions(
        SearchQuery(None, SearchFilter(), 10, None, model_uri="mg://mem/m07", facets=())
    )
    assert m07.total == 2


async def test_a_failing_registry_keeps_its_index_and_is_marked(database: Database) -> None:
    reg = MemoryRegistry("mem")
    reg.put("kept")
    engine = engine_for(database, reg)
    await engine.sync_registry("mem", full=True)
    reg.failing = True
    result = await engine.sync_registry("mem", full=True)
    assert result.error and "connection refused" in result.error
    stats = (await engine.index.registry_stats())["mem"]
    assert stats.healthy is False and "connection refused" in (stats.last_error or "")
    assert await names(engine.index) == ["kept"]  # served from the index
    reg.failing = False
    await engine.sync_registry("mem")
    assert (await engine.index.registry_stats())["mem"].healthy is True


async def test_one_failing_registry_does_not_stop_the_others(database: Database) -> None:
    good, bad = MemoryRegistry("good"), MemoryRegistry("bad")
    good.put("g")
    bad.failing = True
    results = {r.registry_id: r for r in await engine_for(database, good, bad).sync_all(full=True)}
    assert results["good"].error is None and results["bad"].error is not None


@pytest.mark.postgres
async def test_only_one_replica_syncs_a_registry_at_a_time(postgres_url: str) -> None:
    """Two gateway processes (two engines, two connection pools) share PostgreSQL."""
    first_db, second_db = Database(postgres_url), Database(postgres_url)
    try:
        reg = MemoryRegistry("mem")
        reg.put("slow")
        reg.hang_seconds = 0.3
        first, second = engine_for(first_db, reg), engine_for(second_db, reg)
        a, b = await asyncio.gather(
            first.sync_registry("mem", full=True), second.sync_registry("mem", full=True)
        )
        assert sorted([a.skipped, b.skipped]) == [False, True]
        # Released afterwards: the next pass runs.
        assert not (await second.sync_registry("mem", full=True)).skipped
    finally:
        await first_db.aclose()
        await second_db.aclose()


async def test_progress_is_reported(database: Database, tmp_path: Path) -> None:
    reg = MemoryRegistry("mem")
    for i in range(450):
        reg.put(f"m{i:03d}")
    seen: list[int] = []
    await engine_for(database, reg).sync_registry("mem", full=True, progress=lambda _rid, n: seen.append(n))
    # The first version page (50 versions) completes 49 models: they are written at
    # once; then batches of 200, and the rest.
    assert seen == [49, 249, 449, 450]


async def test_a_full_sync_indexes_models_before_its_listing_ends(database: Database) -> None:
    """Streaming: each batch of complete models is written while later pages are
    still being listed, so the first models are searchable early."""
    reg = PagedBulkRegistry("mem", page_size=100, version_page_size=250)
    for i in range(300):
        reg.put(f"m{i:03d}", versions=2)  # 600 versions: pages 0-2
    reg.hold_pages = {2}  # the listing stops before the last page
    engine = engine_for(database, reg)
    first_batch = asyncio.Event()
    sync = asyncio.create_task(
        engine.sync_registry("mem", full=True, progress=lambda _rid, n: first_batch.set())
    )
    await asyncio.wait_for(reg.held.wait(), 30)
    await asyncio.wait_for(first_batch.wait(), 30)
    assert not sync.done()
    indexed = await engine.index.search_models(SearchQuery(None, SearchFilter(), 1, None, facets=()))
    assert indexed.total == FIRST_BATCH_SIZE  # pages 0-1 completed 249 models; the first batch is written
    reg.release.set()
    result = await sync
    assert (result.error, result.models) == (None, 300)
    versions = await engine.index.search_versions(SearchQuery(None, SearchFilter(), 1, None, facets=()))
    assert versions.total == 600


async def test_a_model_whose_versions_come_apart_is_indexed_whole(database: Database) -> None:
    reg = PagedBulkRegistry("mem", page_size=10, version_page_size=7, order="number")
    for i in range(20):
        reg.put(f"m{i:02d}", versions=3)
    reg.put("empty", versions=0)
    engine = engine_for(database, reg)
    result = await engine.sync_registry("mem", full=True)
    assert (result.error, result.models) == (None, 21)
    for i in range(20):
        page = await engine.index.search_versions(
            SearchQuery(None, SearchFilter(), 10, None, model_uri=f"mg://mem/m{i:02d}", facets=())
        )
        assert sorted(v.version for v in page.items) == ["1", "2", "3"], i
    assert "empty" in await names(engine.index)


async def test_a_model_the_registry_refuses_to_list_makes_a_partial_pass(database: Database) -> None:
    reg = PerModelRegistry("mem")
    for i in range(5):
        reg.put(f"m{i}", versions=1)
    engine = engine_for(database, reg)
    assert (await engine.sync_registry("mem", full=True)).partial is None
    reg.put("m2", versions=1)  # a second version the next pass cannot read
    reg.refused_models = {"m2"}
    result = await engine.sync_registry("mem", full=True)
    assert result.error is None and result.partial and "m2" in result.partial
    assert result.removed == 0  # kept as last indexed, not dropped as deleted
    assert "m2" in await names(engine.index)
    health = (await engine.index.registry_health())["mem"]
    assert health.healthy and health.last_error and "m2" in health.last_error


class Told:
    """An index listener that records what it was told, per model URI."""

    def __init__(self, reads_details: bool):
        self.reads_details = reads_details
        self.told: list[tuple[str, int, list[dict[str, float]]]] = []  # (model, versions before, metrics)

    async def model_indexed(self, conn: Any, model: Any, before: Any, after: Any) -> None:
        self.told.append((model.uri, len(before), [dict(v.metrics) for v in after]))

    async def models_removed(self, conn: Any, model_uris: Any) -> None:
        pass


async def all_versions(index: CatalogueIndex) -> list[ModelVersion]:
    return (await index.search_versions(SearchQuery(None, SearchFilter(), 1000, None, facets=()))).items


async def all_metrics(index: CatalogueIndex) -> list[dict[str, float]]:
    return [dict(v.metrics) for v in await all_versions(index)]


async def test_a_first_full_sync_indexes_the_catalogue_then_fills_the_details(database: Database) -> None:
    reg = DetailFillingRegistry("mem", page_size=20, version_page_size=40)
    for i in range(120):
        reg.put(f"m{i:03d}", versions=2)
    engine = engine_for(database, reg)
    details, plain = Told(reads_details=True), Told(reads_details=False)
    engine.index.listeners += [details, plain]
    seen_first: list[list[dict[str, float]]] = []

    def progress(_registry: str, done: int) -> None:
        if not seen_first:  # the first batch just committed: the listing's data, no details yet
            seen_first.append([])

    result = await engine.sync_registry("mem", full=True, progress=progress)
    assert (result.models, result.error, result.details_error) == (120, None, None)
    assert result.catalogued_seconds is not None and result.catalogued_seconds <= result.seconds
    assert reg.calls["list_all_versions_brief"] >= 1 and reg.calls["detailed_listing"] == 0
    assert reg.calls["fill_details"] >= 1
    metrics = await all_metrics(engine.index)
    assert len(metrics) == 240 and all(m.get("auc", 0) > 0.5 for m in metrics)
    # A listener that reads details is told of each model once, with them, as new to it.
    assert sorted(uri for uri, _, _ in details.told) == sorted(f"mg://mem/m{i:03d}" for i in range(120))
    assert all(before == 0 and all(m for m in after) for _, before, after in details.told)
    # The others hear both writes: the catalogue's, then the change the details made.
    assert len(plain.told) == 240
    assert {before for _, before, _ in plain.told} == {0, 2}
    stats = (await engine.index.registry_stats())["mem"]
    assert stats.healthy and stats.last_error is None and stats.synced_at is not None


async def test_the_catalogue_pass_does_not_wait_for_the_details(database: Database) -> None:
    reg = DetailFillingRegistry("mem", page_size=20, version_page_size=40)
    for i in range(60):
        reg.put(f"m{i:02d}", versions=2)
    engine = engine_for(database, reg)
    release = asyncio.Event()
    fill = reg.fill_details

    async def slow_fill(versions: Any) -> Any:
        await release.wait()
        return await fill(versions)

    reg.fill_details = slow_fill  # type: ignore[method-assign]
    sync = asyncio.create_task(engine.sync_registry("mem", full=True))
    for _ in range(500):  # the registry is marked synced while every fill is still held
        stats = (await engine.index.registry_stats()).get("mem")
        if stats is not None and stats.synced_at is not None:
            break
        await asyncio.sleep(0.01)
    assert stats is not None and stats.healthy and stats.models == 60
    assert all(not m for m in await all_metrics(engine.index))
    assert all(v.partial for v in await all_versions(engine.index))  # a read completes them meanwhile
    assert (await engine.index.registry_health())["mem"].details_pending
    release.set()
    result = await sync
    assert result.details_error is None
    assert all(m for m in await all_metrics(engine.index))
    assert not any(v.partial for v in await all_versions(engine.index))
    assert not (await engine.index.registry_health())["mem"].details_pending


async def test_details_that_cannot_be_read_leave_a_complete_catalogue(database: Database) -> None:
    reg = DetailFillingRegistry("mem", page_size=20, version_page_size=40)
    for i in range(50):
        reg.put(f"m{i:02d}", versions=1)
    reg.failing_details = True
    engine = engine_for(database, reg)
    result = await engine.sync_registry("mem", full=True)
    assert result.error is None and result.models == 50
    assert result.details_error is not None and "runs/search timed out" in result.details_error
    stats = (await engine.index.registry_stats())["mem"]
    assert stats.healthy and stats.models == 50
    assert stats.last_error is not None and "run details" in stats.last_error
    assert (await engine.index.registry_health())["mem"].details_pending  # still missing
    await engine.sync_registry("mem")  # an incremental pass reads no details: still pending
    assert (await engine.index.registry_health())["mem"].details_pending

    reg.failing_details = False  # the next full pass reads them in one go (the index is not empty)
    again = await engine.sync_registry("mem", full=True)
    assert (again.details_error, again.catalogued_seconds) == (None, None)
    assert reg.calls["detailed_listing"] >= 1
    assert all(m for m in await all_metrics(engine.index))
    assert not (await engine.index.registry_health())["mem"].details_pending
