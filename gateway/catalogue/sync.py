"""Keeps the index in step with each registry.

A full sync lists every model and version; an incremental one asks the adapter
what changed since the last cursor and re-reads only those models. A failing
registry is marked unhealthy and keeps its last good index entries, so queries
go on answering from the index.

Only one gateway replica syncs a registry at a time: on PostgreSQL a session
advisory lock per registry (released by the server if the holder dies), within a
process an asyncio lock. A replica that finds the lock taken skips that pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, replace

from sqlalchemy import text

from adapters.base import BulkVersionLister, RegistryAdapter, iterate_pages
from gateway.catalogue.index import CatalogueIndex
from gateway.config import RegistrySettings
from gateway.domain import Model, ModelVersion
from gateway.errors import GatewayError
from gateway.store.database import Database

log = logging.getLogger(__name__)

BATCH_SIZE = 200  # models written per index transaction
READ_CONCURRENCY = 8  # per-model version listings in flight against one registry

ProgressCallback = Callable[[str, int], None]  # (registry id, models done)


@dataclass(frozen=True)
class SyncResult:
    registry_id: str
    full: bool
    models: int  # models read
    changed: int  # models whose index entry changed
    removed: int
    seconds: float
    error: str | None = None
    skipped: bool = False  # another replica held the registry's sync lock


def _with_team(
    model: Model, versions: list[ModelVersion], team: str | None
) -> tuple[Model, list[ModelVersion]]:
    """The registry's configured team owns models that do not name one themselves."""
    if team is None:
        return model, versions
    if model.team is None:
        model = replace(model, team=team)
    return model, [v if v.team else replace(v, team=team) for v in versions]


