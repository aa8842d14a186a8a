"""``adapters.toolkit.auth.RefreshingTokenAuth``, once for every kind that uses it
(Azure ML's Entra ID client credentials, Vertex's Google service account), each
against its own fake token endpoint and API with the real authlib flow: tokens
cached, refreshed before they expire (an injected clock, no sleeping), refreshed
once on a 401, shared by concurrent requests, and credentials the token endpoint
refuses reported as "cannot authenticate". What only one kind does (the assertion
Google expects, Entra ID's workload identity, Microsoft's own client) stays in
``test_azureml_auth.py`` and ``test_vertex_auth.py``."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from adapters.azureml import AzureMLRegistry
from adapters.azureml.auth import REFRESH_MARGIN_SECONDS as ENTRA_MARGIN
from adapters.toolkit.auth import RefreshingTokenAuth
from adapters.vertex import VertexRegistry
from adapters.vertex.auth import REFRESH_MARGIN_SECONDS as GOOGLE_MARGIN
from gateway.errors import RegistryAuthError, RegistryUnavailable
from tests.adapters import test_azureml_auth as azure
from tests.adapters import test_vertex as vertex
from tests.servers.azureml import CLIENT_ID, AzureMLServer
from tests.servers.vertex import VertexServer
from tests.support import ManualClock

Adapter = AzureMLRegistry | VertexRegistry


@dataclass
class Kind:
    """One kind's fake, seen the same way: how to build an adapter on a clock, and
    the switches and counters the shared behaviour needs."""

    registry_id: str
    server: Any
    make: Callable[..., Adapter]
    margin: float
    set_lifetime: Callable[[int], None]
    issued: Callable[[], int]
    revoke_tokens: Callable[[], None]  # issued tokens stop working: the next call gets a 401
    refuse_tokens: Callable[[], None]  # the API refuses every token, fresh or not
    api_statuses: Callable[[], list[int]]
    break_credential: Callable[[], None]  # the token endpoint refuses the credential
    restore_credential: Callable[[], None]
    refused_words: tuple[str, ...]  # what the token endpoint's refusal says
    refused_twice: tuple[str, str, str]  # the API's second 401: message start, extension, value
    unreachable: Callable[[int], dict[str, str]]  # options pointing the token URL at a port


def _azure(server: AzureMLServer) -> Kind:
    def make(clock: ManualClock | None = None, **options: Any) -> Adapter:
        return azure.make(server, clock or ManualClock(), **options)

    def restore() -> None:
        server.fake.clients[CLIENT_ID].disabled = False

    def set_lifetime(seconds: int) -> None:
        server.fake.token_lifetime = seconds

    def refuse() -> None:
        server.fake.accept_tokens = False

    return Kind(
        azure.REGISTRY,
        server,
        make,
        ENTRA_MARGIN,
        set_lifetime,
        lambda: server.fake.tokens_issued,
        server.fake.revoke_tokens,
        refuse,
        lambda: list(server.fake.statuses),
        lambda: server.fake.disable_client(CLIENT_ID),
        restore,
        ("invalid_client", "AADSTS7000222"),
        (f"registry {azure.REGISTRY}: cannot authenticate: ", "registryCode", "InvalidAuthenticationToken"),
        lambda port: {"authority": f"http://127.0.0.1:{port}"},
    )


def _vertex(server: VertexServer) -> Kind:
    def make(clock: ManualClock | None = None, **options: Any) -> Adapter:
        clock = clock or ManualClock()
        server.fake.token_clock = clock  # tokens expire on the test's time, as the adapter sees it
        return vertex.make_adapter(server, clock=clock, **options)

    def refuse() -> None:
        server.fake.accept_tokens = False

    def delete_key() -> None:
        server.revoke_key()
        server.fake.expire_tokens()  # tokens Google issued outlive the key until they expire

    return Kind(
        vertex.REGISTRY,
        server,
        make,
        GOOGLE_MARGIN,
        server.set_token_lifetime,
        lambda: server.tokens_issued,
        server.fake.expire_tokens,
        refuse,
        lambda: [r.status for r in server.fake.requests if r.path.startswith("/v1/")],
        delete_key,
        server.reset_switches,
        ("invalid_grant", "Invalid JWT Signature"),
        (
            f"registry {vertex.REGISTRY}: cannot authenticate: Vertex AI refused",
            "registry_status",
            "UNAUTHENTICATED",
        ),
        lambda port: {"token_url": f"http://127.0.0.1:{port}/token"},
    )


@pytest.fixture(params=["azureml", "vertex"])
def kind(request: pytest.FixtureRequest) -> Kind:
    if request.param == "azureml":
        return _azure(request.getfixturevalue("azureml_fake"))
    return _vertex(request.getfixturevalue("vertex_fake"))


def auth_of(adapter: Adapter) -> RefreshingTokenAuth:
    return adapter.auth


async def test_the_token_is_cached_and_refreshed_before_it_expires(kind: Kind) -> None:
    clock = ManualClock()
    kind.set_lifetime(3600)
    adapter = kind.make(clock)
    try:
        issued = kind.issued()
        await adapter.list_models()
        await adapter.list_models()
        assert kind.issued() == issued + 1 and auth_of(adapter).fetches == 1
        clock.advance(3600 - kind.margin - 1)  # still inside the safe window
        await adapter.list_models()
        assert auth_of(adapter).fetches == 1
        clock.advance(2)  # now within the margin: refreshed before the registry could refuse it
        mark = len(kind.api_statuses())
        await adapter.list_models()
        assert auth_of(adapter).fetches == 2 and kind.api_statuses()[mark:] == [200]
    finally:
        await adapter.aclose()


async def test_short_lived_tokens_refresh_at_a_tenth_of_their_life(kind: Kind) -> None:
    """Every refresh asks for a new token (Google's fake refuses a replayed jti), and
    none is ever refused by the API."""
    clock = ManualClock()
    kind.set_lifetime(100)
    adapter = kind.make(clock)
    try:
        mark = len(kind.api_statuses())
        await adapter.list_models()
        clock.advance(89)
        await adapter.list_models()
        assert auth_of(adapter).fetches == 1
        for fetches in (2, 3):
            clock.advance(2 if fetches == 2 else 91)
            await adapter.list_models()
            assert auth_of(adapter).fetches == fetches
        assert 401 not in kind.api_statuses()[mark:]
    finally:
        await adapter.aclose()


async def test_a_401_is_followed_by_one_refreshed_token(kind: Kind) -> None:
    adapter = kind.make()
    try:
        await adapter.list_models()
        issued = kind.issued()
        kind.revoke_tokens()
        mark = len(kind.api_statuses())
        await adapter.list_models()
        assert kind.api_statuses()[mark:] == [401, 200]
        assert kind.issued() == issued + 1
    finally:
        await adapter.aclose()


async def test_a_token_refused_twice_is_an_auth_error(kind: Kind) -> None:
    adapter = kind.make()
    prefix, key, value = kind.refused_twice
    try:
        kind.refuse_tokens()
        mark = len(kind.api_statuses())
        with pytest.raises(RegistryAuthError) as raised:
            await adapter.list_models()
        assert kind.api_statuses()[mark:] == [401, 401]  # one fresh token, one resend, no more
        assert raised.value.message.startswith(prefix)
        assert raised.value.extensions[key] == value
    finally:
        await adapter.aclose()


async def test_a_refused_credential_is_reported_not_raised(kind: Kind) -> None:
    adapter = kind.make()
    try:
        assert (await adapter.health()).ok
        kind.break_credential()
        health = await adapter.health()
        assert not health.ok and health.detail is not None
        assert health.detail.startswith(f"registry {kind.registry_id}: cannot authenticate: ")
        assert all(word in health.detail for word in kind.refused_words)
        with pytest.raises(RegistryAuthError) as raised:
            await adapter.list_models()
        assert raised.value.code == "REGISTRY_AUTH_FAILED" and raised.value.registry_id == kind.registry_id
        kind.restore_credential()  # a new secret, a restored key: the next call recovers
        assert (await adapter.health()).ok
    finally:
        await adapter.aclose()


async def test_an_unreachable_token_endpoint_is_unavailable(kind: Kind) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = kind.make(**kind.unreachable(port))
    try:
        with pytest.raises(RegistryUnavailable, match=r"token endpoint .* unreachable"):
            await adapter.list_models()
    finally:
        await adapter.aclose()


async def test_concurrent_requests_share_one_refresh(kind: Kind) -> None:
    adapter = kind.make()
    try:
        issued = kind.issued()
        await asyncio.gather(*(adapter.list_models() for _ in range(8)))
        assert kind.issued() == issued + 1
    finally:
        await adapter.aclose()
