"""A registry answer that is not the documented shape is an error, never an empty
listing, and no answer is read past ``max_response_bytes``.

Each adapter lists against a loopback server that answers every request with the
same body: a JSON array, a string, the listing's key holding an object instead of a
list. Where the registry documents that it omits an empty listing (MLflow's and
Google's ``{}``), ``{}`` is an empty page; where it always sends the key
(Kubeflow's ``items``), ``{}`` is an error too. The size cap is checked by what
the server managed to send, not by time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from adapters.azureml import load_settings as azureml_settings
from adapters.azureml.registry import AzureMLRegistry
from adapters.base import DEFAULT_MAX_RESPONSE_BYTES, create_adapter, load_factories
from adapters.kubeflow import load_settings as kubeflow_settings
from adapters.kubeflow.registry import KubeflowRegistry
from adapters.mlflow import MlflowAdapter
from adapters.mlflow.options import parse_options as mlflow_options
from adapters.protocol import RegistryAdapter
from adapters.unity_catalog import load_settings as unity_settings
from adapters.unity_catalog.registry import UnityCatalogRegistry
from adapters.vertex import load_settings as vertex_settings
from adapters.vertex.registry import VertexRegistry
from gateway.config import RegistrySettings
from gateway.errors import RegistryUnavailable
from tests.servers.azureml import AzureMLServer
from tests.servers.flaky_mlflow import FlakyMlflow
from tests.servers.vertex import VertexServer

OFF_SHAPE = "not the documented shape"


@pytest.fixture
def server() -> Iterator[FlakyMlflow]:
    with FlakyMlflow(["m"]) as running:
        yield running


def settings(kind: str, **options: Any) -> RegistrySettings:
    return RegistrySettings(id="r", kind=kind, team="t", options=options)


def mlflow(url: str) -> RegistryAdapter:
    return MlflowAdapter("r", mlflow_options(settings("mlflow", url=url)))


def kubeflow(url: str) -> RegistryAdapter:
    options = settings("kubeflow", url=url, token_env="KF", api_version="v1")
    return KubeflowRegistry("r", kubeflow_settings(options, {"KF": "t"}), team="t")


def unity_catalog(url: str) -> RegistryAdapter:
    options = settings("unity_catalog", url=url, catalog="main", schema="s", token_env="UC")
    return UnityCatalogRegistry("r", unity_settings(options, {"UC": "t"}), team="t")


# Each adapter, and the key its model listing carries the models under.
HTTP_ADAPTERS: dict[str, tuple[Callable[[str], RegistryAdapter], str]] = {
    "mlflow": (mlflow, "registered_models"),
    "kubeflow": (kubeflow, "items"),
    "unity_catalog": (unity_catalog, "registered_models"),
}
BODIES = {"array": [], "string": "<html>proxy error</html>", "wrong type": None}


def body(name: str, key: str) -> Any:
    return {key: {"0": {"name": "m"}}} if name == "wrong type" else BODIES[name]


@pytest.mark.parametrize("shape", sorted(BODIES))
@pytest.mark.parametrize("kind", sorted(HTTP_ADAPTERS))
async def test_an_off_shape_listing_is_an_error(server: FlakyMlflow, kind: str, shape: str) -> None:
    make, key = HTTP_ADAPTERS[kind]
    adapter = make(server.url)
    server.answer = body(shape, key)
    try:
        with pytest.raises(RegistryUnavailable, match=OFF_SHAPE) as raised:
            await adapter.list_models()
        assert raised.value.code == "REGISTRY_UNAVAILABLE"
    finally:
        await adapter.aclose()


async def test_an_empty_object_is_empty_only_where_the_registry_omits_empty_lists(
    server: FlakyMlflow,
) -> None:
    server.answer = {}
    quiet = mlflow(server.url)  # MLflow answers a search with no hits with {}
    strict = kubeflow(server.url)  # Kubeflow always sends items, nextPageToken, size
    try:
        assert (await quiet.list_models()).items == []
        with pytest.raises(RegistryUnavailable, match=rf"without 'items': {OFF_SHAPE}"):
            await strict.list_models()
    finally:
        await quiet.aclose()
        await strict.aclose()


@pytest.mark.parametrize("shape", sorted(BODIES))
async def test_vertex_off_shape_listing_is_an_error(
    vertex_fake: VertexServer, server: FlakyMlflow, shape: str
) -> None:
    # The fake issues the token; the API itself is the off-shape server.
    options = settings("vertex", **vertex_fake.options(endpoint=server.url))
    adapter = VertexRegistry("r", vertex_settings(options, {}), team="t")
    server.answer = body(shape, "models")
    try:
        with pytest.raises(RegistryUnavailable, match=OFF_SHAPE):
            await adapter.list_models()
    finally:
        await adapter.aclose()


@pytest.mark.parametrize("shape", sorted(BODIES))
async def test_azureml_off_shape_listing_is_an_error(
    azureml_fake: AzureMLServer, server: FlakyMlflow, shape: str
) -> None:
    options = settings("azureml", **azureml_fake.options(endpoint=server.url))
    adapter = AzureMLRegistry("r", azureml_settings(options, azureml_fake.environ), team="t")
    server.answer = body(shape, "value")
    try:
        with pytest.raises(RegistryUnavailable, match=OFF_SHAPE):
            await adapter.list_models()
    finally:
        await adapter.aclose()


# --- the size cap ------------------------------------------------------------

CHUNK = b" " * 65536
HUGE = 3200  # chunks: 200 MiB, more than any default cap


def test_the_default_cap_is_64_mib() -> None:
    assert settings("mlflow").max_response_bytes == DEFAULT_MAX_RESPONSE_BYTES == 64 * 1024 * 1024


async def test_a_huge_answer_is_not_read_past_the_cap(server: FlakyMlflow, tmp_path: Any) -> None:
    from adapters.protocol import AdapterContext
    from gateway.store.database import Database

    registry = RegistrySettings(
        id="r", kind="mlflow", options={"url": server.url}, max_response_bytes=1024 * 1024
    )
    database = Database(f"sqlite:///{tmp_path}/a.db")
    adapter = create_adapter(registry, load_factories(), AdapterContext(database, tmp_path))
    server.raw_body = (HUGE, CHUNK)
    try:
        with pytest.raises(
            RegistryUnavailable, match=r"more than 1048576 bytes \(max_response_bytes\)"
        ) as raised:
            await adapter.list_models()
        assert not raised.value.retryable  # the same answer would come again
        await asyncio.to_thread(server.finished.wait, 30)
        # The reader hung up near the cap: what reached the socket is the cap plus
        # what the kernel buffers held, far from the 200 MiB the server had to send.
        assert server.bytes_sent < 32 * 1024 * 1024
        assert server.requests == 1  # not retried
    finally:
        await adapter.aclose()
        await database.aclose()


def sagemaker_adapter(server: FlakyMlflow, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from adapters.protocol import AdapterContext
    from gateway.store.database import Database

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    registry = RegistrySettings(
        id="sm",
        kind="sagemaker",
        options={"endpoint_url": server.url, "region": "us-east-1"},
        max_response_bytes=1024 * 1024,
    )
    database = Database(f"sqlite:///{tmp_path}/a.db")
    return create_adapter(registry, load_factories(), AdapterContext(database, tmp_path)), database


async def test_a_sagemaker_listing_without_its_required_list_is_an_error(
    server: FlakyMlflow, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SageMaker's API reference marks ModelPackageGroupSummaryList Required: an
    answer of ``{}`` is off its shape, not an empty registry."""
    adapter, database = sagemaker_adapter(server, tmp_path, monkeypatch)
    server.raw_body = (1, b"{}")
    try:
        with pytest.raises(RegistryUnavailable, match="ModelPackageGroupSummaryList"):
            await adapter.list_models()
    finally:
        await adapter.aclose()
        await database.aclose()


async def test_a_huge_sagemaker_answer_is_not_read_past_the_cap(
    server: FlakyMlflow, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """boto3 reads a whole body before parsing it: the adapter's session streams it
    and stops at the registry's cap, as the httpx adapters do."""
    adapter, database = sagemaker_adapter(server, tmp_path, monkeypatch)
    server.raw_body = (HUGE, CHUNK)
    try:
        with pytest.raises(
            RegistryUnavailable, match=r"more than 1048576 bytes \(max_response_bytes\)"
        ) as raised:
            await adapter.list_models()
        assert not raised.value.retryable
        await asyncio.to_thread(server.finished.wait, 30)
        assert server.bytes_sent < 32 * 1024 * 1024
        assert server.requests == 1
    finally:
        await adapter.aclose()
        await database.aclose()
