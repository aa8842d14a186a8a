"""``gateway.lineage.remote``: a registry's own lineage merged into walks, with
an in-memory registry at the adapter seam, a real store and a cache on a clock
the test moves. The per-request budget, the cache (and stale-if-error), how
failures are reported, normalisation, and the background write to the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.catalogue.cache import AsyncCache, MemoryBackend
from gateway.catalogue.index import CatalogueIndex
from gateway.config import RegistrySettings
from gateway.domain import LineageEdge, LineageNode, Model, ModelVersion, Relation
from gateway.errors import RegistryError
from gateway.lineage import store
from gateway.lineage.remote import RegistryLineage
from gateway.lineage.uris import ReferenceResolver
from gateway.store.database import Database
from tests.fakes.memory_registry import MemoryRegistry

URIS = [f"mg://mem/m/{i}" for i in range(1, 6)]


class LineageRegistry(MemoryRegistry):
    """Answers each version's lineage with one dataset (spelled untidily) and, for
    version 2, its parent by its mg:// URI."""

    async def lineage(self, version: ModelVersion) -> list[LineageEdge]:
        await self._call("lineage")
        me = LineageNode(version.uri, "model_version")
        edges = [
            LineageEdge(me, LineageNode(f"S3A://Lake//m/{version.version}/", "dataset"), Relation.TRAINED_ON)
        ]
        if version.version == "2":
            edges.append(LineageEdge(me, LineageNode("mg://mem/m/1", "model_version"), Relation.DERIVED_FROM))
        return edges


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Setup:
    remote: RegistryLineage
    registry: LineageRegistry
    clock: Clock
    db: Database
    reported: list[RegistryError]


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    db = Database(f"sqlite:///{tmp_path}/lineage.db")
    await db.migrate()
    index = CatalogueIndex(db)
    await index.replace_models([(Model("mem", "m"), [ModelVersion("mem", "m", str(i)) for i in range(1, 6)])])
    registry = LineageRegistry("mem")
    clock = Clock()
    cache = AsyncCache(MemoryBackend(1000, expire_seconds=3600), ttl=60, clock=clock)
    resolver = ReferenceResolver((RegistrySettings(id="mem", kind="native"),))
    remote = RegistryLineage(db, index, {"mem": registry}, cache, resolver, max_versions=3)  # type: ignore[dict-item]
    yield Setup(remote, registry, clock, db, [])
    await remote.drain()
    await db.aclose()


async def test_edges_are_normalised_and_the_budget_caps_the_versions_asked(setup: Setup) -> None:
    budget = setup.remote.budget()
    found = await setup.remote.edges([*URIS, "mg://elsewhere/x/1"], budget, setup.reported.append)
    assert budget.remaining == 0 and setup.registry.calls["lineage"] == 3  # max_versions = 3
    assert sorted((e.source.uri, e.target.uri) for e in found) == [
        ("mg://mem/m/1", "s3://lake/m/1"),
        ("mg://mem/m/2", "mg://mem/m/1"),
        ("mg://mem/m/2", "s3://lake/m/2"),
        ("mg://mem/m/3", "s3://lake/m/3"),
    ]
    assert {(e.evidence, e.origin) for e in found if e.source.uri == "mg://mem/m/3"} == {
        ("registry", "mg://mem/m/3")
    }
    # The budget is per request: this one has none left.
    assert await setup.remote.edges(URIS[3:], budget, setup.reported.append) == []
    assert setup.reported == []


async def test_answers_are_cached_and_served_stale_when_the_registry_fails(setup: Setup) -> None:
    first = await setup.remote.edges(URIS[:2], setup.remote.budget(), setup.reported.append)
    await setup.remote.edges(URIS[:2], setup.remote.budget(), setup.reported.append)
    assert setup.registry.calls["lineage"] == 2  # the second request came from the cache

    setup.clock.now += 61  # past the TTL, within the stale window
    setup.registry.failing = True
    stale = await setup.remote.edges(URIS[:2], setup.remote.budget(), setup.reported.append)
    assert sorted(e.key for e in stale) == sorted(e.key for e in first)  # the last good answer

    fresh = await setup.remote.edges(URIS[2:3], setup.remote.budget(), setup.reported.append)
    assert fresh == []  # nothing cached for it: no edges, and the failure is reported
    assert setup.reported and setup.reported[-1].extensions["registry"] == "mem"


async def test_what_a_registry_said_is_stored_for_later_walks(setup: Setup) -> None:
    await setup.remote.edges(URIS[1:2], setup.remote.budget(), setup.reported.append)
    await setup.remote.drain()
    async with setup.db.read() as conn:
        stored = await store.hop(conn, ["mg://mem/m/2"], frozenset(Relation), frozenset())
    assert sorted((e.target.uri, e.evidence) for e in stored) == [
        ("mg://mem/m/1", "registry"),
        ("s3://lake/m/2", "registry"),
    ]
