"""The in-memory fake (``tests/fakes/memory_registry.py``) passes the same adapter
contract as the real adapters: the layers tested against it see an adapter that
behaves like one (paging, the bulk lister, stage writes, record lineage)."""

from __future__ import annotations

import pytest

from gateway.domain import DatasetRef, ModelVersion, Stage
from tests.adapters.contract import (
    HYPERPARAMETERS,
    LINEAGE,
    METRICS,
    MODEL_DESCRIPTION,
    MODEL_TAGS,
    VERSION_DESCRIPTION,
    VERSION_TAGS,
    AdapterContract,
    SeedModel,
)
from tests.fakes.memory_registry import EPOCH, MemoryRegistry

PAGE_SIZE = 3


class MemorySubject:
    capabilities = {
        VERSION_DESCRIPTION,
        VERSION_TAGS,
        METRICS,
        HYPERPARAMETERS,
        MODEL_TAGS,
        MODEL_DESCRIPTION,
        LINEAGE,
    }
    writable_stages = {Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED}
    page_size = PAGE_SIZE

    def __init__(self) -> None:
        self.adapter = MemoryRegistry("memory-contract", page_size=PAGE_SIZE)

    async def seed(self, models: list[SeedModel]) -> None:
        registry = self.adapter
        for m in models:
            registry.put(m.name, versions=0, description=m.description, tags=m.tags)
            for number, v in enumerate(m.versions, start=1):
                registry.versions[m.name][str(number)] = ModelVersion(
                    registry.registry_id,
                    m.name,
                    str(number),
                    description=v.description,
                    artifact_uri=v.artifact_uri,
                    tags=v.tags,
                    metrics=v.metrics,
                    hyperparameters=v.params,
                    training_data=tuple(DatasetRef(uri, role="training") for uri in v.datasets),
                    created_at=EPOCH,
                )

    async def touch(self, model_name: str) -> None:
        self.adapter.put(model_name, versions=1)


class TestMemoryContract(AdapterContract):
    @pytest.fixture
    def subject(self) -> MemorySubject:
        return MemorySubject()
