"""A registry that is down, hangs or errors never fails a query: its part comes
from the index, and errors[] names it with REGISTRY_UNAVAILABLE."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from gateway.config import RegistrySettings
from gateway.runtime import Gateway
from gateway.server import create_app
from tests.fakes.memory_registry import BatchingRegistry, MemoryFactory, MemoryRegistry
from tests.support import gql, make_settings


def FakeFactory() -> MemoryFactory:
    """Registries with ``batching = true`` read many versions in one call."""
    return MemoryFactory(
        lambda r: BatchingRegistry(r.id) if r.options.get("batching") else MemoryRegistry(r.id)
    )


@pytest.fixture
async def setup(
    database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Gateway, FakeFactory, httpx.AsyncClient]]:
    from adapters.base import load_factories

    factory = FakeFactory()
    settings = make_settings(database_url, tmp_path)
    settings = dataclasses.replace(
        settings,
        registries=(
            *settings.registries,
            RegistrySettings(id="alpha", kind="memory", team="a", key="registries[2]"),
            RegistrySettings(
                id="beta", kind="memory", team="b", options={"batching": True}, key="registries[3]"
            ),
        ),
    )
    gw = await Gateway.open(settings, factories={**load_factories(), "memory": factory})
    gw.live.deadline = 0.5
    for rid in ("alpha", "beta"):
        reg = factory.made[rid]
        for i in range(3):
            reg.put(f"{rid}-model-{i}", versions=2)
    await gw.sync.sync_all(full=True)
    app = create_app(settings, gateway=gw, background_sync=False)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield gw, factory, client
    await gw.aclose()


SEARCH = '{ models(query: "model", first: 50) { totalCount edges { node { uri } } } }'


def codes(body: dict[str, Any]) -> dict[str, str]:
    return {e["extensions"].get("registry", ""): e["extensions"]["code"] for e in body.get("errors", [])}


async def test_healthy_registries_answer_without_errors(setup: Any) -> None:
    _, _, client = setup
    body = await gql(client, SEARCH)
    assert "errors" not in body
    assert body["data"]["models"]["totalCount"] == 6


async def test_a_registry_killed_mid_run_is_served_from_the_index(setup: Any) -> None:
    gw, factory, client = setup
    factory.made["alpha"].failing = True  # killed after the first sync
    await gw.sync.sync_all()
    body = await gql(client, SEARCH)
    assert body["data"]["models"]["totalCount"] == 6  # nothing lost
    assert codes(body) == {"alpha": "REGISTRY_UNAVAILABLE"}
    assert "connection refused" in body["errors"][0]["message"]
    registries = (await gql(client, "{ registries { id healthy lastError } }"))["data"]["registries"]
    alpha = next(r for r in registries if r["id"] == "alpha")
    assert alpha["healthy"] is False and "connection refused" in alpha["lastError"]


async def test_live_reads_fall_back_to_the_index_with_an_error(setup: Any) -> None:
    _gw, factory, client = setup
    q = "query($u: String!) { modelVersion(uri: $u, live: true) { uri version artifactUri } }"
    ok = await gql(client, q, {"u": "mg://beta/beta-model-1/2"})
    assert "errors" not in ok and ok["data"]["modelVersion"]["version"] == "2"
    assert factory.made["beta"].calls["get_versions"] == 1

    factory.made["alpha"].failing = True
    body = await gql(client, q, {"u": "mg://alpha/alpha-model-0/1"})
    assert body["data"]["modelVersion"]["artifactUri"] == "s3://mem/alpha-model-0/1"
    assert codes(body) == {"alpha": "REGISTRY_UNAVAILABLE"}


async def test_a_hanging_registry_answers_within_the_deadline(setup: Any) -> None:
    _, factory, client = setup
    factory.made["alpha"].hang_seconds = 30
    started = time.perf_counter()
    body = await gql(client, 'query { modelVersion(uri: "mg://alpha/alpha-model-2/1", live: true) { uri } }')
    assert time.perf_counter() - started < 15  # far short of the 30 s hang
    assert body["data"]["modelVersion"]["uri"] == "mg://alpha/alpha-model-2/1"
    assert codes(body) == {"alpha": "REGISTRY_UNAVAILABLE"}
    assert "no answer within" in body["errors"][0]["message"]


async def test_partial_records_are_completed_live_in_one_call_per_registry(setup: Any) -> None:
    gw, factory, client = setup
    beta = factory.made["beta"]
    # The registry's listing omits details; its get_versions has them.
    for _name, versions in beta.versions.items():
        for key, v in versions.items():
            versions[key] = dataclasses.replace(v, partial=True)
    await gw.sync.sync_registry("beta", full=True)
    for versions in beta.versions.values():
        for key, v in versions.items():
            versions[key] = dataclasses.replace(v, partial=False, metrics={"auc": 0.9})
    beta.calls.clear()
    body = await gql(
        client,
        '{ versions(filter: {registries: ["beta"]}, first: 50) { edges { node { metrics { key value } } } } }',
    )
    assert "errors" not in body
    assert all(
        e["node"]["metrics"] == [{"key": "auc", "value": 0.9}] for e in body["data"]["versions"]["edges"]
    )
    assert beta.calls["get_versions"] == 1 and beta.calls["get_version"] == 0
