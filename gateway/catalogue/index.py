"""The catalogue index: every registry's models and versions in the gateway's
database, so search, facets and counts never fan out to the registries.

Writes are batched and change-detecting: a model whose record and versions are
unchanged costs one read and no write, so a sync that finds nothing new is
cheap, and listeners (compliance, audit) only hear about real changes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from cachetools import TTLCache
from sqlalchemy import ColumnElement, and_, delete, exists, false, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.auth.access import Visibility, is_restricted
from gateway.catalogue.query import SearchFilter, SearchQuery, SortOrder
from gateway.catalogue.search import (
    FacetCount,
    SearchPage,
    add_fulltext,
    search_models,
    search_versions,
    stage_mask,
    visible,
)
from gateway.codec import model_from_dict, model_to_dict, version_from_dict, version_to_dict
from gateway.domain import Model, ModelVersion, Stage, utcnow, version_sort_key
from gateway.store.database import Database
from gateway.store.sql import any_of, upsert
from gateway.store.statistics import GrowthAnalyzer
from gateway.store.tables import catalogue_models as cm
from gateway.store.tables import catalogue_tags as ct
from gateway.store.tables import catalogue_versions as cv
from gateway.store.tables import registry_state

__all__ = [
    "CatalogueIndex",
    "FacetCount",
    "IndexListener",
    "RegistryStats",
    "SearchFilter",
    "SearchPage",
    "SearchQuery",
    "SortOrder",
    "Visibility",
]

# Stages ranked for "the most advanced stage a model has reached".
STAGE_RANK = {Stage.DRAFT: 0, Stage.STAGING: 1, Stage.PRODUCTION: 2, Stage.ARCHIVED: -1}
# Keeps every IN (...) list well under SQLite's bound-parameter limit.
CHUNK = 2000
YIELD_EVERY = 50  # models prepared between returns to the event loop
T = TypeVar("T")


HEALTH_MEMO_SECONDS = 1.0


@dataclass(frozen=True)
class RegistryHealth:
    healthy: bool
    synced_at: datetime | None
    last_error: str | None
    details_pending: bool = False


@dataclass(frozen=True)
class RegistryStats:
    registry_id: str
    models: int
    versions: int
    healthy: bool
    synced_at: datetime | None
    last_error: str | None
    cursor: str | None
    sync_seconds: float | None = None


class IndexListener(Protocol):
    """Told about every model that changed, inside the indexing transaction:
    whatever a listener writes (compliance, audit events) commits or rolls back
    with the index change.

    A listener may also offer ``models_indexed(conn, [(model, before, after), ...],
    records)``, called once per indexing batch instead of ``model_indexed`` once per
    model; ``records`` maps each version URI of ``after`` to the codec record the
    index just stored (``version_to_dict``), so a listener need not build it again.

    A listener whose work depends on a version's details (run params, metrics,
    datasets: compliance, lineage) sets ``reads_details = True``: a first full sync
    that indexes the catalogue before the details (``details_pending``) skips it,
    and tells it about every model of the batch that fills them in
    (``details_filled``), as new to it."""

    async def model_indexed(
        self,
        conn: AsyncConnection,
        model: Model,
        before: Mapping[str, ModelVersion],
        after: Sequence[ModelVersion],
    ) -> None: ...

    async def models_removed(self, conn: AsyncConnection, model_uris: Sequence[str]) -> None: ...


def framework_of(version: ModelVersion) -> str | None:
    """The ML framework, from a ``framework`` tag or what the adapter recorded."""
    value = version.tags.get("framework") or version.native.get("framework")
    return str(value).lower() if value else None


def _model_text(model: Model, versions: Sequence[ModelVersion]) -> str:
    parts = [model.name, model.description or "", *(f"{k} {v}" for k, v in model.tags.items())]
    for v in versions[-1:]:  # the newest version describes the model today
        parts += [v.description or "", v.model_card.text(), *(f"{k} {val}" for k, val in v.tags.items())]
    return " ".join(p for p in parts if p).lower()


def _version_text(v: ModelVersion) -> str:
    parts = [
        v.model_name,
        v.version,
        v.semver or "",
        v.description or "",
        *(f"{k} {val}" for k, val in v.tags.items()),
        *v.aliases,
        v.model_card.text(),
    ]
    return " ".join(p for p in parts if p).lower()


def _model_restricted(model: Model, versions: Sequence[ModelVersion]) -> bool:
    # One flag per model, shared by its versions: the model row summarises its
    # versions (search text, framework), so a restricted version hides it all.
    return is_restricted(model.tags) or any(is_restricted(v.tags) for v in versions)


def _epoch_us(*candidates: datetime | None) -> int:
    for value in candidates:
        if value is not None:
            return int(value.timestamp() * 1_000_000)
    return 0


def _holds_alias(dialect: str, alias: str) -> ColumnElement[bool]:
    """The version's stored record lists ``alias`` among its ``aliases`` (JSON array):
    the database unnests it, so no record leaves the database to be tested."""
    if dialect == "postgresql":
        elements = func.json_array_elements_text(cv.c.record.op("->")(literal("aliases")))
    else:
        elements = func.json_each(cv.c.record, "$.aliases")
    held = elements.table_valued("value").alias("held_alias")
    return exists(select(literal(1)).select_from(held).where(held.c.value == alias))


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _model_row(model: Model, ordered: Sequence[ModelVersion], now: datetime) -> dict[str, Any]:
    latest = ordered[-1] if ordered else None
    return {
        "uri": model.uri,
        "registry_id": model.registry_id,
        "name": model.name,
        "team": model.team,
        "description": model.description,
        "search_text": _model_text(model, ordered),
        "latest_version": latest.version if latest else None,
        "version_count": len(ordered),
        "top_stage": max((v.stage for v in ordered), key=STAGE_RANK.__getitem__).value if ordered else None,
        "stage_mask": stage_mask(v.stage for v in ordered),
        "framework": framework_of(latest) if latest else None,
        "restricted": _model_restricted(model, ordered),
        "updated_order": _epoch_us(model.updated_at, model.created_at),
        "created_at": model.created_at,
        "updated_at": model.updated_at,
        "record": model_to_dict(model),
        "indexed_at": now,
    }


def _version_row(
    model: Model, v: ModelVersion, record: dict[str, Any], now: datetime, restricted: bool
) -> dict[str, Any]:
    return {
        "uri": v.uri,
        "model_uri": model.uri,
        "registry_id": v.registry_id,
        "model_name": v.model_name,
        "version": v.version,
        "version_order": version_sort_key(v.version)[0],
        "stage": v.stage.value,
        "team": v.team or model.team,
        "framework": framework_of(v),
        "restricted": restricted,
        "updated_order": _epoch_us(v.updated_at, v.created_at),
        "search_text": _version_text(v),
        "created_at": v.created_at,
        "updated_at": v.updated_at,
        "record": record,
        "indexed_at": now,
    }


class CatalogueIndex:
    def __init__(
        self, database: Database, *, search_cache_seconds: float = 0.0, search_cache_entries: int = 2048
    ):
        self.db = database
        # Dashboards repeat searches (facet clicks, paging back, several viewers);
        # the index changes only when a sync writes. Cleared by every local write.
        self._searches: TTLCache[tuple[Any, ...], SearchPage[Any]] | None = (
            TTLCache(maxsize=search_cache_entries, ttl=search_cache_seconds)
            if search_cache_seconds > 0
            else None
        )
        self.listeners: list[IndexListener] = []
        self._statistics = GrowthAnalyzer()
        self._health: tuple[float, dict[str, RegistryHealth]] | None = None

    # --- writes ------------------------------------------------------------

    async def replace_model(self, model: Model, versions: Sequence[ModelVersion]) -> bool:
        """Make the index hold exactly this model and these versions. True if anything changed."""
        return bool(await self.replace_models([(model, versions)]))

    async def replace_models(
        self,
        batch: Sequence[tuple[Model, Sequence[ModelVersion]]],
        *,
        details_pending: bool = False,
        details_filled: bool = False,
    ) -> int:
        """Replace many models in one transaction; returns how many changed.

        ``details_pending``: the versions lack the details a second pass fills in,
        so listeners that read details (``reads_details``) are not told yet;
        ``details_filled``: that second pass, so they are told of every model of the
        batch, changed or not, as new to them (they never saw it)."""
        if not batch:
            return 0
        async with self.db.write() as conn:
            return await self._replace_models(
                conn, batch, details_pending=details_pending, details_filled=details_filled
            )

    async def _replace_models(
        self,
        conn: AsyncConnection,
        batch: Sequence[tuple[Model, Sequence[ModelVersion]]],
        *,
        details_pending: bool = False,
        details_filled: bool = False,
    ) -> int:
        pairs = _last_wins(batch)
        old_models, old_versions = await _stored(conn, [m.uri for m, _ in pairs])
        plan = await _plan(pairs, old_models, old_versions, utcnow(), details_filled=details_filled)
        if not plan.changed and not plan.filled:
            return 0
        self.forget_searches()
        await _write(conn, plan, old_models)
        await self._tell_listeners(conn, plan, details_pending=details_pending, details_filled=details_filled)
        if not details_pending:  # else nothing is judged yet: the flag stays unset (compliant)
            await self.refresh_model_compliance(
                conn, [m.uri for m, _ in pairs] if plan.filled else [m.uri for m, _, _ in plan.changed]
            )
        await self._statistics.added(conn, len(plan.new_versions))
        return len(plan.changed)

    async def _tell_listeners(
        self, conn: AsyncConnection, plan: _WritePlan, *, details_pending: bool, details_filled: bool
    ) -> None:
        """Each listener hears of the changed models (before and after), in this
        transaction; those that read details only once the details are in."""
        decoded = [
            (
                model,
                {uri: version_from_dict(rec) for uri, rec in previous.items()} if previous else {},
                ordered,
            )
            for model, previous, ordered in plan.changed
        ]
        for listener in self.listeners:
            told: Sequence[tuple[Model, Mapping[str, ModelVersion], Sequence[ModelVersion]]] = decoded
            if getattr(listener, "reads_details", False):
                if details_pending:
                    continue
                if details_filled:
                    told = plan.filled
            if not told:
                continue
            batched = getattr(listener, "models_indexed", None)
            if batched is not None:  # one call per batch: set-based writes
                await batched(conn, told, plan.stored_records)
            else:
                for model, before, after in told:
                    await listener.model_indexed(conn, model, before, after)

    async def refresh_model_compliance(self, conn: AsyncConnection, model_uris: Sequence[str] | None) -> None:
        """Recompute each model's ``compliant`` flag from its versions (None: every model).
        Call it in the transaction that changed versions' compliance."""
        violating = exists(select(1).where(cv.c.model_uri == cm.c.uri, cv.c.compliant == false()))
        statement = update(cm).values(compliant=~violating)
        if model_uris is None:
            await conn.execute(statement)
            return
        for chunk in _chunks(list(model_uris)):
            await conn.execute(statement.where(any_of(conn.dialect.name, cm.c.uri, chunk)))

    async def remove_models(self, registry_id: str, names: Iterable[str]) -> int:
        uris = [f"mg://{registry_id}/{n}" for n in names]
        removed = 0
        for chunk in _chunks(uris):
            async with self.db.write() as conn:
                removed += await self._remove(conn, chunk)
        return removed

    async def model_names(self, registry_id: str) -> list[str]:
        """The names of every model the index holds for the registry."""
        async with self.db.read() as conn:
            query = select(cm.c.name).where(cm.c.registry_id == registry_id)
            return list((await conn.execute(query)).scalars())

    def forget_searches(self) -> None:
        if self._searches is not None:
            self._searches.clear()

    async def _remove(self, conn: AsyncConnection, uris: Sequence[str]) -> int:
        """Remove these models (a chunk of URIs) with their versions and tags: each
        statement an index probe by an array of keys (``any_of``), none a subquery
        PostgreSQL could answer with a scan of the tags table."""
        self.forget_searches()
        dialect = conn.dialect.name
        removed = list(
            (await conn.execute(select(cm.c.uri).where(any_of(dialect, cm.c.uri, uris)))).scalars()
        )
        if not removed:
            return 0
        for listener in self.listeners:
            await listener.models_removed(conn, removed)
        version_query = select(cv.c.uri).where(any_of(dialect, cv.c.model_uri, removed))
        version_uris = list((await conn.execute(version_query)).scalars())
        for chunk in _chunks([*removed, *version_uris]):
            await conn.execute(delete(ct).where(any_of(dialect, ct.c.subject_uri, chunk)))
        await conn.execute(delete(cv).where(any_of(dialect, cv.c.model_uri, removed)))
        return (await conn.execute(delete(cm).where(any_of(dialect, cm.c.uri, removed)))).rowcount

    async def record_sync(
        self,
        registry_id: str,
        *,
        healthy: bool,
        error: str | None = None,
        cursor: str | None = None,
        synced: bool = False,
        seconds: float | None = None,
        details_pending: bool | None = None,
    ) -> None:
        """``details_pending``: set when a full pass indexes the catalogue (True: a second
        pass reads the details), None leaves it as it was."""
        values: dict[str, Any] = {"registry_id": registry_id, "healthy": healthy, "last_error": error}
        if synced:
            values.update(synced_at=utcnow(), cursor=cursor, sync_seconds=seconds)
        if details_pending is not None:
            values["details_pending"] = details_pending
        async with self.db.write() as conn:
            await upsert(conn, registry_state, [values], key=["registry_id"])
        self._health = None

    async def record_details_filled(self, registry_id: str) -> None:
        """The details pass filled every version in."""
        async with self.db.write() as conn:
            await conn.execute(
                update(registry_state)
                .where(registry_state.c.registry_id == registry_id)
                .values(details_pending=False)
            )
        self._health = None

    # --- reads -------------------------------------------------------------

    async def get_model(self, uri: str) -> Model | None:
        return (await self.get_models([uri])).get(uri)

    async def get_models(self, uris: Sequence[str], visibility: Visibility | None = None) -> dict[str, Model]:
        """Models by URI; those ``visibility`` hides are left out, as if absent."""
        query = select(cm.c.uri, cm.c.record).where(any_of(self.db.dialect, cm.c.uri, uris))
        if (allowed := visible(cm, visibility)) is not None:
            query = query.where(allowed)
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return {r.uri: model_from_dict(r.record) for r in rows}

    async def get_version(self, uri: str) -> ModelVersion | None:
        return (await self.get_versions([uri])).get(uri)

    async def get_versions(
        self, uris: Sequence[str], visibility: Visibility | None = None
    ) -> dict[str, ModelVersion]:
        """Versions by URI; those ``visibility`` hides are left out, as if absent."""
        query = select(cv.c.uri, cv.c.record).where(any_of(self.db.dialect, cv.c.uri, uris))
        if (allowed := visible(cv, visibility)) is not None:
            query = query.where(allowed)
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return {r.uri: version_from_dict(r.record) for r in rows}

    async def latest_versions(
        self, model_uris: Sequence[str], visibility: Visibility | None = None
    ) -> dict[str, ModelVersion]:
        """The newest version of each model, for many models in one query."""
        query = (
            select(cv.c.model_uri, cv.c.record)
            .join(cm, and_(cm.c.uri == cv.c.model_uri, cm.c.latest_version == cv.c.version))
            .where(any_of(self.db.dialect, cv.c.model_uri, model_uris))
        )
        if (allowed := visible(cv, visibility)) is not None:
            query = query.where(allowed)
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return {r.model_uri: version_from_dict(r.record) for r in rows}

    async def versions_in_stage(
        self, model_uris: Sequence[str], stage: Stage, visibility: Visibility | None = None
    ) -> dict[str, list[ModelVersion]]:
        """Each model's versions in ``stage``, newest first, for many models in one query
        (a model may hold several PRODUCTION versions: callers show them all)."""
        query = select(cv.c.model_uri, cv.c.record).where(
            any_of(self.db.dialect, cv.c.model_uri, model_uris), cv.c.stage == stage.value
        )
        if (allowed := visible(cv, visibility)) is not None:
            query = query.where(allowed)
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        found: dict[str, list[ModelVersion]] = {}
        for r in rows:
            found.setdefault(r.model_uri, []).append(version_from_dict(r.record))
        for versions in found.values():
            versions.sort(key=lambda v: version_sort_key(v.version), reverse=True)
        return found

    async def versions_holding(
        self,
        model_uri: str,
        *,
        stage: Stage | None = None,
        alias: str | None = None,
        visibility: Visibility | None = None,
        limit: int = 20,
    ) -> list[str]:
        """The URIs of ``model_uri``'s versions in ``stage`` or holding ``alias``
        (exactly one of them), newest first, at most ``limit``: what a reference by
        stage or alias (``mg://r/m@production``) may name. One indexed query on the
        model's versions; the alias test runs in SQL on the stored record."""
        if (stage is None) == (alias is None):
            raise ValueError("versions_holding takes a stage or an alias")
        query = select(cv.c.uri).where(cv.c.model_uri == model_uri)
        if (allowed := visible(cv, visibility)) is not None:
            query = query.where(allowed)
        query = query.order_by(cv.c.version_order.desc(), cv.c.uri.desc()).limit(limit)
        async with self.db.read() as conn:
            if stage is not None:
                query = query.where(cv.c.stage == stage.value)
            else:
                query = query.where(_holds_alias(conn.dialect.name, alias or ""))
            return [r.uri for r in (await conn.execute(query)).all()]

    async def registry_health(self) -> dict[str, RegistryHealth]:
        """Each registry's sync health: a read of one tiny table, remembered for a
        second (every answer consults it, so it must cost next to nothing)."""
        now = time.monotonic()
        if self._health is not None and now - self._health[0] < HEALTH_MEMO_SECONDS:
            return self._health[1]
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(
                    registry_state.c.registry_id,
                    registry_state.c.healthy,
                    registry_state.c.synced_at,
                    registry_state.c.last_error,
                    registry_state.c.details_pending,
                )
            )
            health = {
                r.registry_id: RegistryHealth(r.healthy, r.synced_at, r.last_error, r.details_pending)
                for r in rows
            }
        self._health = (now, health)
        return health

    async def registry_stats(self, visibility: Visibility | None = None) -> dict[str, RegistryStats]:
        """Health and freshness per registry; counts only what ``visibility`` shows."""
        async with self.db.read() as conn:
            counts = select(cm.c.registry_id, func.count(), func.coalesce(func.sum(cm.c.version_count), 0))
            if (allowed := visible(cm, visibility)) is not None:
                counts = counts.where(allowed)
            rows = (await conn.execute(counts.group_by(cm.c.registry_id))).all()
            states = {r.registry_id: r for r in (await conn.execute(select(registry_state))).all()}
        totals = {rid: (int(models), int(versions)) for rid, models, versions in map(tuple, rows)}
        return {
            rid: RegistryStats(
                registry_id=rid,
                models=totals.get(rid, (0, 0))[0],
                versions=totals.get(rid, (0, 0))[1],
                healthy=states[rid].healthy if rid in states else True,
                synced_at=states[rid].synced_at if rid in states else None,
                last_error=states[rid].last_error if rid in states else None,
                cursor=states[rid].cursor if rid in states else None,
                sync_seconds=states[rid].sync_seconds if rid in states else None,
            )
            for rid in set(totals) | set(states)
        }

    # --- search ------------------------------------------------------------

    async def search_models(self, query: SearchQuery) -> SearchPage[Model]:
        """Facets and the total cost queries: name only the facets the caller shows.
        With ``as_of``, models created later are left out of the page."""
        page: SearchPage[Model] = await self._search(search_models, query)
        if (as_of := query.as_of) is not None:
            page.keep([i for i, m in enumerate(page.items) if m.created_at is None or m.created_at <= as_of])
        return page

    async def search_versions(self, query: SearchQuery) -> SearchPage[ModelVersion]:
        """The page as the index holds it: ``as_of`` needs the stage history, which
        the caller applies (after completing partial records)."""
        page: SearchPage[ModelVersion] = await self._search(search_versions, query)
        return page

    async def _search(
        self, search: Callable[[Any, SearchQuery], Awaitable[SearchPage[Any]]], query: SearchQuery
    ) -> SearchPage[Any]:
        """Run ``search`` on a read connection, through the search cache (when on)."""
        key = (search.__name__, query.cache_key)
        if self._searches is not None and (page := self._searches.get(key)) is not None:
            return dataclasses.replace(page)  # a copy: resolvers replace ``items`` on theirs
        async with self.db.read() as conn:
            page = await search(conn, query)
        if self._searches is not None:
            self._searches[key] = dataclasses.replace(page)
        return page


