"""A lineage store over a real database (SQLite and PostgreSQL via ``database_url``),
fed through the catalogue index exactly as sync feeds it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from gateway.catalogue.index import CatalogueIndex
from gateway.config import RegistrySettings
from gateway.domain import DatasetRef, Model, ModelVersion
from gateway.lineage.harvest import LineageHarvester
from gateway.lineage.uris import ReferenceResolver
from gateway.store.database import Database

REGISTRIES = (
    RegistrySettings(id="platform", kind="native"),
    RegistrySettings(id="research", kind="native"),
    RegistrySettings(id="fraud-mlflow", kind="mlflow", options={"url": "http://mlflow.invalid"}),
    RegistrySettings(id="ads-sm", kind="sagemaker", options={"region": "us-east-1"}),
    RegistrySettings(id="vision", kind="vertex", options={"project": "acme-ml", "location": "us-central1"}),
)


def version(registry: str, model: str, number: str = "1", **fields: Any) -> ModelVersion:
    data = fields.pop("data", ())
    return ModelVersion(
        registry,
        model,
        number,
        training_data=tuple(d if isinstance(d, DatasetRef) else DatasetRef(d, role="training") for d in data),
        **fields,
    )


@dataclass
class LineageStore:
    db: Database
    index: CatalogueIndex
    harvester: LineageHarvester

    async def put(self, *versions: ModelVersion, model_tags: dict[str, str] | None = None) -> None:
        """Index these versions, grouped by model (each model's versions replaced)."""
        by_model: dict[tuple[str, str], list[ModelVersion]] = {}
        for v in versions:
            by_model.setdefault((v.registry_id, v.model_name), []).append(v)
        await self.index.replace_models(
            [(Model(r, m, tags=model_tags or {}), vs) for (r, m), vs in by_model.items()]
        )

    async def put_model(self, registry: str, model: str, versions: Sequence[ModelVersion]) -> None:
        await self.index.replace_model(Model(registry, model), versions)


@pytest.fixture
async def lineage_store(database_url: str) -> AsyncIterator[LineageStore]:
    db = Database(database_url)
    await db.migrate()
    index = CatalogueIndex(db)
    harvester = LineageHarvester(ReferenceResolver(REGISTRIES))
    index.listeners.append(harvester)
    try:
        yield LineageStore(db, index, harvester)
    finally:
        await db.aclose()
