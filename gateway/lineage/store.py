"""SQL over the lineage tables: replacing a version's edges, and one hop of a
walk for a whole frontier in one statement (per chunk of URIs)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    String,
    and_,
    any_,
    bindparam,
    cast,
    delete,
    func,
    literal,
    null,
    select,
    union,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain import LineageNode, Relation
from gateway.lineage.graph import Edge, node_for_uri
from gateway.store.database import ReadConnection
from gateway.store.sql import any_of, insert_many_ignore
from gateway.store.tables import catalogue_models as cm
from gateway.store.tables import catalogue_versions as cv
from gateway.store.tables import lineage_artifacts as la
from gateway.store.tables import lineage_edges as le

# URIs per IN list. A hop statement holds three lists, so this keeps it far
# below SQLite's bound-parameter limit (32,766).
CHUNK = 1000
URI_LIMIT = 1024  # the column width; longer URIs keep a prefix and a hash
LABEL_LIMIT = 512
REGISTRY_EVIDENCE = "registry"
T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def fit_uri(uri: str) -> str:
    """URIs longer than the column keep a prefix plus a hash of the whole, so
    equal URIs still meet and different ones stay apart."""
    if len(uri) <= URI_LIMIT:
        return uri
    digest = hashlib.sha256(uri.encode()).hexdigest()[:24]
    return f"{uri[: URI_LIMIT - 26]}#~{digest}"


def _label(label: str | None) -> str | None:
    return label[:LABEL_LIMIT] if label else None


def edge_row(edge: Edge, origin: str) -> dict[str, Any]:
    return {
        "source_uri": fit_uri(edge.source.uri),
        "source_kind": edge.source.kind[:32],
        "source_label": _label(edge.source.label),
        "source_registry": edge.source.registry,
        "target_uri": fit_uri(edge.target.uri),
        "target_kind": edge.target.kind[:32],
        "target_label": _label(edge.target.label),
        "target_registry": edge.target.registry,
        "relation": edge.relation.value,
        "origin_version_uri": origin,
        "evidence": edge.evidence[:64],
    }


def _node(uri: str, kind: str, label: str | None, registry: str | None) -> LineageNode:
    if label is None or kind == "unknown":
        derived = node_for_uri(uri, registry)
        return LineageNode(uri, derived.kind if kind == "unknown" else kind, label or derived.label, registry)
    return LineageNode(uri, kind, label, registry)


def row_edge(row: Any) -> Edge:
    return Edge(
        _node(row.source_uri, row.source_kind, row.source_label, row.source_registry),
        _node(row.target_uri, row.target_kind, row.target_label, row.target_registry),
        Relation(row.relation),
        row.evidence,
        row.origin_version_uri,
    )


# --- writes --------------------------------------------------------------------


async def replace_versions(
    conn: AsyncConnection,
    origins: Sequence[str],
    edges: Sequence[Edge],
    artifacts: Sequence[tuple[str, str, str]],
) -> None:
    """Make the store hold exactly ``edges`` and ``artifacts`` (version URI, key,
    registry) for the versions ``origins`` (edges of any evidence are dropped:
    registry lineage is fetched again when next asked for)."""
    for chunk in chunks(origins):
        await conn.execute(delete(le).where(any_of(conn.dialect.name, le.c.origin_version_uri, chunk)))
        await conn.execute(delete(la).where(any_of(conn.dialect.name, la.c.version_uri, chunk)))
    rows = [edge_row(e, e.origin or "") for e in edges]
    for rows_chunk in chunks(rows, 2000):
        await conn.execute(le.insert(), list(rows_chunk))
    unique = list({(v, k): r for v, k, r in artifacts}.items())
    artifact_rows = [{"version_uri": v, "key": k[:URI_LIMIT], "registry_id": r} for (v, k), r in unique]
    # Two transactions may index the same new version at once on PostgreSQL (a
    # registration and a sync pass that listed it): equal rows, so keep the first.
    # (Edges have no natural key; a duplicate is merged by ``Graph`` and dropped at
    # the version's next harvest.)
    for artifacts_chunk in chunks(artifact_rows, 2000):
        await insert_many_ignore(conn, la, artifacts_chunk)


async def remove_models(conn: AsyncConnection, model_uris: Sequence[str]) -> None:
    """Drop what the versions of these models contributed (before they leave the index)."""
    dialect = conn.dialect.name
    for chunk in chunks(model_uris):
        versions = select(cv.c.uri).where(any_of(dialect, cv.c.model_uri, chunk))
        origins = list((await conn.execute(versions)).scalars())
        for part in chunks(origins):  # by key: a subquery here may be planned as a scan
            await conn.execute(delete(le).where(any_of(dialect, le.c.origin_version_uri, part)))
            await conn.execute(delete(la).where(any_of(dialect, la.c.version_uri, part)))


async def replace_registry_edges(conn: AsyncConnection, origin: str, edges: Sequence[Edge]) -> None:
    """Store what a registry's own lineage API said about one version."""
    await conn.execute(
        delete(le).where(le.c.origin_version_uri == origin, le.c.evidence == REGISTRY_EVIDENCE)
    )
    if edges:
        await conn.execute(le.insert(), [edge_row(e, origin) for e in edges])


