"""The catalogue index: every registry's models and versions in the gateway's
database, so search, facets and counts never fan out to the registries.

Paging is keyset-based (the cursor holds the last row's sort key), so a page
boundary stays put while the index changes underneath a client.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import ColumnElement, and_, delete, distinct, exists, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.base import decode_token, encode_token
from gateway.codec import model_from_dict, model_to_dict, version_from_dict, version_to_dict
from gateway.domain import Model, ModelVersion, Stage, utcnow, version_sort_key
from gateway.errors import BadInput
from gateway.store.database import Database
from gateway.store.sql import escape_like, upsert
from gateway.store.tables import catalogue_models as cm
from gateway.store.tables import catalogue_tags as ct
from gateway.store.tables import catalogue_versions as cv
from gateway.store.tables import registry_state

# Versions as seen from inside a model-level subquery; a separate alias so the
# subquery never correlates with a versions table in the outer query.
cv_sub = cv.alias("cv_sub")

# Stages ranked for "the most advanced stage a model has reached".
STAGE_RANK = {Stage.DRAFT: 0, Stage.STAGING: 1, Stage.PRODUCTION: 2, Stage.ARCHIVED: -1}


@dataclass(frozen=True)
class SearchFilter:
    registries: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    stages: tuple[Stage, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    compliant: bool | None = None


@dataclass(frozen=True)
class FacetCount:
    value: str
    count: int


T = TypeVar("T")


@dataclass
class SearchPage(Generic[T]):
    items: list[T]
    cursors: list[str]
    total: int
    has_next: bool
    facets: dict[str, list[FacetCount]] = field(default_factory=dict)


@dataclass(frozen=True)
class RegistryStats:
    registry_id: str
    models: int
    versions: int
    healthy: bool
    synced_at: datetime | None
    last_error: str | None
    cursor: str | None


def search_terms(query: str | None) -> list[str]:
    return [t for t in (query or "").lower().split() if t]


def _model_text(model: Model, versions: Sequence[ModelVersion]) -> str:
    parts = [model.name, model.description or "", *(f"{k} {v}" for k, v in model.tags.items())]
    for v in versions[-1:]:  # the newest version's card describes the model today
        parts.append(v.model_card.text())
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


def _top_stage(versions: Sequence[ModelVersion]) -> str | None:
    if not versions:
        return None
    return max((v.stage for v in versions), key=lambda s: STAGE_RANK[s]).value


def _version_order(version: str) -> int:
    number, _ = version_sort_key(version)
    return number


class IndexListener(Protocol):
    """Told about every index change, inside the indexing transaction: whatever a
    listener writes (compliance, audit events) commits or rolls back with it."""

    async def model_indexed(
        self,
        conn: AsyncConnection,
        model: Model,
        before: Mapping[str, ModelVersion],
        after: Sequence[ModelVersion],
    ) -> None: ...

    async def models_removed(self, conn: AsyncConnection, model_uris: Sequence[str]) -> None: ...


class CatalogueIndex:
    def __init__(self, database: Database):
        self.db = database
        self.listeners: list[IndexListener] = []

    # --- writes ------------------------------------------------------------

    async def replace_model(self, model: Model, versions: Sequence[ModelVersion]) -> None:
        """Make the index hold exactly this model and these versions."""
        async with self.db.write() as conn:
            await self._replace_model(conn, model, versions)

    async def _replace_model(
        self, conn: AsyncConnection, model: Model, versions: Sequence[ModelVersion]
    ) -> None:
        now = utcnow()
        before: dict[str, ModelVersion] = {}
        if self.listeners:
            rows = await conn.execute(select(cv.c.uri, cv.c.record).where(cv.c.model_uri == model.uri))
            before = {r.uri: version_from_dict(r.record) for r in rows}
        ordered = sorted(versions, key=lambda v: version_sort_key(v.version))
        latest = ordered[-1].version if ordered else None
        await upsert(
            conn,
            cm,
            [
                {
                    "uri": model.uri,
                    "registry_id": model.registry_id,
                    "name": model.name,
                    "team": model.team,
                    "description": model.description,
                    "search_text": _model_text(model, ordered),
                    "latest_version": latest,
                    "version_count": len(ordered),
                    "top_stage": _top_stage(ordered),
                    "created_at": model.created_at,
                    "updated_at": model.updated_at,
                    "record": model_to_dict(model),
                    "indexed_at": now,
                }
            ],
            key=["uri"],
        )
        version_uris = [v.uri for v in ordered]
        await conn.execute(
            delete(ct).where(
                or_(
                    ct.c.subject_uri == model.uri,
                    ct.c.subject_uri.in_(select(cv.c.uri).where(cv.c.model_uri == model.uri)),
                )
            )
        )
        await conn.execute(delete(cv).where(cv.c.model_uri == model.uri, cv.c.uri.not_in(version_uris)))
        await upsert(
            conn,
            cv,
            [
                {
                    "uri": v.uri,
                    "model_uri": model.uri,
                    "registry_id": v.registry_id,
                    "model_name": v.model_name,
                    "version": v.version,
                    "version_order": _version_order(v.version),
                    "stage": v.stage.value,
                    "team": v.team or model.team,
                    "search_text": _version_text(v),
                    "created_at": v.created_at,
                    "updated_at": v.updated_at,
                    "record": version_to_dict(v),
                    "indexed_at": now,
                }
                for v in ordered
            ],
            key=["uri"],
        )
        tag_rows = [{"subject_uri": model.uri, "key": k, "value": val} for k, val in model.tags.items()]
        tag_rows += [
            {"subject_uri": v.uri, "key": k, "value": val} for v in ordered for k, val in v.tags.items()
        ]
        if tag_rows:
            await conn.execute(ct.insert(), tag_rows)
        for listener in self.listeners:
            await listener.model_indexed(conn, model, before, ordered)

    async def remove_models(self, registry_id: str, names: Iterable[str]) -> int:
        uris = [f"mg://{registry_id}/{n}" for n in names]
        if not uris:
            return 0
        async with self.db.write() as conn:
            return await self._remove(conn, cm.c.uri.in_(uris))

    async def remove_models_except(self, registry_id: str, keep: set[str]) -> int:
        """Drop every model of the registry not in ``keep`` (deleted upstream)."""
        async with self.db.read() as conn:
            names = (await conn.execute(select(cm.c.name).where(cm.c.registry_id == registry_id))).scalars()
            gone = [n for n in names if n not in keep]
        return await self.remove_models(registry_id, gone)

    async def _remove(self, conn: AsyncConnection, which: ColumnElement[bool]) -> int:
        if self.listeners:
            removed = list((await conn.execute(select(cm.c.uri).where(which))).scalars())
            for listener in self.listeners:
                await listener.models_removed(conn, removed)
        uris = select(cm.c.uri).where(which)
        version_uris = select(cv.c.uri).where(cv.c.model_uri.in_(uris))
        await conn.execute(
            delete(ct).where(or_(ct.c.subject_uri.in_(uris), ct.c.subject_uri.in_(version_uris)))
        )
        await conn.execute(delete(cv).where(cv.c.model_uri.in_(uris)))
        return (await conn.execute(delete(cm).where(which))).rowcount

    async def record_sync(
        self,
        registry_id: str,
        *,
        healthy: bool,
        error: str | None = None,
        cursor: str | None = None,
        synced: bool = False,
        seconds: float | None = None,
    ) -> None:
        values: dict[str, Any] = {"registry_id": registry_id, "healthy": healthy, "last_error": error}
        if synced:
            values.update(synced_at=utcnow(), cursor=cursor, sync_seconds=seconds)
        async with self.db.write() as conn:
            await upsert(conn, registry_state, [values], key=["registry_id"])

    # --- reads -------------------------------------------------------------

    async def get_model(self, uri: str) -> Model | None:
        async with self.db.read() as conn:
            record = (await conn.execute(select(cm.c.record).where(cm.c.uri == uri))).scalar()
        return model_from_dict(record) if record else None

    async def get_models(self, uris: Sequence[str]) -> dict[str, Model]:
        async with self.db.read() as conn:
            rows = (await conn.execute(select(cm.c.uri, cm.c.record).where(cm.c.uri.in_(uris)))).all()
        return {r.uri: model_from_dict(r.record) for r in rows}

    async def get_version(self, uri: str) -> ModelVersion | None:
        return (await self.get_versions([uri])).get(uri)

    async def get_versions(self, uris: Sequence[str]) -> dict[str, ModelVersion]:
        async with self.db.read() as conn:
            rows = (await conn.execute(select(cv.c.uri, cv.c.record).where(cv.c.uri.in_(uris)))).all()
        return {r.uri: version_from_dict(r.record) for r in rows}

    async def latest_versions(self, model_uris: Sequence[str]) -> dict[str, ModelVersion]:
        """The newest version of each model, for many models in one query."""
        latest = (
            select(cv.c.model_uri, func.max(cv.c.version_order).label("top"))
            .where(cv.c.model_uri.in_(model_uris))
            .group_by(cv.c.model_uri)
            .subquery()
        )
        query = select(cv.c.model_uri, cv.c.record).join(
            latest, and_(cv.c.model_uri == latest.c.model_uri, cv.c.version_order == latest.c.top)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        return {r.model_uri: version_from_dict(r.record) for r in rows}

    async def registry_stats(self) -> dict[str, RegistryStats]:
        async with self.db.read() as conn:
            models = dict(
                (await conn.execute(select(cm.c.registry_id, func.count()).group_by(cm.c.registry_id))).all()
            )
            versions = dict(
                (await conn.execute(select(cv.c.registry_id, func.count()).group_by(cv.c.registry_id))).all()
            )
            states = {r.registry_id: r for r in (await conn.execute(select(registry_state))).all()}
        ids = set(models) | set(versions) | set(states)
        return {
            rid: RegistryStats(
                registry_id=rid,
                models=models.get(rid, 0),
                versions=versions.get(rid, 0),
                healthy=states[rid].healthy if rid in states else True,
                synced_at=states[rid].synced_at if rid in states else None,
                last_error=states[rid].last_error if rid in states else None,
                cursor=states[rid].cursor if rid in states else None,
            )
            for rid in ids
        }

    # --- search ------------------------------------------------------------

    def _tag_conditions(self, subject: Any, f: SearchFilter) -> list[ColumnElement[bool]]:
        return [
            exists(select(1).where(ct.c.subject_uri == subject, ct.c.key == k, ct.c.value == v))
            for k, v in f.tags
        ]

    def _model_tag_conditions(self, f: SearchFilter) -> list[ColumnElement[bool]]:
        """A model matches a tag if it, or any of its versions, carries it."""
        return [
            or_(
                exists(select(1).where(ct.c.subject_uri == cm.c.uri, ct.c.key == k, ct.c.value == v)),
                exists(
                    select(1)
                    .select_from(ct.join(cv_sub, cv_sub.c.uri == ct.c.subject_uri))
                    .where(cv_sub.c.model_uri == cm.c.uri, ct.c.key == k, ct.c.value == v)
                ),
            )
            for k, v in f.tags
        ]

    def _model_conditions(self, query: str | None, f: SearchFilter) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = []
        if f.registries:
            conds.append(cm.c.registry_id.in_(f.registries))
        if f.teams:
            conds.append(cm.c.team.in_(f.teams))
        if f.stages:
            stages = [s.value for s in f.stages]
            conds.append(exists(select(1).where(cv_sub.c.model_uri == cm.c.uri, cv_sub.c.stage.in_(stages))))
        conds += self._model_tag_conditions(f)
        if f.compliant is not None:
            violating = exists(select(1).where(cv_sub.c.model_uri == cm.c.uri, cv_sub.c.compliant == false()))
            conds.append(~violating if f.compliant else violating)
        conds += [cm.c.search_text.like(f"%{escape_like(t)}%", escape="\\") for t in search_terms(query)]
        return conds

    def _version_conditions(self, query: str | None, f: SearchFilter) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = []
        if f.registries:
            conds.append(cv.c.registry_id.in_(f.registries))
        if f.teams:
            conds.append(cv.c.team.in_(f.teams))
        if f.stages:
            conds.append(cv.c.stage.in_([s.value for s in f.stages]))
        conds += self._tag_conditions(cv.c.uri, f)
        if f.compliant is not None:
            conds.append(
                or_(cv.c.compliant.is_(None), cv.c.compliant == true())
                if f.compliant
                else cv.c.compliant == false()
            )
        conds += [cv.c.search_text.like(f"%{escape_like(t)}%", escape="\\") for t in search_terms(query)]
        return conds

    async def search_models(
        self, query: str | None, f: SearchFilter, first: int, after: str | None, *, facets: bool = True
    ) -> SearchPage[Model]:
        conds = self._model_conditions(query, f)
        where = and_(true(), *conds)
        page_query = select(cm.c.name, cm.c.uri, cm.c.record).where(where)
        if after:
            name, uri = _decode_cursor(after, "name", "uri")
            page_query = page_query.where(or_(cm.c.name > name, and_(cm.c.name == name, cm.c.uri > uri)))
        page_query = page_query.order_by(cm.c.name, cm.c.uri).limit(first + 1)
        async with self.db.read() as conn:
            rows = (await conn.execute(page_query)).all()
            total = (await conn.execute(select(func.count()).select_from(cm).where(where))).scalar_one()
            facet_counts = await self._model_facets(conn, where) if facets else {}
        page = rows[:first]
        return SearchPage(
            items=[model_from_dict(r.record) for r in page],
            cursors=[encode_token({"name": r.name, "uri": r.uri}) for r in page],
            total=total,
            has_next=len(rows) > first,
            facets=facet_counts,
        )

    async def _model_facets(
        self, conn: AsyncConnection, where: ColumnElement[bool]
    ) -> dict[str, list[FacetCount]]:
        result = {}
        for name, column in (("registry", cm.c.registry_id), ("team", cm.c.team)):
            rows = await conn.execute(
                select(column, func.count()).where(where, column.is_not(None)).group_by(column)
            )
            result[name] = _facets(rows)
        stage_rows = await conn.execute(
            select(cv.c.stage, func.count(distinct(cm.c.uri)))
            .select_from(cm.join(cv, cv.c.model_uri == cm.c.uri))
            .where(where)
            .group_by(cv.c.stage)
        )
        result["stage"] = _facets(stage_rows)
        return result

    async def search_versions(
        self,
        query: str | None,
        f: SearchFilter,
        first: int,
        after: str | None,
        *,
        model_uri: str | None = None,
        facets: bool = True,
    ) -> SearchPage[ModelVersion]:
        """Versions matching the filter, ordered by model name, then newest first."""
        conds = self._version_conditions(query, f)
        if model_uri is not None:
            conds.append(cv.c.model_uri == model_uri)
        where = and_(true(), *conds)
        page_query = select(cv.c.model_name, cv.c.version_order, cv.c.uri, cv.c.record).where(where)
        if after:
            name, order, uri = _decode_cursor(after, "name", "order", "uri")
            page_query = page_query.where(
                or_(
                    cv.c.model_name > name,
                    and_(cv.c.model_name == name, cv.c.version_order < order),
                    and_(cv.c.model_name == name, cv.c.version_order == order, cv.c.uri > uri),
                )
            )
        page_query = page_query.order_by(cv.c.model_name, cv.c.version_order.desc(), cv.c.uri).limit(
            first + 1
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(page_query)).all()
            total = (await conn.execute(select(func.count()).select_from(cv).where(where))).scalar_one()
            facet_counts = {}
            if facets:
                for name, column in (
                    ("registry", cv.c.registry_id),
                    ("team", cv.c.team),
                    ("stage", cv.c.stage),
                ):
                    facet_counts[name] = _facets(
                        await conn.execute(
                            select(column, func.count()).where(where, column.is_not(None)).group_by(column)
                        )
                    )
        page = rows[:first]
        return SearchPage(
            items=[version_from_dict(r.record) for r in page],
            cursors=[
                encode_token({"name": r.model_name, "order": r.version_order, "uri": r.uri}) for r in page
            ],
            total=total,
            has_next=len(rows) > first,
            facets=facet_counts,
        )


def _facets(rows: Iterable[Any]) -> list[FacetCount]:
    counts = [FacetCount(str(value), int(count)) for value, count in rows]
    return sorted(counts, key=lambda c: (-c.count, c.value))


def _decode_cursor(cursor: str, *keys: str) -> tuple[Any, ...]:
    try:
        state = decode_token(cursor)
        return tuple(state[k] for k in keys)
    except (ValueError, KeyError):
        raise BadInput(
            f"invalid cursor {cursor!r}: pass an endCursor from an earlier page", field="after"
        ) from None
