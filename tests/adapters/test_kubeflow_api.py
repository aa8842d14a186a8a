"""``adapters.kubeflow.api``: the Kubeflow Model Registry client on its own, against
the fake that checks every request and answer against the published OpenAPI spec:
API generation detection, lookups, paging and writes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from adapters.kubeflow import load_settings
from adapters.kubeflow.api import KubeflowApi
from adapters.toolkit.retry import RetryPolicy
from gateway.config import RegistrySettings
from gateway.errors import RegistryAuthError
from tests.servers.kubeflow import KubeflowServer

FAST_RETRY = RetryPolicy(attempts=2, deadline_seconds=5.0, initial_wait=0.01, max_wait=0.05)


def api_for(server: KubeflowServer, environ: dict[str, str] | None = None, **options: object) -> KubeflowApi:
    registry = RegistrySettings(id="kf", kind="kubeflow", options=server.options(**options))
    return KubeflowApi(
        "kf",
        load_settings(registry, environ=server.environ if environ is None else environ),
        retry=FAST_RETRY,
    )


@pytest.fixture
async def api(kubeflow_fake: KubeflowServer) -> AsyncIterator[KubeflowApi]:
    client = api_for(kubeflow_fake, page_size=2)
    yield client
    await client.aclose()


async def register(server: KubeflowServer, count: int) -> list[str]:
    stem = f"kfapi-{uuid.uuid4().hex[:6]}"
    names = [f"{stem}-{i}" for i in range(count)]
    for name in names:
        await asyncio.to_thread(
            server.client.register_model,
            name,
            f"s3://m/{name}",
            model_format_name="onnx",
            model_format_version="1",
            version="1",
        )
    return names


async def test_the_generation_is_detected_once_newest_first(kubeflow_fake: KubeflowServer) -> None:
    newest = api_for(kubeflow_fake)
    assert await newest.api_version() == "v1"
    kubeflow_fake.fake.generations = {"v1alpha3"}  # an older server
    older = api_for(kubeflow_fake)
    try:
        assert await older.api_version() == "v1alpha3"
        assert await newest.api_version() == "v1"  # detected once, not asked again
        pinned = api_for(kubeflow_fake, api_version="v1alpha3")
        assert await pinned.api_version() == "v1alpha3"
    finally:
        await asyncio.gather(newest.aclose(), older.aclose())


async def test_a_lookup_of_an_absent_model_is_none_and_a_present_one_its_record(
    api: KubeflowApi, kubeflow_fake: KubeflowServer
) -> None:
    (name,) = await register(kubeflow_fake, 1)
    found = await api.find("registered_model", {"name": name})
    assert found is not None and found["name"] == name
    assert await api.find("registered_model", {"name": f"{name}-absent"}) is None


async def test_every_follows_the_page_tokens(api: KubeflowApi, kubeflow_fake: KubeflowServer) -> None:
    names = await register(kubeflow_fake, 5)
    first = await api.page("registered_models")
    assert len(first["items"]) == 2 and first["nextPageToken"]
    listed = [m["name"] async for m in api.every("registered_models")]
    assert set(names) <= set(listed) and len(listed) == len(set(listed))


async def test_a_write_patches_the_record(api: KubeflowApi, kubeflow_fake: KubeflowServer) -> None:
    (name,) = await register(kubeflow_fake, 1)
    model = await api.find("registered_model", {"name": name})
    assert model is not None
    patched = await api.patch(f"registered_models/{model['id']}", {"description": "churn scorer"})
    assert patched["description"] == "churn scorer"
    assert (await api.get(f"registered_models/{model['id']}"))["description"] == "churn scorer"


async def test_a_refused_token_is_an_auth_error(kubeflow_fake: KubeflowServer) -> None:
    stranger = api_for(kubeflow_fake, environ={"KF_TOKEN": "not-the-token"})
    try:
        with pytest.raises(RegistryAuthError):
            await stranger.page("registered_models")
    finally:
        await stranger.aclose()
