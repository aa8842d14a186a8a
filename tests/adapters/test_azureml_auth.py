"""Entra ID tokens for the Azure ML adapter, against the fake token endpoint.

modelgate's own flow (authlib's client-credentials grant): tokens cached,
refreshed before they expire (an injected clock, no sleeping), refreshed once on
a 401, and credentials Entra ID refuses reported as "cannot authenticate".
Microsoft's flow: azure-identity's ``ClientSecretCredential`` and
``WorkloadIdentityCredential`` run against the same endpoint (over TLS, as MSAL
insists), so the fake answers what the real library asks.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.azureml import AzureMLRegistry, load_settings
from adapters.azureml.auth import REFRESH_MARGIN_SECONDS, EntraClientCredentialsAuth
from gateway.config import RegistrySettings
from gateway.errors import RegistryAuthError, RegistryUnavailable
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


async def test_the_token_is_cached_and_refreshed_before_it_expires(azureml_fake: AzureMLServer) -> None:
    clock = Clock()
    azureml_fake.fake.token_lifetime = 3600
    adapter = make(azureml_fake, clock)
    try:
        issued = azureml_fake.fake.tokens_issued
        await adapter.list_models()
        await adapter.list_models()
        assert azureml_fake.fake.tokens_issued == issued + 1 and adapter.auth.fetches == 1
        clock.now += 3600 - REFRESH_MARGIN_SECONDS - 1  # still inside the safe window
        await adapter.list_models()
        assert adapter.auth.fetches == 1
        clock.now += 2  # now within the margin: refreshed before ARM could refuse it
        mark = len(azureml_fake.fake.statuses)
        await adapter.list_models()
        assert adapter.auth.fetches == 2 and statuses(azureml_fake, mark) == [200]
    finally:
        await adapter.aclose()


async def test_short_lived_tokens_refresh_at_a_tenth_of_their_life(azureml_fake: AzureMLServer) -> None:
    clock = Clock()
    azureml_fake.fake.token_lifetime = 100
    adapter = make(azureml_fake, clock)
    try:
        await adapter.list_models()
        clock.now += 89
        await adapter.list_models()
        assert adapter.auth.fetches == 1
        clock.now += 2
        await adapter.list_models()
        assert adapter.auth.fetches == 2
    finally:
        await adapter.aclose()


async def test_a_401_is_followed_by_one_refreshed_token(azureml_fake: AzureMLServer) -> None:
    adapter = make(azureml_fake)
    try:
        await adapter.list_models()
        issued = azureml_fake.fake.tokens_issued
        azureml_fake.fake.revoke_tokens()
        mark = len(azureml_fake.fake.statuses)
        await adapter.list_models()
        assert statuses(azureml_fake, mark) == [401, 200]
        assert azureml_fake.fake.tokens_issued == issued + 1
    finally:
        await adapter.aclose()


async def test_a_token_refused_twice_is_an_auth_error(azureml_fake: AzureMLServer) -> None:
    adapter = make(azureml_fake)
    try:
        azureml_fake.fake.accept_tokens = False
        mark = len(azureml_fake.fake.statuses)
        with pytest.raises(RegistryAuthError) as raised:
            await adapter.list_models()
        assert statuses(azureml_fake, mark) == [401, 401]  # one fresh token, one resend, no more
        assert raised.value.message.startswith(f"registry {REGISTRY}: cannot authenticate: ")
        assert raised.value.extensions["registryCode"] == "InvalidAuthenticationToken"
    finally:
        await adapter.aclose()


async def test_an_expired_secret_is_reported_not_raised(azureml_fake: AzureMLServer) -> None:
    adapter = make(azureml_fake)
    try:
        assert (await adapter.health()).ok
        azureml_fake.fake.disable_client(CLIENT_ID)
        health = await adapter.health()
        assert not health.ok and health.detail is not None
        assert health.detail.startswith(f"registry {REGISTRY}: cannot authenticate: ")
        assert "invalid_client" in health.detail and "AADSTS7000222" in health.detail
        with pytest.raises(RegistryAuthError) as raised:
            await adapter.list_models()
        assert raised.value.code == "REGISTRY_AUTH_FAILED" and raised.value.registry_id == REGISTRY
        azureml_fake.fake.clients[CLIENT_ID].disabled = False  # a new secret: the next call recovers
        assert (await adapter.health()).ok
    finally:
        await adapter.aclose()


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


async def test_an_unreachable_authority_is_unavailable(azureml_fake: AzureMLServer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = make(azureml_fake, authority=f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(RegistryUnavailable) as raised:
            await adapter.list_models()
        assert "unreachable" in raised.value.message and "token endpoint" in raised.value.message
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
