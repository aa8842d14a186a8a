"""The native registry: the adapter contract, on SQLite and PostgreSQL, plus
what only the native registry does (atomic numbering, validation)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters.native import NativeRegistry
from adapters.native.registry import PAGE_SIZE
from adapters.protocol import PromotionContext, RegistrationRequest
from gateway.domain import DatasetRef, ModelCard, ModelVersion, Stage
from gateway.errors import BadInput
from gateway.store.database import Database
from tests.adapters.contract import (
    HYPERPARAMETERS,
    LINEAGE,
    METRICS,
    VERSION_DESCRIPTION,
    VERSION_TAGS,
    AdapterContract,
    SeedModel,
)


def _request(name: str, **fields: object) -> RegistrationRequest:
    version = ModelVersion(registry_id="", model_name=name, version="0", **fields)  # type: ignore[arg-type]
    return RegistrationRequest(model_name=name, version=version, actor="tester")


class NativeSubject:
    capabilities = {VERSION_DESCRIPTION, VERSION_TAGS, METRICS, HYPERPARAMETERS, LINEAGE}
    writable_stages = {Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED}
    page_size = PAGE_SIZE

    def __init__(self, adapter: NativeRegistry):
        self.adapter = adapter

    async def seed(self, models: list[SeedModel]) -> None:
        for m in models:
            for v in m.versions:
                await self.adapter.register_version(
                    _request(
                        m.name,
                        artifact_uri=v.artifact_uri,
                        description=v.description,
                        tags=v.tags,
                        metrics=v.metrics,
                        hyperparameters=v.params,
                        training_data=tuple(DatasetRef(uri, role="training") for uri in v.datasets),
                    )
                )

    async def touch(self, model_name: str) -> None:
        await self.adapter.register_version(_request(model_name, artifact_uri="s3://b/touched"))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    await db.migrate()
    yield db
    await db.aclose()


@pytest.fixture
def native(database: Database) -> NativeRegistry:
    return NativeRegistry("platform", database, team="platform")


class TestNativeContract(AdapterContract):
    @pytest.fixture
    def subject(self, native: NativeRegistry) -> NativeSubject:
        return NativeSubject(native)


async def test_concurrent_registrations_get_consecutive_numbers(native: NativeRegistry) -> None:
    """200 registrations at once into one model: versions 1..200, no gap, no duplicate."""
    results = await asyncio.gather(
        *(native.register_version(_request("busy-model", artifact_uri=f"s3://b/{i}")) for i in range(200))
    )
    numbers = sorted(int(v.version) for v in results)
    assert numbers == list(range(1, 201))
    stored = sorted(int(v.version) for v in (await native.list_versions("busy-model")).items)
    page2 = await native.list_versions("busy-model", (await native.list_versions("busy-model")).next_token)
    stored += [int(v.version) for v in page2.items]
    assert sorted(stored) == list(range(1, 201))
    assert await native.count_versions("busy-model") == 200


async def test_concurrent_registrations_from_two_connections_pools(database_url: str) -> None:
    """Two Database objects (as two gateway processes would have) still never collide."""
    first, second = Database(database_url), Database(database_url)
    await first.migrate()
    try:
        a, b = NativeRegistry("r", first), NativeRegistry("r", second)
        results = await asyncio.gather(
            *(
                (a if i % 2 else b).register_version(_request("shared", artifact_uri=f"s3://b/{i}"))
                for i in range(40)
            )
        )
        assert sorted(int(v.version) for v in results) == list(range(1, 41))
    finally:
        await first.aclose()
        await second.aclose()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"semver": "1.2"}, "not a semantic version"),
        ({"semver": "v1.2.3"}, "not a semantic version"),
        ({"artifact_uri": ""}, "artifactUri is required"),
    ],
)
async def test_registration_rejects_bad_input(native: NativeRegistry, fields: dict, message: str) -> None:
    base = {"artifact_uri": "s3://b/m", **fields}
    with pytest.raises(BadInput, match=message):
        await native.register_version(_request("good-name", **base))
    assert await native.get_model("good-name") is None  # nothing half-written


@pytest.mark.parametrize("name", ["has/slash", "-leading-dash", "", "x" * 300, "spaces are bad"])
async def test_registration_rejects_bad_model_names(native: NativeRegistry, name: str) -> None:
    with pytest.raises(BadInput, match="model name"):
        await native.register_version(_request(name, artifact_uri="s3://b/m"))


async def test_full_record_round_trips(native: NativeRegistry) -> None:
    card = ModelCard(summary="s", intended_use="u", limitations="l", bias_assessment="b")
    registered = await native.register_version(
        _request(
            "card-model", artifact_uri="s3://b/m", semver="2.0.0-rc.1", model_card=card, parent="mg://x/y/1"
        )
    )
    read = await native.get_version("card-model", registered.version)
    assert read == registered
    assert read.model_card == card
    assert read.semver == "2.0.0-rc.1"
    assert read.stage is Stage.DRAFT
    assert read.created_by == "tester"


async def test_stage_change_is_a_change(native: NativeRegistry) -> None:
    v = await native.register_version(_request("staged", artifact_uri="s3://b/m"))
    cursor = (await native.changes_since(None)).cursor
    assert (await native.changes_since(cursor)).changed == []
    await native.set_stage(v, Stage.PRODUCTION, PromotionContext("tester"))
    assert (await native.changes_since(cursor)).changed == ["staged"]
