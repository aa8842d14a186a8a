"""Keeps the index in step with each registry.

A full sync lists every model and version; an incremental one asks the adapter
what changed since the last cursor and re-reads only those models. A failing
registry marks itself unhealthy and keeps its last good index entries, so
queries go on answering from the index.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from adapters.base import RegistryAdapter, iterate_pages
from gateway.catalogue.index import CatalogueIndex
from gateway.config import RegistrySettings
from gateway.domain import Model, ModelVersion
from gateway.errors import GatewayError

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int], None]  # (registry id, models done)


@dataclass(frozen=True)
class SyncResult:
    registry_id: str
    full: bool
    models: int
    removed: int
    seconds: float
    error: str | None = None


def _with_team(
    model: Model, versions: list[ModelVersion], team: str | None
) -> tuple[Model, list[ModelVersion]]:
    """The registry's configured team owns models that do not name one themselves."""
    from dataclasses import replace

    if team is None:
        return model, versions
    if model.team is None:
        model = replace(model, team=team)
    return model, [v if v.team else replace(v, team=team) for v in versions]


class SyncEngine:
    def __init__(
        self,
        index: CatalogueIndex,
        adapters: Mapping[str, RegistryAdapter],
        registries: Mapping[str, RegistrySettings],
    ):
        self.index = index
        self.adapters = adapters
        self.registries = registries
        self._locks = {rid: asyncio.Lock() for rid in adapters}

    async def _read_model(self, adapter: RegistryAdapter, model: Model) -> None:
        versions = [v async for v in iterate_pages(lambda t: adapter.list_versions(model.name, t))]
        team = self.registries[adapter.registry_id].team if adapter.registry_id in self.registries else None
        model, versions = _with_team(model, versions, team)
        await self.index.replace_model(model, versions)

    async def refresh_model(self, registry_id: str, name: str) -> bool:
        """Re-read one model now (after a webhook or a write-through). False if it is gone."""
        adapter = self.adapters[registry_id]
        model = await adapter.get_model(name)
        if model is None:
            await self.index.remove_models(registry_id, [name])
            return False
        await self._read_model(adapter, model)
        return True

    async def sync_registry(
        self, registry_id: str, *, full: bool = False, progress: ProgressCallback | None = None
    ) -> SyncResult:
        """One sync pass; never raises for a registry failure (it is recorded instead)."""
        adapter = self.adapters[registry_id]
        async with self._locks[registry_id]:
            started = time.perf_counter()
            stats = (await self.index.registry_stats()).get(registry_id)
            cursor = stats.cursor if stats and stats.synced_at else None
            try:
                if full or cursor is None:
                    result = await self._full(adapter, progress, started)
                else:
                    result = await self._incremental(adapter, cursor, progress, started)
            except GatewayError as exc:
                await self.index.record_sync(registry_id, healthy=False, error=exc.message)
                log.warning("sync of %s failed: %s", registry_id, exc.message)
                return SyncResult(registry_id, full, 0, 0, time.perf_counter() - started, exc.message)
            except Exception as exc:  # an adapter bug must not stop the other registries
                log.exception("sync of %s crashed", registry_id)
                message = f"sync failed: {type(exc).__name__}"
                await self.index.record_sync(registry_id, healthy=False, error=message)
                return SyncResult(registry_id, full, 0, 0, time.perf_counter() - started, message)
            return result

    async def _full(
        self, adapter: RegistryAdapter, progress: ProgressCallback | None, started: float
    ) -> SyncResult:
        # Take the change cursor first: anything that changes during the listing
        # is picked up again by the next incremental pass.
        changes = await adapter.changes_since(None)
        seen: set[str] = set()
        async for model in iterate_pages(adapter.list_models):
            await self._read_model(adapter, model)
            seen.add(model.name)
            if progress:
                progress(adapter.registry_id, len(seen))
        removed = await self.index.remove_models_except(adapter.registry_id, seen)
        seconds = time.perf_counter() - started
        await self.index.record_sync(
            adapter.registry_id, healthy=True, cursor=changes.cursor, synced=True, seconds=seconds
        )
        return SyncResult(adapter.registry_id, True, len(seen), removed, seconds)

    async def _incremental(
        self, adapter: RegistryAdapter, cursor: str, progress: ProgressCallback | None, started: float
    ) -> SyncResult:
        changes = await adapter.changes_since(cursor)
        if changes.changed is None:
            return await self._full(adapter, progress, started)
        done = 0
        removed = 0
        for name in changes.changed:
            if not await self.refresh_model(adapter.registry_id, name):
                removed += 1
            done += 1
            if progress:
                progress(adapter.registry_id, done)
        removed += await self.index.remove_models(adapter.registry_id, changes.deleted)
        seconds = time.perf_counter() - started
        await self.index.record_sync(
            adapter.registry_id, healthy=True, cursor=changes.cursor, synced=True, seconds=seconds
        )
        return SyncResult(adapter.registry_id, False, done, removed, seconds)

    async def sync_all(self, *, full: bool = False) -> list[SyncResult]:
        return list(await asyncio.gather(*(self.sync_registry(rid, full=full) for rid in self.adapters)))

    async def run_forever(self) -> None:
        """Full sync of each registry at start, then incremental on its interval."""
        await asyncio.gather(*(self._loop(rid) for rid in self.adapters))

    async def _loop(self, registry_id: str) -> None:
        interval = self.registries[registry_id].sync_interval_seconds
        full = True
        while True:
            await self.sync_registry(registry_id, full=full)
            full = False
            await asyncio.sleep(interval)