def advisory_key(registry_id: str) -> int:
    """A stable signed 64-bit key for PostgreSQL's advisory locks."""
    digest = hashlib.blake2b(f"modelgate-sync:{registry_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


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
        # Told of every background pass's progress (metrics); a caller's own callback is extra.
        self.on_progress: ProgressCallback | None = None

    @property
    def database(self) -> Database:
        return self.index.db

    def _team(self, registry_id: str) -> str | None:
        settings = self.registries.get(registry_id)
        return settings.team if settings else None

    @contextlib.asynccontextmanager
    async def _exclusive(self, registry_id: str) -> AsyncIterator[bool]:
        """Hold the registry's sync lock; yields False if another replica has it."""
        async with self._locks[registry_id]:
            if self.database.dialect != "postgresql":
                yield True
                return
            key = advisory_key(registry_id)
            async with self.database.engine.connect() as conn:
                got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar()
                await conn.commit()
                try:
                    yield bool(got)
                finally:
                    if got:
                        await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                        await conn.commit()

    async def _versions(self, adapter: RegistryAdapter, model: Model) -> tuple[Model, list[ModelVersion]]:
        versions = [v async for v in iterate_pages(lambda t: adapter.list_versions(model.name, t))]
        return _with_team(model, versions, self._team(adapter.registry_id))

    async def refresh_model(self, registry_id: str, name: str) -> bool:
        """Re-read one model now (after a webhook or a write-through). False if it is gone."""
        adapter = self.adapters[registry_id]
        model = await adapter.get_model(name)
        if model is None:
            await self.index.remove_models(registry_id, [name])
            return False
        await self.index.replace_models([await self._versions(adapter, model)])
        return True

    async def sync_registry(
        self, registry_id: str, *, full: bool = False, progress: ProgressCallback | None = None
    ) -> SyncResult:
        """One sync pass; never raises for a registry failure (it is recorded instead)."""
        adapter = self.adapters[registry_id]
        started = time.perf_counter()
        async with self._exclusive(registry_id) as mine:
            if not mine:
                return SyncResult(registry_id, full, 0, 0, 0, 0.0, skipped=True)
            stats = (await self.index.registry_stats()).get(registry_id)
            cursor = stats.cursor if stats and stats.synced_at else None
            try:
                if full or cursor is None:
                    return await self._full(adapter, progress, started)
                return await self._incremental(adapter, cursor, progress, started)
            except GatewayError as exc:
                message = exc.message
                log.warning("sync of %s failed: %s", registry_id, message)
            except Exception as exc:  # an adapter bug must not stop the other registries
                log.exception("sync of %s crashed", registry_id)
                message = f"sync failed: {type(exc).__name__}"
            await self.index.record_sync(registry_id, healthy=False, error=message)
            return SyncResult(registry_id, full, 0, 0, 0, time.perf_counter() - started, message)

    async def _read_all(self, adapter: RegistryAdapter) -> AsyncIterator[tuple[Model, list[ModelVersion]]]:
        """Every model with its versions, in as few registry round trips as it allows."""
        team = self._team(adapter.registry_id)
        if isinstance(adapter, BulkVersionLister):
            models = [m async for m in iterate_pages(adapter.list_models)]
            by_model: dict[str, list[ModelVersion]] = defaultdict(list)
            async for v in iterate_pages(adapter.list_all_versions):
                by_model[v.model_name].append(v)
            for m in models:
                yield _with_team(m, by_model.pop(m.name, []), team)
            return
        limit = asyncio.Semaphore(READ_CONCURRENCY)

        async def read(model: Model) -> tuple[Model, list[ModelVersion]]:
            async with limit:
                return await self._versions(adapter, model)

        pending: list[Model] = []
        async for model in iterate_pages(adapter.list_models):
            pending.append(model)
            if len(pending) >= BATCH_SIZE:
                for pair in await asyncio.gather(*(read(m) for m in pending)):
                    yield pair
                pending = []
        for pair in await asyncio.gather(*(read(m) for m in pending)):
            yield pair

    async def _full(
        self, adapter: RegistryAdapter, progress: ProgressCallback | None, started: float
    ) -> SyncResult:
        # Take the change cursor first: anything that changes during the listing
        # is picked up again by the next incremental pass.
        changes = await adapter.changes_since(None)
        seen: set[str] = set()
        changed = 0
        batch: list[tuple[Model, list[ModelVersion]]] = []
        async for pair in self._read_all(adapter):
            batch.append(pair)
            seen.add(pair[0].name)
            if len(batch) >= BATCH_SIZE:
                changed += await self.index.replace_models(batch)
                batch = []
                if progress:
                    progress(adapter.registry_id, len(seen))
        changed += await self.index.replace_models(batch)
        if progress:
            progress(adapter.registry_id, len(seen))
        removed = await self.index.remove_models_except(adapter.registry_id, seen)
        seconds = time.perf_counter() - started
        await self.index.record_sync(
            adapter.registry_id, healthy=True, cursor=changes.cursor, synced=True, seconds=seconds
        )
        return SyncResult(adapter.registry_id, True, len(seen), changed, removed, seconds)

    async def _incremental(
        self, adapter: RegistryAdapter, cursor: str, progress: ProgressCallback | None, started: float
    ) -> SyncResult:
        changes = await adapter.changes_since(cursor)
        if changes.changed is None:
            return await self._full(adapter, progress, started)
        changed = removed = 0
        for done, name in enumerate(changes.changed, start=1):
            model = await adapter.get_model(name)
            if model is None:
                removed += await self.index.remove_models(adapter.registry_id, [name])
            else:
                changed += await self.index.replace_models([await self._versions(adapter, model)])
            if progress:
                progress(adapter.registry_id, done)
        removed += await self.index.remove_models(adapter.registry_id, changes.deleted)
        seconds = time.perf_counter() - started
        await self.index.record_sync(
            adapter.registry_id, healthy=True, cursor=changes.cursor, synced=True, seconds=seconds
        )
        return SyncResult(adapter.registry_id, False, len(changes.changed), changed, removed, seconds)

    async def sync_all(
        self, *, full: bool = False, progress: ProgressCallback | None = None
    ) -> list[SyncResult]:
        return list(
            await asyncio.gather(
                *(self.sync_registry(rid, full=full, progress=progress) for rid in self.adapters)
            )
        )

    async def run_forever(self) -> None:
        """Full sync of each registry at start, then incremental on its interval."""
        await asyncio.gather(*(self._loop(rid) for rid in self.adapters))

    async def _loop(self, registry_id: str) -> None:
        interval = self.registries[registry_id].sync_interval_seconds
        full = True
        while True:
            result = await self.sync_registry(registry_id, full=full, progress=self.on_progress)
            full = full and (result.error is not None or result.skipped)
            await asyncio.sleep(interval)