# --- replacing models, step by step ---------------------------------------------------


@dataclass
class _WritePlan:
    """What a batch changes: the rows to write, remove and retag, and whom to tell."""

    model_rows: list[dict[str, Any]] = field(default_factory=list)
    version_rows: list[dict[str, Any]] = field(default_factory=list)
    new_versions: list[str] = field(default_factory=list)  # not indexed before: need full-text entries
    gone: list[str] = field(default_factory=list)
    retag: list[str] = field(default_factory=list)
    tag_rows: list[dict[str, Any]] = field(default_factory=list)
    changed: list[tuple[Model, dict[str, Any], list[ModelVersion]]] = field(default_factory=list)
    stored_records: dict[str, dict[str, Any]] = field(default_factory=dict)  # of the changed models' versions
    restricted_models: list[str] = field(default_factory=list)
    open_models: list[str] = field(default_factory=list)
    filled: list[tuple[Model, dict[str, ModelVersion], list[ModelVersion]]] = field(default_factory=list)


def _last_wins(
    batch: Sequence[tuple[Model, Sequence[ModelVersion]]],
) -> list[tuple[Model, list[ModelVersion]]]:
    """A model (or version) twice in one batch: the last one wins. Written twice, the
    second write would update a row whose full-text entry is not written yet."""
    return [
        (model, list({v.uri: v for v in versions}.values()))
        for model, versions in {m.uri: (m, vs) for m, vs in batch}.values()
    ]


