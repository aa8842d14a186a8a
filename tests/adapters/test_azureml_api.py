"""``adapters.azureml.api``: the ARM client on its own, against the Azure ML fake
(ARM envelopes, ``nextLink`` paging, Entra tokens): lookups, paging that stays on
the configured endpoint, and ARM's errors."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from adapters.azureml import load_settings
from adapters.azureml.api import AzureMLApi, error_translator
from adapters.toolkit.retry import RetryPolicy
from gateway.config import RegistrySettings
from gateway.errors import RegistryError, RegistryNotFound
from tests.servers.azureml import AzureMLServer

FAST_RETRY = RetryPolicy(attempts=2, deadline_seconds=5.0, initial_wait=0.01, max_wait=0.05)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
async def api(azureml_fake: AzureMLServer) -> AsyncIterator[AzureMLApi]:
    registry = RegistrySettings(id="aml", kind="azureml", options=azureml_fake.options(page_size=2))
    client = AzureMLApi("aml", load_settings(registry, azureml_fake.environ), retry=FAST_RETRY)
    yield client
    await client.aclose()


async def seed(server: AzureMLServer, versions: int) -> str:
    name = f"amlapi-{uuid.uuid4().hex[:8]}"
    for v in range(1, versions + 1):
        await asyncio.to_thread(server.create_workspace_version, name, str(v))
    return name


async def test_a_container_and_its_versions_are_read_and_absent_ones_are_none(
    api: AzureMLApi, azureml_fake: AzureMLServer
) -> None:
    name = await seed(azureml_fake, 1)
    container = await api.get_container(name)
    assert container is not None and container["name"] == name
    version = await api.get_version(name, "1")
    assert version is not None and version["properties"]["modelUri"].endswith(f"{name}/1/model.pkl")
    assert await api.get_container(f"{name}-absent") is None
    assert await api.get_version(name, "99") is None
    absent = await api.list_versions(f"{name}-absent")  # ARM lists none, or answers 404: None
    assert absent is None or absent["value"] == []


async def test_versions_page_through_next_links(api: AzureMLApi, azureml_fake: AzureMLServer) -> None:
    name = await seed(azureml_fake, 3)
    first = await api.list_versions(name)
    assert first is not None and len(first["value"]) == 2 and first["nextLink"]
    second = await api.list_versions(name, first["nextLink"])
    assert second is not None
    assert [v["name"] for v in first["value"] + second["value"]] == ["1", "2", "3"]


async def test_a_next_link_elsewhere_is_refused(api: AzureMLApi) -> None:
    for link in (
        "https://evil.example.com/subscriptions/x/models?$skip=2",
        f"{api.settings.endpoint.rstrip('/')}/subscriptions/other/models?$skip=2",
    ):
        with pytest.raises(RegistryError, match="refusing a nextLink"):
            await api.list_containers(link)


def test_arm_errors_name_the_code_and_message() -> None:
    translate = error_translator("aml")
    request = httpx.Request("GET", "https://management.azure.com/x")
    body = {"error": {"code": "ResourceNotFound", "message": "The model churn was not found."}}
    error = translate(httpx.Response(404, json=body, request=request))
    assert isinstance(error, RegistryNotFound) and "ResourceNotFound" in error.message
    assert "The model churn was not found." in error.message
    opaque = translate(httpx.Response(502, text="<html>bad gateway</html>", request=request))
    assert isinstance(opaque, RegistryError) and "502" in opaque.message
