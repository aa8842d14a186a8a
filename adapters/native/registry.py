"""modelgate's own registry, stored in the gateway's database.

Version numbers are assigned by ``UPDATE ... SET last_version = last_version + 1
RETURNING`` inside the registering transaction, so concurrent registrations
into one model get 1, 2, 3 ... with no gap or duplicate on SQLite (one writer
at a time) and PostgreSQL (the model row is locked until commit).

A model has at most one PRODUCTION version: ``set_stage`` to PRODUCTION archives
the one it replaces in the same transaction, under the same lock (see there).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import semver
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.base import ChangeSet, Health, Page, RegistrationRequest, TransactionHook
from adapters.protocol import PromotionContext
from adapters.toolkit.paging import decode_token, encode_token
from gateway.domain import LineageEdge, Model, ModelVersion, Stage, VersionFile, record_edges, utcnow
from gateway.errors import BadInput, NotFound
from gateway.store.embedded import (
    Database,
    ReadConnection,
    insert_ignore,
    native_changes,
    native_models,
    native_version_files,
    native_versions,
    version_from_dict,
    version_to_dict,
)

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,255}$")
PAGE_SIZE = 100


def validate_registration(request: RegistrationRequest) -> None:
    """Reject what would make a bad record, naming the field."""
    if not MODEL_NAME.match(request.model_name):
        raise BadInput(
            f"model name {request.model_name!r} must start with a letter or digit and use only "
            "letters, digits, '.', '_' and '-' (at most 256 characters)",
            field="model",
        )
    v = request.version
    if v.semver is not None and not semver.Version.is_valid(v.semver):
        raise BadInput(f"semver {v.semver!r} is not a semantic version (MAJOR.MINOR.PATCH)", field="semver")
    if not v.artifact_uri:
        raise BadInput("artifactUri is required", field="artifactUri")
    for key in v.metrics:
        if not key:
            raise BadInput("metric keys must not be empty", field="metrics")


class NativeRegistry:
    """The ``native`` adapter: implements ``RegistryAdapter`` and ``VersionRegistrar``."""

    kind = "native"

    def __init__(self, registry_id: str, database: Database, team: str | None = None):
        self.registry_id = registry_id
        self.team = team
        self._db = database

    # --- reads -------------------------------------------------------------

    def _model(self, row: Any) -> Model:
        return Model(
            registry_id=self.registry_id,
            name=row.name,
            description=row.description,
            team=self.team,
            tags=row.tags or {},
            created_at=row.created_at,
            updated_at=row.updated_at,
            native={"last_version": row.last_version},
        )

    async def list_models(self, page_token: str | None = None) -> Page[Model]:
        after = decode_token(page_token)["after"] if page_token else None
        query = select(native_models).where(native_models.c.registry_id == self.registry_id)
        if after is not None:
            query = query.where(native_models.c.name > after)
        query = query.order_by(native_models.c.name).limit(PAGE_SIZE + 1)
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        items = [self._model(r) for r in rows[:PAGE_SIZE]]
        token = encode_token({"after": items[-1].name}) if len(rows) > PAGE_SIZE else None
        return Page(items, token)

    async def list_versions(self, model_name: str, page_token: str | None = None) -> Page[ModelVersion]:
        after = int(decode_token(page_token)["after"]) if page_token else 0
        query = (
            select(native_versions.c.record)
            .where(
                native_versions.c.registry_id == self.registry_id,
                native_versions.c.model_name == model_name,
                native_versions.c.version > after,
            )
            .order_by(native_versions.c.version)
            .limit(PAGE_SIZE + 1)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        items = [version_from_dict(r.record) for r in rows[:PAGE_SIZE]]
        token = encode_token({"after": items[-1].version}) if len(rows) > PAGE_SIZE else None
        return Page(items, token)

    async def get_model(self, name: str) -> Model | None:
        async with self._db.read() as conn:
            row = (
                await conn.execute(
                    select(native_models).where(
                        native_models.c.registry_id == self.registry_id, native_models.c.name == name
                    )
                )
            ).first()
        return self._model(row) if row else None

    async def get_version(self, name: str, version: str) -> ModelVersion | None:
        if not version.isdigit():
            return None
        async with self._db.read() as conn:
            record = await self._version_record(conn, name, int(version))
        return version_from_dict(record) if record else None

    async def get_versions(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ModelVersion]:
        """Many versions in one query (the live reader batches a page this way)."""
        wanted = {(name, int(v)) for name, v in keys if v.isdigit()}
        if not wanted:
            return {}
        query = select(native_versions.c.record).where(
            native_versions.c.registry_id == self.registry_id,
            native_versions.c.model_name.in_({name for name, _ in wanted}),
            native_versions.c.version.in_({v for _, v in wanted}),
        )
        async with self._db.read() as conn:
            records = (await conn.execute(query)).scalars().all()
        found = {}
        for record in records:
            version = version_from_dict(record)
            if (version.model_name, int(version.version)) in wanted:
                found[(version.model_name, version.version)] = version
        return found

    async def _version_record(self, conn: ReadConnection, name: str, version: int) -> dict[str, Any] | None:
        return (
            await conn.execute(
                select(native_versions.c.record).where(
                    native_versions.c.registry_id == self.registry_id,
                    native_versions.c.model_name == name,
                    native_versions.c.version == version,
                )
            )
        ).scalar()

    async def changes_since(self, cursor: str | None) -> ChangeSet:
        """Every model touched after ``cursor`` (a change sequence number)."""
        since = int(cursor) if cursor else 0
        async with self._db.read() as conn:
            rows = (
                await conn.execute(
                    select(native_models.c.name, native_models.c.change_seq).where(
                        native_models.c.registry_id == self.registry_id,
                        native_models.c.change_seq > since,
                    )
                )
            ).all()
            current = (
                await conn.execute(
                    select(native_changes.c.seq).where(native_changes.c.registry_id == self.registry_id)
                )
            ).scalar() or 0
        return ChangeSet(cursor=str(current), changed=sorted(r.name for r in rows))

    async def lineage(self, version: ModelVersion) -> list[LineageEdge]:
        """The native record's own parent, dataset, code and deployment fields, as edges."""
        return record_edges(version)

    async def health(self) -> Health:
        try:
            await self._db.ping()
        except Exception as exc:  # the store is down: say so, do not crash the probe
            return Health(False, f"database unreachable: {exc}")
        return Health(True)

    async def aclose(self) -> None:
        """The database belongs to the gateway; nothing to close."""

    # --- writes ------------------------------------------------------------

    async def _next_change(self, conn: AsyncConnection) -> int:
        await insert_ignore(conn, native_changes, {"registry_id": self.registry_id, "seq": 0})
        return (
            await conn.execute(
                update(native_changes)
                .where(native_changes.c.registry_id == self.registry_id)
                .values(seq=native_changes.c.seq + 1)
                .returning(native_changes.c.seq)
            )
        ).scalar_one()

    async def register_version(
        self, request: RegistrationRequest, *, within: TransactionHook | None = None
    ) -> ModelVersion:
        validate_registration(request)
        now = utcnow()
        async with self._db.write() as conn:
            seq = await self._next_change(conn)
            await insert_ignore(
                conn,
                native_models,
                {
                    "registry_id": self.registry_id,
                    "name": request.model_name,
                    "description": request.model_description,
                    "tags": {},
                    "last_version": 0,
                    "created_at": now,
                    "updated_at": now,
                    "change_seq": seq,
                },
            )
            number = (
                await conn.execute(
                    update(native_models)
                    .where(
                        native_models.c.registry_id == self.registry_id,
                        native_models.c.name == request.model_name,
                    )
                    .values(
                        last_version=native_models.c.last_version + 1,
                        updated_at=now,
                        change_seq=seq,
                    )
                    .returning(native_models.c.last_version)
                )
            ).scalar_one()
            version = dataclasses.replace(
                request.version,
                registry_id=self.registry_id,
                model_name=request.model_name,
                version=str(number),
                stage=Stage.DRAFT,
                native_stage=Stage.DRAFT.value,
                team=self.team,
                created_by=request.actor,
                created_at=now,
                updated_at=now,
            )
            await conn.execute(
                native_versions.insert().values(
                    registry_id=self.registry_id,
                    model_name=request.model_name,
                    version=number,
                    stage=version.stage.value,
                    record=version_to_dict(version),
                    created_at=now,
                    updated_at=now,
                )
            )
            if request.files:
                await conn.execute(
                    native_version_files.insert(),
                    [
                        {
                            "registry_id": self.registry_id,
                            "model_name": request.model_name,
                            "version": number,
                            "path": f.path,
                            "digest": f.digest,
                            "size": f.size,
                        }
                        for f in request.files
                    ],
                )
            if within is not None:
                await within(conn, version)
        return version

    async def recorded_files(self, model_name: str, version: str) -> list[VersionFile]:
        if not version.isdigit():
            return []
        query = (
            select(native_version_files.c.path, native_version_files.c.digest, native_version_files.c.size)
            .where(
                native_version_files.c.registry_id == self.registry_id,
                native_version_files.c.model_name == model_name,
                native_version_files.c.version == int(version),
            )
            .order_by(native_version_files.c.path)
        )
        async with self._db.read() as conn:
            rows = (await conn.execute(query)).all()
        return [VersionFile(r.path, r.digest, int(r.size)) for r in rows]

    async def set_stage(self, version: ModelVersion, stage: Stage, context: PromotionContext) -> ModelVersion:
        """Write ``stage``. PRODUCTION is held by one version of a model: writing it
        moves every other PRODUCTION version of the model to ARCHIVED (as MLflow's
        ``archive_existing_versions`` does) in the same transaction, and hands each
        to ``context.demoted`` there, before ``context.within``.

        The registry's change counter and then the model row are updated first,
        so concurrent writes to one model queue on their row locks (PostgreSQL;
        SQLite's write transaction is exclusive) and each reads the stages the one
        before it left: exactly one PRODUCTION version remains. The order of those
        two locks is ``register_version``'s too, so the two never deadlock."""
        now = utcnow()
        async with self._db.write() as conn:
            seq = await self._next_change(conn)
            await conn.execute(
                update(native_models)
                .where(
                    native_models.c.registry_id == self.registry_id,
                    native_models.c.name == version.model_name,
                )
                .values(change_seq=seq, updated_at=now)
            )
            record = await self._version_record(conn, version.model_name, int(version.version))
            if record is None:
                raise NotFound(f"{version.uri} does not exist", registry=self.registry_id)
            displaced: list[dict[str, Any]] = []
            if stage is Stage.PRODUCTION:
                displaced = await self._production_records(conn, version.model_name, int(version.version))
            demotions = [self._restaged(r, Stage.ARCHIVED, now) for r in displaced]
            for demotion in demotions:
                await self._write_stage(conn, demotion, now)
            updated = self._restaged(record, stage, now)
            await self._write_stage(conn, updated, now)
            if context.demoted is not None:
                for demotion in demotions:
                    await context.demoted(conn, demotion)
            if context.within is not None:
                await context.within(conn, updated)
        return updated

    async def _production_records(
        self, conn: AsyncConnection, model_name: str, besides: int
    ) -> list[dict[str, Any]]:
        rows = await conn.execute(
            select(native_versions.c.record)
            .where(
                native_versions.c.registry_id == self.registry_id,
                native_versions.c.model_name == model_name,
                native_versions.c.stage == Stage.PRODUCTION.value,
                native_versions.c.version != besides,
            )
            .order_by(native_versions.c.version)
        )
        return list(rows.scalars())

    @staticmethod
    def _restaged(record: dict[str, Any], stage: Stage, now: datetime) -> ModelVersion:
        return dataclasses.replace(
            version_from_dict(record), stage=stage, native_stage=stage.value, updated_at=now
        )

    async def _write_stage(self, conn: AsyncConnection, version: ModelVersion, now: datetime) -> None:
        await conn.execute(
            update(native_versions)
            .where(
                native_versions.c.registry_id == self.registry_id,
                native_versions.c.model_name == version.model_name,
                native_versions.c.version == int(version.version),
            )
            .values(stage=version.stage.value, record=version_to_dict(version), updated_at=now)
        )

    async def count_versions(self, model_name: str) -> int:
        async with self._db.read() as conn:
            return (
                await conn.execute(
                    select(func.count()).where(
                        native_versions.c.registry_id == self.registry_id,
                        native_versions.c.model_name == model_name,
                    )
                )
            ).scalar_one()
