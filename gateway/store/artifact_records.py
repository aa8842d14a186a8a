"""Native versions' artifact URIs as the store keeps them, and the one place that
rewrites one (``modelgate artifacts migrate``).

A rewrite is a compare-and-set: it changes the record only while it still
names the URI the caller copied from, bumps the registry's change counter and
the model's ``change_seq`` (so every replica's next sync re-indexes the model,
as after any native write), and runs the caller's ``within`` hook (the audit
event) in the same transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.codec import version_from_dict, version_to_dict
from gateway.domain import Stage, utcnow, version_uri
from gateway.store.database import Database
from gateway.store.sql import insert_ignore
from gateway.store.tables import native_changes, native_models, native_versions, stage_changes


@dataclass(frozen=True)
class VersionArtifact:
    """One native version's artifact, as its record holds it."""

    registry_id: str
    model_name: str
    version: int
    stage: str
    artifact_uri: str | None
    artifact_digest: str | None
    updated_at: datetime

    @property
    def uri(self) -> str:
        return version_uri(self.registry_id, self.model_name, str(self.version))


async def native_artifacts(database: Database, registry_ids: Sequence[str]) -> list[VersionArtifact]:
    """Every version of these native registries, by registry, model and number."""
    if not registry_ids:
        return []
    query = (
        select(native_versions.c.record, native_versions.c.updated_at)
        .where(native_versions.c.registry_id.in_(list(registry_ids)))
        .order_by(native_versions.c.registry_id, native_versions.c.model_name, native_versions.c.version)
    )
    async with database.read() as conn:
        rows = (await conn.execute(query)).all()
    found = []
    for row in rows:
        v = version_from_dict(row.record)
        found.append(
            VersionArtifact(
                v.registry_id,
                v.model_name,
                int(v.version),
                v.stage.value,
                v.artifact_uri,
                v.artifact_digest,
                row.updated_at,
            )
        )
    return found


async def archived_since(database: Database, uris: Sequence[str]) -> dict[str, datetime]:
    """When each version last moved to ARCHIVED, as the stage history recorded it."""
    if not uris:
        return {}
    query = select(stage_changes.c.version_uri, stage_changes.c.at).where(
        stage_changes.c.version_uri.in_(list(uris)), stage_changes.c.to_stage == Stage.ARCHIVED.value
    )
    since: dict[str, datetime] = {}
    async with database.read() as conn:
        for row in (await conn.execute(query)).all():
            if row.version_uri not in since or row.at > since[row.version_uri]:
                since[row.version_uri] = row.at
    return since


Within = Callable[[AsyncConnection], Awaitable[None]]


async def rewrite_artifact_uri(
    database: Database,
    item: VersionArtifact,
    new_uri: str,
    digest: str,
    *,
    within: Within | None = None,
) -> bool:
    """Point ``item``'s record at ``new_uri`` (and record ``digest``), unless the
    record changed since it was read: then False and nothing is written."""
    now = utcnow()
    where = (
        native_versions.c.registry_id == item.registry_id,
        native_versions.c.model_name == item.model_name,
        native_versions.c.version == item.version,
    )
    async with database.write() as conn:
        # The registry's counter first, then the model row: the native registry's lock order.
        await insert_ignore(conn, native_changes, {"registry_id": item.registry_id, "seq": 0})
        seq = (
            await conn.execute(
                update(native_changes)
                .where(native_changes.c.registry_id == item.registry_id)
                .values(seq=native_changes.c.seq + 1)
                .returning(native_changes.c.seq)
            )
        ).scalar_one()
        await conn.execute(
            update(native_models)
            .where(native_models.c.registry_id == item.registry_id, native_models.c.name == item.model_name)
            .values(change_seq=seq, updated_at=now)
        )
        record = (await conn.execute(select(native_versions.c.record).where(*where))).scalar()
        if record is None:
            return False
        version = version_from_dict(record)
        if version.artifact_uri != item.artifact_uri:
            return False
        moved = dataclasses.replace(version, artifact_uri=new_uri, artifact_digest=digest, updated_at=now)
        await conn.execute(
            update(native_versions).where(*where).values(record=version_to_dict(moved), updated_at=now)
        )
        if within is not None:
            await within(conn)
    return True
