"""Failure paths of the MLflow adapter. MLflow cannot be made to fail on cue, so
these use respx (a scripted httpx transport) with MLflow's real error bodies;
the last tests use a port nothing listens on and a whole gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import respx
from asgi_lifespan import LifespanManager

from adapters.base import RetryPolicy
from adapters.mlflow import MlflowAdapter, MlflowOptions
from adapters.protocol import PromotionContext
from gateway.domain import ModelVersion, Stage
from gateway.errors import (
    RegistryAuthError,
    RegistryError,
    RegistryForbidden,
    RegistryRejected,
    RegistryUnavailable,
)
from gateway.runtime import Gateway
from gateway.server import create_app
from tests.servers.mlflow import free_port
from tests.support import data_of, gql, make_settings

URL = "http://mlflow.test:5000"
API = f"{URL}/api/2.0/mlflow"
FAST_RETRY = RetryPolicy(attempts=4, deadline_seconds=5.0, initial_wait=0.01, max_wait=0.05)
MODEL = {
    "name": "fraud",
    "creation_timestamp": 1_700_000_000_000,
    "last_updated_timestamp": 1_700_000_000_000,
}
VERSION = {
    "name": "fraud",
    "version": "2",
    "creation_timestamp": 1_700_000_000_000,
    "last_updated_timestamp": 1_700_000_000_000,
    "current_stage": "None",
    "source": "s3://b/fraud/2",
    "run_id": "",
    "status": "READY",
}


def mlflow_error(status: int, code: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error_code": code, "message": message})


@pytest.fixture
async def adapter() -> AsyncIterator[MlflowAdapter]:
    a = MlflowAdapter("fraud-mlflow", MlflowOptions(url=URL), retry=FAST_RETRY)
    yield a
    await a.aclose()


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True) as router:
        yield router


async def test_5xx_and_throttling_are_retried_then_succeed(
    adapter: MlflowAdapter, mock: respx.MockRouter
) -> None:
    route = mock.get(f"{API}/registered-models/search").mock(
        side_effect=[
            mlflow_error(503, "TEMPORARILY_UNAVAILABLE", "database is locked"),
            httpx.Response(429, text="slow down"),
            httpx.ConnectError("connection refused"),
            httpx.Response(200, json={"registered_models": [MODEL]}),
        ]
    )
    page = await adapter.list_models()
    assert [m.name for m in page.items] == ["fraud"]
    assert route.call_count == 4


async def test_a_registry_that_keeps_failing_is_unavailable(
    adapter: MlflowAdapter, mock: respx.MockRouter
) -> None:
    route = mock.get(f"{API}/registered-models/search").respond(
        500, json={"error_code": "INTERNAL_ERROR", "message": "boom"}
    )
    with pytest.raises(RegistryUnavailable) as caught:
        await adapter.list_models()
    assert route.call_count == FAST_RETRY.attempts
    assert caught.value.as_extensions() == {
        "code": "REGISTRY_UNAVAILABLE",
        "registry": "fraud-mlflow",
        "registryCode": "INTERNAL_ERROR",
    }
    assert "fraud-mlflow" in caught.value.message and "boom" in caught.value.message


async def test_malformed_json_is_unavailable_not_a_crash(
    adapter: MlflowAdapter, mock: respx.MockRouter
) -> None:
    mock.get(f"{API}/registered-models/get").respond(200, text="<html>proxy login</html>")
    with pytest.raises(RegistryUnavailable, match="not JSON"):
        await adapter.get_model("fraud")


@pytest.mark.parametrize(
    ("status", "code", "error", "gql_code"),
    [
        (400, "INVALID_PARAMETER_VALUE", RegistryRejected, "REGISTRY_REJECTED"),
        (401, "UNAUTHENTICATED", RegistryAuthError, "REGISTRY_AUTH_FAILED"),
        (403, "PERMISSION_DENIED", RegistryForbidden, "REGISTRY_FORBIDDEN"),
    ],
)
async def test_mlflow_errors_become_coded_errors_naming_the_registry(
    adapter: MlflowAdapter,
    mock: respx.MockRouter,
    status: int,
    code: str,
    error: type[RegistryError],
    gql_code: str,
) -> None:
    route = mock.get(f"{API}/registered-models/search").mock(return_value=mlflow_error(status, code, "nope"))
    with pytest.raises(error) as caught:
        await adapter.list_models()
    assert route.call_count == 1  # a 4xx is an answer: retrying will not change it
    extensions = caught.value.as_extensions()
    assert extensions["code"] == gql_code
    assert extensions["registry"] == "fraud-mlflow" and extensions["registryCode"] == code
    assert caught.value.status == status


async def test_not_found_is_none_but_a_foreign_404_is_an_error(
    adapter: MlflowAdapter, mock: respx.MockRouter
) -> None:
    mock.get(f"{API}/registered-models/get").mock(
        side_effect=[
            mlflow_error(404, "RESOURCE_DOES_NOT_EXIST", "Registered Model with name=x not found"),
            httpx.Response(404, text="<h1>Not Found</h1>"),  # e.g. url points at something else
        ]
    )
    assert await adapter.get_model("x") is None
    with pytest.raises(RegistryRejected, match="404"):
        await adapter.get_model("x")


async def test_empty_answers_are_empty_pages(adapter: MlflowAdapter, mock: respx.MockRouter) -> None:
    mock.get(f"{API}/registered-models/search").respond(200, json={})  # MLflow's "no hits"
    mock.get(f"{API}/model-versions/search").respond(200, json={})
    assert (await adapter.list_models()).items == []
    assert (await adapter.list_versions("nothing")).items == []
    assert (await adapter.list_all_versions()).next_token is None


async def test_non_numeric_version_is_none_without_asking(
    adapter: MlflowAdapter, mock: respx.MockRouter
) -> None:
    assert await adapter.get_version("fraud", "latest") is None  # MLflow would answer 400
    assert not mock.calls


async def test_writes_are_sent_once_and_report_what_was_applied(
    adapter: MlflowAdapter, mock: respx.MockRouter
) -> None:
    mock.get(f"{API}/model-versions/get").respond(200, json={"model_version": VERSION})
    mock.get(f"{API}/registered-models/get").respond(
        200, json={"registered_model": {**MODEL, "aliases": [{"alias": "staging", "version": "2"}]}}
    )
    set_alias = mock.post(f"{API}/registered-models/alias").respond(200, json={})
    drop_alias = mock.delete(f"{API}/registered-models/alias").mock(
        return_value=mlflow_error(503, "TEMPORARILY_UNAVAILABLE", "try later")
    )
    version = ModelVersion(registry_id="fraud-mlflow", model_name="fraud", version="2")
    with pytest.raises(RegistryUnavailable) as caught:
        await adapter.set_stage(version, Stage.PRODUCTION, PromotionContext("alice"))
    assert set_alias.call_count == 1 and drop_alias.call_count == 1  # never retried blindly
    assert caught.value.extensions["applied"] == ["alias production -> 2"]


async def test_a_write_that_times_out_is_not_resent(adapter: MlflowAdapter, mock: respx.MockRouter) -> None:
    mock.get(f"{API}/model-versions/get").respond(200, json={"model_version": VERSION})
    mock.get(f"{API}/registered-models/get").respond(200, json={"registered_model": MODEL})
    write = mock.post(f"{API}/registered-models/alias").mock(side_effect=httpx.ReadTimeout("slow"))
    version = ModelVersion(registry_id="fraud-mlflow", model_name="fraud", version="2")
    with pytest.raises(RegistryUnavailable, match="timed out"):
        await adapter.set_stage(version, Stage.STAGING, PromotionContext("alice"))
    assert write.call_count == 1  # MLflow may have applied it: report, do not repeat


async def test_unreachable_mlflow_is_unhealthy_quickly() -> None:
    dead = MlflowAdapter(
        "dead", MlflowOptions(url=f"http://127.0.0.1:{free_port()}", timeout_seconds=2), retry=FAST_RETRY
    )
    try:
        health = await dead.health()
        assert not health.ok and health.detail and "unreachable" in health.detail
        with pytest.raises(RegistryUnavailable):
            await dead.list_models()
    finally:
        await dead.aclose()


async def test_unreachable_mlflow_makes_the_registry_unhealthy_not_the_gateway(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path}/gw.db",
        tmp_path,
        registries=[
            {"id": "platform", "kind": "native"},
            {
                "id": "lab-mlflow",
                "kind": "mlflow",
                "url": f"http://127.0.0.1:{free_port()}",
                "timeout_seconds": 1,
            },
        ],
    )
    gw = await Gateway.open(settings)
    try:
        result = await gw.sync.sync_registry("lab-mlflow", full=True)
        assert result.error and "lab-mlflow" in result.error
        assert (await gw.sync.sync_registry("platform", full=True)).error is None
        app = create_app(settings, gateway=gw, background_sync=False)
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client,
        ):
            body = await gql(client, "{ registries { id healthy lastError } }")
            registries = {r["id"]: r for r in data_of(body)["registries"]}
            assert registries["lab-mlflow"]["healthy"] is False
            assert "unreachable" in registries["lab-mlflow"]["lastError"]
            assert registries["platform"]["healthy"] is True
            assert (await client.get("/readyz")).status_code == 200
    finally:
        await gw.aclose()
