"""The serving tables: endpoints and their traffic slices, per registry.

An endpoint read from a registry (``source = "registry"``) is replaced whole by
each read of that registry; one a serving system reported (``"reported"``) is
changed slice by slice, by each report.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain import Deployment, Endpoint, TrafficShare, parse_uri
from gateway.store.database import ReadConnection
from gateway.store.tables import serving_endpoints as se
from gateway.store.tables import serving_traffic as st

REGISTRY = "registry"
REPORTED = "reported"


def model_of(version_uri: str | None) -> str | None:
    if not version_uri:
        return None
    try:
        parsed = parse_uri(version_uri)
    except ValueError:
        return None
    return parsed.model_uri if parsed.version is not None else None


def _traffic_rows(registry_id: str, endpoint: Endpoint) -> list[dict[str, Any]]:
    return [
        {
            "registry_id": registry_id,
            "endpoint_uri": endpoint.uri,
            "position": i,
            "variant": share.variant,
            "version_uri": share.version_uri,
            "model_uri": model_of(share.version_uri),
            "percent": share.percent,
            "status": endpoint.status,
            "updated_at": endpoint.updated_at,
        }
        for i, share in enumerate(endpoint.traffic)
    ]


async def replace_registry_endpoints(
    conn: AsyncConnection, registry_id: str, endpoints: Sequence[Endpoint], now: datetime
) -> None:
    """The registry's read endpoints become exactly ``endpoints`` (reported ones stay)."""
    read = select(se.c.uri).where(se.c.registry_id == registry_id, se.c.source == REGISTRY)
    await conn.execute(delete(st).where(st.c.registry_id == registry_id, st.c.endpoint_uri.in_(read)))
    await conn.execute(delete(se).where(se.c.registry_id == registry_id, se.c.source == REGISTRY))
    if not endpoints:
        return
    await conn.execute(
        se.insert(),
        [
            {
                "registry_id": registry_id,
                "uri": e.uri,
                "name": e.name,
                "status": e.status,
                "source": REGISTRY,
                "updated_at": e.updated_at,
                "seen_at": now,
            }
            for e in endpoints
        ],
    )
    rows = [row for e in endpoints for row in _traffic_rows(registry_id, e)]
    if rows:
        await conn.execute(st.insert(), rows)


async def endpoint_source(conn: ReadConnection, registry_id: str, uri: str) -> str | None:
    row = (
        await conn.execute(select(se.c.source).where(se.c.registry_id == registry_id, se.c.uri == uri))
    ).first()
    return row.source if row else None


async def put_reported_share(
    conn: AsyncConnection,
    registry_id: str,
    endpoint_uri: str,
    share: TrafficShare,
    status: str | None,
    at: datetime,
) -> None:
    """One serving system's report: this version's (and variant's) slice of the
    endpoint is now ``share``; other slices are left as they were reported."""
    exists = await endpoint_source(conn, registry_id, endpoint_uri)
    if exists is None:
        await conn.execute(
            se.insert().values(
                registry_id=registry_id,
                uri=endpoint_uri,
                name=endpoint_uri,
                status=status,
                source=REPORTED,
                updated_at=at,
                seen_at=at,
            )
        )
    else:
        await conn.execute(
            se.update()
            .where(se.c.registry_id == registry_id, se.c.uri == endpoint_uri)
            .values(status=status, updated_at=at, seen_at=at)
        )
    same_slice = and_(
        st.c.registry_id == registry_id,
        st.c.endpoint_uri == endpoint_uri,
        st.c.version_uri == share.version_uri,
        st.c.variant.is_(None) if share.variant is None else st.c.variant == share.variant,
    )
    positions = (await conn.execute(select(st.c.position).where(same_slice))).scalars().all()
    await conn.execute(delete(st).where(same_slice))
    if not positions:
        taken = (
            await conn.execute(
                select(st.c.position).where(
                    st.c.registry_id == registry_id, st.c.endpoint_uri == endpoint_uri
                )
            )
        ).scalars()
        positions = [max(taken, default=-1) + 1]
    await conn.execute(
        st.insert().values(
            registry_id=registry_id,
            endpoint_uri=endpoint_uri,
            position=positions[0],
            variant=share.variant,
            version_uri=share.version_uri,
            model_uri=model_of(share.version_uri),
            percent=share.percent,
            status=status,
            updated_at=at,
        )
    )


async def read_endpoints(conn: ReadConnection, registry_ids: Sequence[str] | None) -> list[Endpoint]:
    """Endpoints (of these registries; None: all), by registry and name."""
    query = select(se).order_by(se.c.registry_id, se.c.name, se.c.uri)
    traffic = select(st).order_by(st.c.registry_id, st.c.endpoint_uri, st.c.position)
    if registry_ids is not None:
        query = query.where(se.c.registry_id.in_(registry_ids))
        traffic = traffic.where(st.c.registry_id.in_(registry_ids))
    shares: dict[tuple[str, str], list[TrafficShare]] = {}
    for row in await conn.execute(traffic):
        shares.setdefault((row.registry_id, row.endpoint_uri), []).append(
            TrafficShare(row.percent, row.version_uri, row.variant)
        )
    return [
        Endpoint(
            uri=row.uri,
            name=row.name,
            registry_id=row.registry_id,
            status=row.status,
            traffic=tuple(shares.get((row.registry_id, row.uri), ())),
            updated_at=row.updated_at,
        )
        for row in await conn.execute(query)
    ]


async def deployments_by_version(
    conn: ReadConnection, registry_id: str, model_uris: Sequence[str] | None = None
) -> dict[str, tuple[Deployment, ...]]:
    """Every catalogue version of the registry that an endpoint serves (any share, 0 % too)."""
    query = select(st).where(st.c.registry_id == registry_id, st.c.version_uri.is_not(None))
    if model_uris is not None:
        query = query.where(st.c.model_uri.in_(model_uris))
    found: dict[str, list[Deployment]] = {}
    for row in await conn.execute(query.order_by(st.c.endpoint_uri, st.c.position)):
        found.setdefault(row.version_uri, []).append(
            Deployment(
                endpoint=row.endpoint_uri,
                traffic_percent=row.percent,
                updated_at=row.updated_at,
                registry=registry_id,
                variant=row.variant,
                status=row.status,
            )
        )
    return {uri: tuple(d) for uri, d in found.items()}