async def canonical_model_names(
    conn: ReadConnection, wanted: set[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """The catalogue's spelling of models named case-insensitively: (registry,
    lowercased name) -> name, for those the catalogue has."""
    found: dict[tuple[str, str], str] = {}
    by_registry: dict[str, list[str]] = {}
    for registry, lowered in wanted:
        by_registry.setdefault(registry, []).append(lowered)
    for registry, names in by_registry.items():
        for chunk in chunks(sorted(set(names))):
            query = select(cm.c.name).where(
                cm.c.registry_id == registry, any_of(conn.dialect.name, func.lower(cm.c.name), chunk)
            )
            for name in (await conn.execute(query)).scalars():
                found[(registry, name.lower())] = name
    return found


async def recase_targets(conn: AsyncConnection, registry_id: str, name: str, versions: Sequence[str]) -> None:
    """Point edges that named this model in lowercase (a SageMaker ARN read before
    the model was indexed) at its real spelling."""
    lower_prefix = f"mg://{registry_id}/{name.lower()}"
    real_prefix = f"mg://{registry_id}/{name}"
    targets = [lower_prefix, *(f"{lower_prefix}/{v}" for v in versions)]
    for chunk in chunks(targets):
        await conn.execute(
            update(le)
            .where(any_of(conn.dialect.name, le.c.target_uri, chunk))
            .values(
                target_uri=literal(real_prefix) + func.substr(le.c.target_uri, len(lower_prefix) + 1),
                target_label=None,
            )
        )


# --- reads ---------------------------------------------------------------------


@functools.cache
def _hop_statement(dialect: str, forward: frozenset[Relation], backward: frozenset[Relation]) -> Any:
    """The hop query for one pair of relation sets, built once: its frontier is the
    parameter ``frontier``. Reusing the statement object lets SQLAlchemy reuse its
    cache key and compiled form instead of rebuilding both per hop. On PostgreSQL the
    frontier is one array parameter (``= ANY``, see ``gateway.store.sql.any_of``), on
    SQLite an expanding IN list."""
    if dialect == "postgresql":
        frontier: Any = bindparam("frontier", type_=postgresql.ARRAY(String()))

        def member(column: Any) -> Any:
            return column == any_(frontier)
    else:
        frontier = bindparam("frontier", expanding=True)

        def member(column: Any) -> Any:
            return column.in_(frontier)

    columns = [
        le.c.source_uri,
        le.c.source_kind,
        le.c.source_label,
        le.c.source_registry,
        le.c.target_uri,
        le.c.target_kind,
        le.c.target_label,
        le.c.target_registry,
        le.c.relation,
        le.c.evidence,
        le.c.origin_version_uri,
    ]
    parts = []
    if forward:
        parts.append(
            select(*columns).where(member(le.c.source_uri), le.c.relation.in_([r.value for r in forward]))
        )
    if backward:
        parts.append(
            select(*columns).where(member(le.c.target_uri), le.c.relation.in_([r.value for r in backward]))
        )
    if Relation.SAME_AS in forward or Relation.SAME_AS in backward:
        # Versions in other registries holding the same artifact (URI or digest). The
        # frontier's keys are looked up first (MATERIALIZED): otherwise PostgreSQL hashes
        # the whole artifact table for every hop instead of probing the key index.
        mine = (
            select(la.c.version_uri, la.c.key, la.c.registry_id)
            .where(member(la.c.version_uri))
            .cte("frontier_artifacts")
            .prefix_with("MATERIALIZED")
        )
        other = la.alias("other")
        text = String()
        parts.append(
            select(
                mine.c.version_uri,
                cast(literal("model_version"), text),
                cast(null(), text),
                mine.c.registry_id,
                other.c.version_uri,
                cast(literal("model_version"), text),
                cast(null(), text),
                other.c.registry_id,
                cast(literal(Relation.SAME_AS.value), text),
                cast(literal("artifact"), text),
                mine.c.version_uri,
            ).select_from(
                mine.join(other, and_(other.c.key == mine.c.key, other.c.registry_id != mine.c.registry_id))
            )
        )
    return union_all(*parts)


async def hop(
    conn: ReadConnection,
    frontier: Sequence[str],
    forward: frozenset[Relation],
    backward: frozenset[Relation],
) -> list[Edge]:
    """Every stored edge leaving the frontier: those whose source is in it with a
    ``forward`` relation, those whose target is in it with a ``backward`` one, and
    artifact-derived SAME_AS links (when SAME_AS is followed)."""
    edges: list[Edge] = []
    for chunk in chunks(sorted(set(frontier))):
        rows = (
            await conn.execute(
                _hop_statement(conn.dialect.name, forward, backward), {"frontier": list(chunk)}
            )
        ).all()
        edges += [row_edge(r) for r in rows]
    return edges


async def known_uris(conn: ReadConnection, uris: Sequence[str]) -> set[str]:
    """Which of these URIs the graph has a node for."""
    found: set[str] = set()
    for chunk in chunks(list(dict.fromkeys(uris))):
        query = union(
            select(le.c.source_uri.label("uri")).where(any_of(conn.dialect.name, le.c.source_uri, chunk)),
            select(le.c.target_uri.label("uri")).where(any_of(conn.dialect.name, le.c.target_uri, chunk)),
            select(la.c.version_uri.label("uri")).where(any_of(conn.dialect.name, la.c.version_uri, chunk)),
            select(cv.c.uri.label("uri")).where(any_of(conn.dialect.name, cv.c.uri, chunk)),
            select(cm.c.uri.label("uri")).where(any_of(conn.dialect.name, cm.c.uri, chunk)),
        )
        found |= set((await conn.execute(query)).scalars())
    return found


async def describe(conn: ReadConnection, uri: str) -> LineageNode:
    """How the graph describes a node (kind, label, registry), from any edge naming it."""
    if uri.startswith("mg://"):
        return node_for_uri(uri)
    as_target = select(le.c.target_kind, le.c.target_label, le.c.target_registry).where(
        le.c.target_uri == uri
    )
    row: Any = (await conn.execute(as_target.limit(1))).first()
    if row is None:
        as_source = select(le.c.source_kind, le.c.source_label, le.c.source_registry).where(
            le.c.source_uri == uri
        )
        row = (await conn.execute(as_source.limit(1))).first()
    return _node(uri, row[0], row[1], row[2]) if row else node_for_uri(uri)


async def model_versions(conn: ReadConnection, model_uri: str) -> list[str]:
    """The indexed versions of a model (an ``impact`` of a model starts from them)."""
    query = select(cv.c.uri).where(cv.c.model_uri == model_uri).order_by(cv.c.version_order)
    return list((await conn.execute(query)).scalars())


__all__ = [
    "canonical_model_names",
    "chunks",
    "describe",
    "edge_row",
    "fit_uri",
    "hop",
    "known_uris",
    "model_versions",
    "recase_targets",
    "remove_models",
    "replace_registry_edges",
    "replace_versions",
]
