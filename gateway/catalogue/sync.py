"""Keeps the index in step with each registry.

A full sync lists every model and version; an incremental one asks the adapter
what changed since the last cursor and re-reads only those models. A failing
registry is marked unhealthy and keeps its last good index entries, so queries
go on answering from the index.

Removals are decided in one place (``_remove``): a pass (full, incremental or a
webhook's refresh) that would remove more than the registry's
``max_removal_share`` of its indexed models is held. Nothing is removed, the
registry is DEGRADED with a ``last_error`` that says how to confirm, and passes
stay full until one finds the models again or is run with ``allow_removals``
(``modelgate sync --full --allow-removals ID``). A registry that suddenly answers
"nothing" (a proxy page, a wrong path) thus never wipes its catalogue.

Only one gateway replica syncs a registry at a time: on PostgreSQL a session
advisory lock per registry (released by the server if the holder dies), within a
process an asyncio lock. A replica that finds the lock taken skips that pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from dataclasses import dataclass, replace

from sqlalchemy import text

from adapters.base import iterate_page_items, iterate_pages
from adapters.protocol import BulkVersionLister, DetailFiller, RegistryAdapter
from gateway.catalogue.index import CatalogueIndex
from gateway.catalogue.listings import ListingJoin
from gateway.catalogue.pipeline import FullSync, Pair
from gateway.config import RegistrySettings
from gateway.domain import Model, ModelVersion
from gateway.errors import GatewayError, RegistryError, RegistryNotFound, RegistryUnavailable
from gateway.serving.service import DeploymentMap, Serving, merged
from gateway.store.database import Database

log = logging.getLogger(__name__)

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
    partial: str | None = None  # the pass completed without some models (which, and why)
    # A two-pass full sync: seconds until the catalogue was complete (the registry
    # HEALTHY), before the details were filled in; ``seconds`` is the whole pass.
    catalogued_seconds: float | None = None
    details_error: str | None = None  # the details pass failed: some versions lack them
    held: str | None = None  # removals this pass would have made, held (why, how to confirm)


def _with_team(
    model: Model, versions: list[ModelVersion], team: str | None, served: DeploymentMap | None = None
) -> tuple[Model, list[ModelVersion]]:
    """The registry's configured team owns models that do not name one themselves;
    ``served``: the serving state's deployments, merged into the versions."""
    if served:
        versions = [merged(v, served[v.uri]) if v.uri in served else v for v in versions]
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
        serving: Serving | None = None,
    ):
        self.index = index
        self.adapters = adapters
        self.registries = registries
        # Serving state read at the start of each pass, merged into the versions indexed.
        self.serving = serving
        self._served: dict[str, DeploymentMap] = {}
        self._locks = {rid: asyncio.Lock() for rid in adapters}
        # Registries whose removals are held: their passes stay full until one is not.
        self._held: set[str] = set()
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

    async def _versions(
        self, adapter: RegistryAdapter, model: Model, served: DeploymentMap | None = None
    ) -> tuple[Model, list[ModelVersion]]:
        versions = [v async for v in iterate_pages(lambda t: adapter.list_versions(model.name, t))]
        rid = adapter.registry_id
        return _with_team(
            model, versions, self._team(rid), self._served.get(rid) if served is None else served
        )

    async def _read_serving(self, registry_id: str) -> set[str]:
        """Read the registry's endpoints (if it has them) and load the deployments
        this pass merges in; returns the models whose serving changed."""
        if self.serving is None:
            return set()
        changed = await self.serving.refresh_registry(registry_id) or set()
        self._served[registry_id] = await self.serving.deployments(registry_id)
        return changed

    async def refresh_model(self, registry_id: str, name: str) -> bool:
        """Re-read one model now (after a webhook, a write-through or a deployment
        report). False if it is gone."""
        adapter = self.adapters[registry_id]
        model = await adapter.get_model(name)
        if model is None:
            if held := await self._remove(registry_id, [name], allow=False):
                await self.index.record_sync(registry_id, healthy=True, error=held)
            return False
        served = await self.serving.deployments(registry_id, [model.uri]) if self.serving else {}
        await self.index.replace_models([await self._versions(adapter, model, served)])
        return True

    async def sync_registry(
        self,
        registry_id: str,
        *,
        full: bool = False,
        progress: ProgressCallback | None = None,
        allow_removals: bool = False,
    ) -> SyncResult:
        """One sync pass; never raises for a registry failure (it is recorded instead).
        ``allow_removals``: apply removals past ``max_removal_share`` (an operator's
        confirmation that the registry really lost those models)."""
        adapter = self.adapters[registry_id]
        started = time.perf_counter()
        async with self._exclusive(registry_id) as mine:
            if not mine:
                return SyncResult(registry_id, full, 0, 0, 0, 0.0, skipped=True)
            stats = (await self.index.registry_stats()).get(registry_id)
            cursor = stats.cursor if stats and stats.synced_at else None
            try:
                serving_changed = await self._read_serving(registry_id)
                if full or cursor is None or registry_id in self._held:
                    return await self._full(adapter, progress, started, allow_removals)
                return await self._incremental(
                    adapter, cursor, progress, started, serving_changed, allow_removals
                )
            except GatewayError as exc:
                message = exc.message
                log.warning("sync of %s failed: %s", registry_id, message)
            except Exception as exc:  # an adapter bug must not stop the other registries
                log.exception("sync of %s crashed", registry_id)
                message = f"sync failed: {type(exc).__name__}"
            await self.index.record_sync(registry_id, healthy=False, error=message)
            return SyncResult(registry_id, full, 0, 0, 0, time.perf_counter() - started, message)

    async def _read_all(
        self, adapter: RegistryAdapter, skipped: dict[str, str], brief: bool = False
    ) -> AsyncIterator[Pair | None]:
        """Every model with its versions, each as soon as it is complete, in as few
        registry round trips as the registry allows; ``None`` marks a page boundary
        (nothing more is ready until the next page arrives). A model the registry
        refuses to list (not a registry outage) lands in ``skipped`` with the reason.
        ``brief``: without the details a ``DetailFiller`` fills in afterwards."""
        team = self._team(adapter.registry_id)
        if isinstance(adapter, BulkVersionLister):
            served = self._served.get(adapter.registry_id)
            brief = brief and isinstance(adapter, DetailFiller)
            listing = adapter.list_all_versions_brief if brief else adapter.list_all_versions  # type: ignore[attr-defined]
            reread = functools.partial(_all_versions, adapter)
            join = ListingJoin(adapter.list_models, listing, reread, paced=not brief)
            async for pair in join:
                yield _with_team(*pair, team, served) if pair is not None else None
            return
        limit = asyncio.Semaphore(READ_CONCURRENCY)

        async def read(model: Model) -> Pair | None:
            async with limit:
                try:
                    return await self._versions(adapter, model)
                except RegistryUnavailable:
                    raise  # the registry is down: the pass fails, the index keeps its entries
                except RegistryNotFound:
                    return None  # deleted since it was listed: dropped like any deleted model
                except RegistryError as exc:
                    skipped[model.name] = exc.message
                    return None

        # Each page of models is read while the previous one's versions are written.
        async for models in iterate_page_items(adapter.list_models):
            for pair in await asyncio.gather(*(read(m) for m in models)):
                if pair is not None:
                    yield pair
            yield None

    def _filler(self, adapter: RegistryAdapter, indexed_models: int) -> DetailFiller | None:
        """The adapter, when this full sync indexes the catalogue first and fills the
        details after: only into an empty index, where no version holds details a
        brief listing would take away for the length of the pass."""
        if indexed_models or not isinstance(adapter, BulkVersionLister):
            return None
        if isinstance(adapter, DetailFiller) and adapter.fills_details:
            return adapter
        return None

    async def _full(
        self,
        adapter: RegistryAdapter,
        progress: ProgressCallback | None,
        started: float,
        allow_removals: bool = False,
    ) -> SyncResult:
        # Take the change cursor first: anything that changes during the listing
        # is picked up again by the next incremental pass.
        changes = await adapter.changes_since(None)
        stats = (await self.index.registry_stats()).get(adapter.registry_id)
        filler = self._filler(adapter, stats.models if stats else 0)
        skipped: dict[str, str] = {}

        async def catalogued(seen: set[str]) -> tuple[int, str | None, str | None]:
            return await self._catalogued(
                adapter, seen, skipped, changes.cursor, started, filler is not None, allow_removals
            )

        async def fill(batch: list[Pair]) -> list[Pair]:
            assert filler is not None
            return await self._fill(adapter, filler, batch)

        out = await FullSync(
            adapter.registry_id,
            self.index,
            self._read_all(adapter, skipped, brief=filler is not None),
            catalogued,
            fill if filler is not None else None,
            progress,
        ).run()
        if out.details_error is not None:
            await self.index.record_sync(adapter.registry_id, healthy=True, error=out.details_error)
        catalogued_seconds = out.catalogued_at - started if out.catalogued_at is not None else None
        return SyncResult(
            adapter.registry_id,
            True,
            len(out.seen),
            out.changed,
            out.removed,
            time.perf_counter() - started,
            partial=out.partial,
            catalogued_seconds=catalogued_seconds if filler is not None else None,
            details_error=out.details_error,
            held=out.held,
        )

    async def _catalogued(
        self,
        adapter: RegistryAdapter,
        seen: set[str],
        skipped: Mapping[str, str],
        cursor: str | None,
        started: float,
        details_pending: bool,
        allow_removals: bool,
    ) -> tuple[int, str | None, str | None]:
        """Every model is indexed: drop those deleted upstream and mark the registry
        synced (HEALTHY), whether or not details are still being filled in.
        Returns (models removed, the message about skipped models, the held removals).
        Held removals leave the registry DEGRADED and its last sync and cursor as they
        were: the next pass is full again."""
        # A model that could not be read is kept as indexed, not dropped as deleted.
        keep = seen | set(skipped)
        gone = [n for n in await self.index.model_names(adapter.registry_id) if n not in keep]
        held = await self._remove(adapter.registry_id, gone, allow=allow_removals)
        if held:
            await self.index.record_sync(adapter.registry_id, healthy=True, error=held)
            return 0, None, held
        removed = len(gone)
        error = _skipped_message(skipped) if skipped else None
        await self.index.record_sync(
            adapter.registry_id,
            healthy=True,
            error=error,
            cursor=cursor,
            synced=True,
            seconds=time.perf_counter() - started,
            details_pending=details_pending,
        )
        return removed, error, None

    async def _remove(self, registry_id: str, names: Collection[str], *, allow: bool) -> str | None:
        """Remove the models, unless they are more than ``max_removal_share`` of the
        registry's indexed models and ``allow`` is not given: then nothing is removed
        and the message that says so is returned (the registry's ``last_error``)."""
        if not names:
            self._held.discard(registry_id)
            return None
        settings = self.registries.get(registry_id)
        share = settings.max_removal_share if settings else 1.0
        indexed = len(await self.index.model_names(registry_id))
        if not allow and share < 1 and len(names) > share * indexed:
            self._held.add(registry_id)
            message = _held_message(registry_id, len(names), indexed, share)
            log.warning("%s: %s", registry_id, message)
            return message
        await self.index.remove_models(registry_id, names)
        self._held.discard(registry_id)
        return None

    async def _fill(self, adapter: RegistryAdapter, filler: DetailFiller, batch: list[Pair]) -> list[Pair]:
        """The batch's versions with their details, each model's as the index holds them
        otherwise (team, serving state)."""
        versions = await filler.fill_details([v for _, vs in batch for v in vs])
        team, served = self._team(adapter.registry_id), self._served.get(adapter.registry_id)
        pairs: list[Pair] = []
        at = 0
        for model, vs in batch:
            pairs.append(_with_team(model, versions[at : at + len(vs)], team, served))
            at += len(vs)
        return pairs

    async def _incremental(
        self,
        adapter: RegistryAdapter,
        cursor: str,
        progress: ProgressCallback | None,
        started: float,
        serving_changed: Collection[str] = (),
        allow_removals: bool = False,
    ) -> SyncResult:
        changes = await adapter.changes_since(cursor)
        if changes.changed is None:
            return await self._full(adapter, progress, started, allow_removals)
        changed = 0
        gone: list[str] = []
        # Models whose traffic moved are re-read too: their records carry it.
        prefix = f"mg://{adapter.registry_id}/"
        names = list(
            dict.fromkeys([*changes.changed, *(m.removeprefix(prefix) for m in sorted(serving_changed))])
        )
        for done, name in enumerate(names, start=1):
            model = await adapter.get_model(name)
            if model is None:
                gone.append(name)
            else:
                changed += await self.index.replace_models([await self._versions(adapter, model)])
            if progress:
                progress(adapter.registry_id, done)
        gone = list(dict.fromkeys([*gone, *changes.deleted]))
        seconds = time.perf_counter() - started
        if held := await self._remove(adapter.registry_id, gone, allow=allow_removals):
            # The cursor stays: the removals are found again until confirmed.
            await self.index.record_sync(adapter.registry_id, healthy=True, error=held)
            return SyncResult(adapter.registry_id, False, len(names), changed, 0, seconds, held=held)
        await self.index.record_sync(
            adapter.registry_id, healthy=True, cursor=changes.cursor, synced=True, seconds=seconds
        )
        return SyncResult(adapter.registry_id, False, len(names), changed, len(gone), seconds)

    async def sync_all(
        self,
        *,
        full: bool = False,
        progress: ProgressCallback | None = None,
        allow_removals: Collection[str] = (),
    ) -> list[SyncResult]:
        """``allow_removals``: registries whose removals past ``max_removal_share`` apply."""
        return list(
            await asyncio.gather(
                *(
                    self.sync_registry(
                        rid, full=full, progress=progress, allow_removals=rid in allow_removals
                    )
                    for rid in self.adapters
                )
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
            # Again in full until one pass completed with every detail.
            full = full and (result.error is not None or result.skipped or result.details_error is not None)
            await asyncio.sleep(interval)


def _held_message(registry_id: str, removing: int, indexed: int, share: float) -> str:
    """Counts only: the names of the models would reach whoever sees the registry's state."""
    return (
        f"sync held: it would remove {removing} of the {indexed} models indexed from this registry, "
        f"more than max_removal_share ({share:g}) allows, so nothing was removed. If the registry "
        f"really deleted them, run `modelgate sync --full --allow-removals {registry_id}` (or raise "
        "max_removal_share); if it answered wrongly, the next full sync that finds them clears this"
    )


def _skipped_message(skipped: Mapping[str, str]) -> str:
    names = sorted(skipped)
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    first = skipped[names[0]]
    return f"{len(names)} model(s) could not be read and keep their last indexed state ({shown}): {first}"


async def _all_versions(adapter: RegistryAdapter, model_name: str) -> list[ModelVersion]:
    return [v async for v in iterate_pages(lambda t: adapter.list_versions(model_name, t))]
