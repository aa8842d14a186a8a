"""``live: true`` is live, against the real MLflow server: it reads the version from
MLflow now, not the cached answer of a moment ago, and leaves the fresh answer in
the cache; without ``live`` the index's copy is served."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from gateway.runtime import Gateway
from gateway.server import create_app
from tests.servers.mlflow import MlflowTeam
from tests.support import data_of, gql, make_settings

pytest.importorskip("mlflow")

REGISTRY = "live-mlflow"
QUERY = "query($u: String!, $live: Boolean) { modelVersion(uri: $u, live: $live) { description } }"


@pytest.fixture
async def served(
    mlflow_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient, str, str]]:
    name = f"live-{uuid.uuid4().hex[:8]}"
    team = MlflowTeam(mlflow_url)
    team.client.create_registered_model(name)
    team.client.create_model_version(name, f"s3://b/{name}/1", description="first words")
    settings = make_settings(
        f"sqlite:///{tmp_path}/gw.db",
        tmp_path,
        # The default cache TTL (30 s) is far longer than this test: a cached answer would show.
        registries=[{"id": REGISTRY, "kind": "mlflow", "team": "t", "url": mlflow_url}],
    )
    gw = await Gateway.open(settings)
    app = create_app(settings, gateway=gw, background_sync=False)
    try:
        assert await gw.sync.refresh_model(REGISTRY, name)
        await gw.index.record_sync(REGISTRY, healthy=True, synced=True)  # the shared server: not a full sync
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client,
        ):
            yield gw, client, name, f"mg://{REGISTRY}/{name}/1"
    finally:
        await gw.aclose()


async def test_live_reads_mlflow_now_and_refreshes_the_cache(
    served: tuple[Gateway, httpx.AsyncClient, str, str], mlflow_url: str
) -> None:
    gw, client, name, uri = served
    read = await gql(client, QUERY, {"u": uri, "live": True})
    assert data_of(read)["modelVersion"]["description"] == "first words"

    MlflowTeam(mlflow_url).client.update_model_version(name, "1", description="second words")

    # Within the cache's TTL: a cached read would still say "first words".
    read = await gql(client, QUERY, {"u": uri, "live": True})
    assert data_of(read)["modelVersion"]["description"] == "second words"
    cached = await gw.cache.backend.get(f"version:{uri}")
    assert cached is not None and cached.value["description"] == "second words"
    # Without live, the index's copy (synced before the edit) answers.
    read = await gql(client, QUERY, {"u": uri})
    assert data_of(read)["modelVersion"]["description"] == "first words"


async def test_live_read_of_a_version_the_index_lacks(
    served: tuple[Gateway, httpx.AsyncClient, str, str], mlflow_url: str
) -> None:
    _, client, name, _ = served
    MlflowTeam(mlflow_url).client.create_model_version(name, f"s3://b/{name}/2", description="brand new")
    uri = f"mg://{REGISTRY}/{name}/2"
    assert data_of(await gql(client, QUERY, {"u": uri}))["modelVersion"] is None  # not indexed yet
    read = await gql(client, QUERY, {"u": uri, "live": True})
    assert data_of(read)["modelVersion"]["description"] == "brand new"
