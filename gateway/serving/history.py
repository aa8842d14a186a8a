"""Every stage change of every version, and the catalogue's stages "as of" a time.

Rows come from three writers, each inside the transaction that made the change:

- ``StageHistory`` as an index listener: a version's stage differs from the
  one last indexed (source ``sync``, no principal: the registry does not say
  who), or a version is indexed for the first time (``from`` empty: the first
  stage seen, dated when it was seen, since registries keep no stage history);
- applied promotions, rollbacks included (``promotion``, the requester);
- ``record_change``, for the rollout engine (``rollout``).

A change the gateway made itself is not recorded again by the sync that
re-indexes it: the listener skips a change whose latest row already names the
new stage.

As of a time T, a version's stage is the ``to`` of its last row at or before T.
A version created before T whose first row is later had, as far as anyone
knows, that row's ``from`` stage (or, for the first stage seen, that stage);
a version created after T did not exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.domain import Model, ModelVersion, Stage, parse_uri, utcnow
from gateway.store.database import Database, ReadConnection
from gateway.store.sql import any_of
from gateway.store.tables import stage_changes as sc

SYNC = "sync"
PROMOTION = "promotion"
ROLLOUT = "rollout"
CHUNK = 500


@dataclass(frozen=True)
class StageChange:
    version_uri: str
    from_stage: Stage | None
    to_stage: Stage
    at: datetime
    principal: str | None
    source: str


def _change(row: Any) -> StageChange:
    return StageChange(
        row.version_uri,
        Stage(row.from_stage) if row.from_stage else None,
        Stage(row.to_stage),
        row.at,
        row.principal,
        row.source,
    )


async def record_change(
    conn: AsyncConnection,
    version_uri: str,
    from_stage: Stage | None,
    to_stage: Stage,
    *,
    principal: str | None,
    source: str,
    at: datetime | None = None,
) -> None:
    """Append one stage change (call it in the transaction that made the change)."""
    await conn.execute(
        sc.insert().values(
            version_uri=version_uri,
            model_uri=parse_uri(version_uri).model_uri,
            from_stage=from_stage.value if from_stage else None,
            to_stage=to_stage.value,
            at=at or utcnow(),
            principal=principal,
            source=source,
        )
    )


async def latest_stages(conn: ReadConnection, version_uris: Sequence[str]) -> dict[str, Stage]:
    """The stage each version's last recorded change moved it to."""
    found: dict[str, Stage] = {}
    uris = list(version_uris)
    for i in range(0, len(uris), CHUNK):
        part = uris[i : i + CHUNK]
        last = select(func.max(sc.c.id)).group_by(sc.c.version_uri)
        if conn.dialect.name == "postgresql":
            # Joined to the array's elements: once PostgreSQL runs this prepared statement
            # with its generic plan, an IN list of parameters is searched row by row over
            # the whole table (15 ms became 500 ms a batch during a sync); a join keeps
            # to the (version_uri, id) index whatever the plan.
            uris_array = bindparam("uris", part, type_=ARRAY(String))
            wanted = func.unnest(uris_array).table_valued("uri").render_derived()
            last = last.join(wanted, sc.c.version_uri == wanted.c.uri)
        else:
            last = last.where(sc.c.version_uri.in_(part))
        rows = await conn.execute(select(sc.c.version_uri, sc.c.to_stage).where(sc.c.id.in_(last)))
        found.update({r.version_uri: Stage(r.to_stage) for r in rows})
    return found


class StageHistory:
    """The stage history's reads, and its index listener (see the module docstring)."""

    def __init__(self, database: Database):
        self.db = database

    # --- the index listener ----------------------------------------------------

    async def model_indexed(
        self,
        conn: AsyncConnection,
        model: Model,
        before: Mapping[str, ModelVersion],
        after: Sequence[ModelVersion],
    ) -> None:
        await self.models_indexed(conn, [(model, before, after)])

    async def models_indexed(
        self,
        conn: AsyncConnection,
        changes: Sequence[tuple[Model, Mapping[str, ModelVersion], Sequence[ModelVersion]]],
        records: Mapping[str, Mapping[str, Any]] | None = None,  # the index's rows; stages suffice here
    ) -> None:
        moved = [
            (before.get(v.uri), v)
            for _, before, after in changes
            for v in after
            if v.uri not in before or before[v.uri].stage is not v.stage
        ]
        if not moved:
            return
        recorded = await latest_stages(conn, [v.uri for _, v in moved])
        now = utcnow()
        rows = [
            {
                "version_uri": v.uri,
                "model_uri": v.model_uri,
                "from_stage": (
                    old.stage.value if old else recorded[v.uri].value if v.uri in recorded else None
                ),
                "to_stage": v.stage.value,
                "at": now,
                "principal": None,
                "source": SYNC,
            }
            for old, v in moved
            if recorded.get(v.uri) is not v.stage  # else the gateway's own change, recorded when made
        ]
        if rows:
            await conn.execute(sc.insert(), rows)

    async def record(
        self,
        version_uri: str,
        from_stage: Stage | None,
        to_stage: Stage,
        *,
        principal: str | None,
        source: str = ROLLOUT,
    ) -> None:
        """``record_change`` in a transaction of its own (for the rollout engine)."""
        async with self.db.write() as conn:
            await record_change(conn, version_uri, from_stage, to_stage, principal=principal, source=source)

    async def models_removed(self, conn: AsyncConnection, model_uris: Sequence[str]) -> None:
        """History outlives the versions: nothing is deleted."""

    # --- reads -------------------------------------------------------------------

    async def changes(self, uri: str) -> list[StageChange]:
        """A version's changes, or a model's (all its versions'), oldest first."""
        parsed = parse_uri(uri)
        where = sc.c.version_uri == uri if parsed.version is not None else sc.c.model_uri == uri
        async with self.db.read() as conn:
            rows = await conn.execute(select(sc).where(where).order_by(sc.c.at, sc.c.id))
            return [_change(r) for r in rows]

    async def stages_at(self, versions: Sequence[ModelVersion], as_of: datetime) -> dict[str, Stage]:
        """Each version's stage at ``as_of``; versions that did not exist then are absent."""
        uris = [v.uri for v in versions]
        rows_by_version: dict[str, list[StageChange]] = {}
        async with self.db.read() as conn:
            for i in range(0, len(uris), CHUNK):
                part = uris[i : i + CHUNK]
                rows = await conn.execute(
                    select(sc)
                    .where(any_of(conn.dialect.name, sc.c.version_uri, part))
                    .order_by(sc.c.at, sc.c.id)
                )
                for r in rows:
                    rows_by_version.setdefault(r.version_uri, []).append(_change(r))
        found: dict[str, Stage] = {}
        for v in versions:
            history = rows_by_version.get(v.uri, [])
            before = [c for c in history if c.at <= as_of]
            if before:
                found[v.uri] = before[-1].to_stage
            elif v.created_at is not None and v.created_at <= as_of:
                first = history[0] if history else None
                found[v.uri] = (first.from_stage or first.to_stage) if first else v.stage
        return found

    async def versions_as_of(self, versions: Sequence[ModelVersion], as_of: datetime) -> list[ModelVersion]:
        """The versions as they were at ``as_of``: those created later left out, the
        others with the stage they had then."""
        stages = await self.stages_at(versions, as_of)
        return [
            v if stages[v.uri] is v.stage else replace(v, stage=stages[v.uri], native_stage=None)
            for v in versions
            if v.uri in stages
        ]
