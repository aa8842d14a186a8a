"""Entra ID tokens for the Azure ML adapter, against the fake token endpoint.

modelgate's own flow (authlib's client-credentials grant): a wrong secret and a
rotated workload-identity token file (caching, refreshing and the 401 retry,
shared with Vertex, are tested once for both in ``test_token_auth.py``).
Microsoft's flow: azure-identity's ``ClientSecretCredential`` and
``WorkloadIdentityCredential`` run against the same endpoint (over TLS, as MSAL
insists), so the fake answers what the real library asks.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.azureml import AzureMLRegistry, load_settings
from adapters.azureml.auth import EntraClientCredentialsAuth
from gateway.config import RegistrySettings
from tests.servers.azureml import (
    CLIENT_ID,
    RESOURCE_GROUP,
    SUBSCRIPTION_ID,
    TENANT_ID,
    WORKSPACE,
    AzureMLServer,
)

REGISTRY = "azure-risk"
ARM_SCOPE = "https://management.azure.com/.default"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(server: AzureMLServer, clock: Clock | None = None, **options: Any) -> AzureMLRegistry:
    registry = RegistrySettings(
        id=REGISTRY, kind="azureml", options=server.options(**options), key="registries[1]"
    )
    settings = load_settings(registry, server.environ)
    auth = EntraClientCredentialsAuth(
        REGISTRY, settings.credential, settings.token_url, settings.token_scope, clock=clock or Clock()
    )
    return AzureMLRegistry(REGISTRY, settings, auth=auth)


def statuses(server: AzureMLServer, since: int) -> list[int]:
    return server.fake.statuses[since:]


async def test_a_wrong_secret_is_an_auth_error(azureml_fake: AzureMLServer) -> None:
    registry = RegistrySettings(
        id=REGISTRY, kind="azureml", options=azureml_fake.options(), key="registries[1]"
    )
    adapter = AzureMLRegistry(REGISTRY, load_settings(registry, {"AZURE_TEST_SECRET": "not-it"}))
    try:
        health = await adapter.health()
        assert not health.ok and "AADSTS7000215" in (health.detail or "")
    finally:
        await adapter.aclose()


async def test_workload_identity_reads_the_rotated_token_file(
    azureml_fake: AzureMLServer, tmp_path: Path
) -> None:
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text(azureml_fake.federated_token_file.read_text())
    adapter = make(
        azureml_fake,
        client_id=azureml_fake.federated_client_id,
        client_secret_env=None,
        federated_token_file=str(token_file),
    )
    try:
        assert (await adapter.health()).ok
        rotated = "eyJhbGciOiJSUzI1NiJ9.rotated.sig"
        token_file.write_text(rotated + "\n")  # the kubelet writes the next projected token
        azureml_fake.fake.clients[azureml_fake.federated_client_id].assertion = rotated
        azureml_fake.fake.revoke_tokens()
        assert (await adapter.health()).ok  # the refresh presented the new assertion
    finally:
        azureml_fake.fake.clients[
            azureml_fake.federated_client_id
        ].assertion = azureml_fake.federated_token_file.read_text()
        await adapter.aclose()


# --- Microsoft's client against the same endpoint -------------------------------


async def _list_with(server: AzureMLServer, token: str) -> int:
    path = (
        f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{RESOURCE_GROUP}"
        f"/providers/Microsoft.MachineLearningServices/workspaces/{WORKSPACE}/models"
    )
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        response = await client.get(
            path, params={"api-version": "2025-12-01"}, headers={"Authorization": f"Bearer {token}"}
        )
    return response.status_code


async def test_azure_identity_client_secret_flow_runs_against_the_fake(azureml_fake: AzureMLServer) -> None:
    from azure.identity import ClientSecretCredential

    credential = ClientSecretCredential(
        TENANT_ID,
        CLIENT_ID,
        azureml_fake.client_secret,
        authority=azureml_fake.tls_url,
        disable_instance_discovery=True,
        connection_verify=str(azureml_fake.ca_file),
    )
    issued = azureml_fake.fake.tokens_issued
    token = await asyncio.to_thread(credential.get_token, ARM_SCOPE)
    assert azureml_fake.fake.tokens_issued == issued + 1
    assert token.expires_on > 0 and await _list_with(azureml_fake, token.token) == 200
    again = await asyncio.to_thread(credential.get_token, ARM_SCOPE)
    assert again.token == token.token and azureml_fake.fake.tokens_issued == issued + 1  # MSAL's cache


async def test_azure_identity_refusals_parse_as_entra_errors(azureml_fake: AzureMLServer) -> None:
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import ClientSecretCredential

    credential = ClientSecretCredential(
        TENANT_ID,
        CLIENT_ID,
        "wrong",
        authority=azureml_fake.tls_url,
        disable_instance_discovery=True,
        connection_verify=str(azureml_fake.ca_file),
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        await asyncio.to_thread(credential.get_token, ARM_SCOPE)


async def test_azure_identity_workload_identity_flow_runs_against_the_fake(
    azureml_fake: AzureMLServer,
) -> None:
    from azure.identity import WorkloadIdentityCredential

    credential = WorkloadIdentityCredential(
        tenant_id=TENANT_ID,
        client_id=azureml_fake.federated_client_id,
        token_file_path=str(azureml_fake.federated_token_file),
        authority=azureml_fake.tls_url,
        disable_instance_discovery=True,
        connection_verify=str(azureml_fake.ca_file),
    )
    token = await asyncio.to_thread(credential.get_token, ARM_SCOPE)
    assert await _list_with(azureml_fake, token.token) == 200