async def _stored(conn: AsyncConnection, uris: list[str]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The index's current records of these models and of their versions (by model)."""
    old_models: dict[str, Any] = {}
    old_versions: dict[str, dict[str, Any]] = {}
    dialect = conn.dialect.name
    for chunk in _chunks(uris):
        models = select(cm.c.uri, cm.c.record).where(any_of(dialect, cm.c.uri, chunk))
        for row in await conn.execute(models):
            old_models[row.uri] = row.record
        query = select(cv.c.uri, cv.c.model_uri, cv.c.record).where(any_of(dialect, cv.c.model_uri, chunk))
        for vrow in await conn.execute(query):
            old_versions.setdefault(vrow.model_uri, {})[vrow.uri] = vrow.record
    return old_models, old_versions


async def _plan(
    batch: list[tuple[Model, list[ModelVersion]]],
    old_models: dict[str, Any],
    old_versions: dict[str, dict[str, Any]],
    now: datetime,
    *,
    details_filled: bool,
) -> _WritePlan:
    """Compare the batch with what is stored: an unchanged model costs nothing more."""
    plan = _WritePlan()
    for at, (model, versions) in enumerate(batch, start=1):
        if at % YIELD_EVERY == 0:
            # A batch takes tenths of a second to prepare: let the event loop send
            # the registry its next request (a sync's listing) meanwhile.
            await asyncio.sleep(0)
        ordered = sorted(versions, key=lambda v: version_sort_key(v.version))
        previous = old_versions.get(model.uri, {})
        records = {v.uri: version_to_dict(v) for v in ordered}
        if details_filled:
            plan.filled.append((model, {}, ordered))
            plan.stored_records.update(records)
        dirty = [v for v in ordered if previous.get(v.uri) != records[v.uri]]
        removed = [uri for uri in previous if uri not in records]
        model_row = _model_row(model, ordered, now)
        if not dirty and not removed and old_models.get(model.uri) == model_row["record"]:
            continue
        plan.changed.append((model, previous, ordered))
        plan.stored_records.update(records)
        plan.model_rows.append(model_row)
        restricted = model_row["restricted"]
        plan.version_rows += [_version_row(model, v, records[v.uri], now, restricted) for v in dirty]
        plan.new_versions += [v.uri for v in dirty if v.uri not in previous]
        plan.gone += removed
        # Only what was indexed before has tags to replace and versions whose flag may
        # lag (a first sync writes every row new: these statements would find nothing).
        plan.retag += [*removed, *(v.uri for v in dirty if v.uri in previous)]
        if model.uri in old_models:
            plan.retag.append(model.uri)
            (plan.restricted_models if restricted else plan.open_models).append(model.uri)
        plan.tag_rows += [{"subject_uri": model.uri, "key": k, "value": val} for k, val in model.tags.items()]
        plan.tag_rows += [
            {"subject_uri": v.uri, "key": k, "value": val} for v in dirty for k, val in v.tags.items()
        ]
    return plan


async def _write(conn: AsyncConnection, plan: _WritePlan, old_models: dict[str, Any]) -> None:
    """The plan's rows, full-text entries, restriction flags and tags."""
    dialect = conn.dialect.name
    await upsert(conn, cm, plan.model_rows, key=["uri"])
    for chunk in _chunks([r["uri"] for r in plan.model_rows if r["uri"] not in old_models]):
        await add_fulltext(conn, cm, chunk)
    for chunk in _chunks(plan.gone):
        await conn.execute(delete(cv).where(any_of(dialect, cv.c.uri, chunk)))
    for rows_chunk in _chunks(plan.version_rows, 250):
        await upsert(conn, cv, rows_chunk, key=["uri"])
    for chunk in _chunks(plan.new_versions):
        await add_fulltext(conn, cv, chunk)
    # Unchanged versions of a model whose restriction changed follow its flag.
    for uris, flag in ((plan.restricted_models, True), (plan.open_models, False)):
        for part in _chunks(uris):
            await conn.execute(
                update(cv)
                .where(any_of(dialect, cv.c.model_uri, part), cv.c.restricted != flag)
                .values(restricted=flag)
            )
    for chunk in _chunks(plan.retag):
        await conn.execute(delete(ct).where(any_of(dialect, ct.c.subject_uri, chunk)))
    if plan.tag_rows:
        await conn.execute(ct.insert(), plan.tag_rows)
