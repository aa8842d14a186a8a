"""Service-account authentication against the fake token endpoint, with the real
authlib flow: what the assertion carries, and assertions Google refuses reported
as "cannot authenticate" (an error value and an unhealthy registry, never a
crash). Caching, refreshing and the 401 retry, shared with Azure ML, are tested
once for both in ``test_token_auth.py``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from gateway.errors import RegistryAuthError, RegistryUnavailable
from tests.adapters.test_vertex import FAST_RETRY, make_adapter
from tests.servers.vertex import VertexServer, new_private_key_pem


def api_statuses(server: VertexServer, since: int) -> list[int]:
    return [r.status for r in server.fake.requests[since:] if r.path.startswith("/v1/")]


async def test_assertion_is_what_google_expects(vertex_fake: VertexServer) -> None:
    adapter = make_adapter(vertex_fake)
    try:
        assert (await adapter.health()).ok
        sent = vertex_fake.fake.last_assertion
        claims, header = sent["claims"], sent["header"]
        assert header["alg"] == "RS256" and header["kid"] == vertex_fake.key_id
        assert claims["iss"] == vertex_fake.credentials["client_email"]
        assert claims["aud"] == "https://oauth2.googleapis.com/token"  # as google-auth signs it
        assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"  # a claim...
        assert sent["form"] == ["assertion", "grant_type"]  # ...and not a form field
        assert "sub" not in claims  # a sub would request domain-wide delegation
        assert 0 < claims["exp"] - claims["iat"] <= 3600
    finally:
        await adapter.aclose()


async def test_an_expired_session_that_cannot_renew_is_an_auth_error(vertex_fake: VertexServer) -> None:
    """The token expires and the key was revoked meanwhile: 401, refresh refused."""
    adapter = make_adapter(vertex_fake)
    try:
        await adapter.list_models()
        vertex_fake.fake.expire_tokens()
        vertex_fake.revoke_key()
        with pytest.raises(RegistryAuthError, match="cannot authenticate"):
            await adapter.list_models()
    finally:
        await adapter.aclose()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("wrong_key", "Invalid JWT Signature"),
        ("audience", "Failed audience check"),
        ("account", "account not found"),
    ],
)
async def test_refused_assertions(
    vertex_fake: VertexServer, tmp_path: Path, change: str, message: str
) -> None:
    info = dict(vertex_fake.credentials)
    options: dict[str, str] = {}
    if change == "wrong_key":
        info["private_key"] = new_private_key_pem()  # same kid, another key
    elif change == "audience":
        options["token_audience"] = vertex_fake.token_url
    else:
        info["client_email"] = "deleted@modelgate-test.iam.gserviceaccount.com"
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(info), encoding="utf-8")
    adapter = make_adapter(vertex_fake, credentials_file=str(key_file), **options)
    try:
        health = await adapter.health()
        assert not health.ok and "cannot authenticate" in (health.detail or "")
        assert message in (health.detail or "")
    finally:
        await adapter.aclose()


async def test_token_endpoint_outages_are_unavailability(vertex_fake: VertexServer) -> None:
    vertex_fake.fake.token_failures.extend([503])
    adapter = make_adapter(vertex_fake)
    try:
        assert (await adapter.list_models()).items is not None  # retried past the 503
    finally:
        await adapter.aclose()
    # A token endpoint that hangs up on every connection: the read is retried as
    # often as the retry policy allows, then reported; counted, not timed.
    connections = 0

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    unreachable = make_adapter(vertex_fake, token_url=f"http://127.0.0.1:{port}/token")
    try:
        with pytest.raises(RegistryUnavailable, match=r"token endpoint .* unreachable"):
            await unreachable.list_models()
        assert connections == FAST_RETRY.attempts
        health = await unreachable.health()
        assert not health.ok and "unreachable" in (health.detail or "")
    finally:
        await unreachable.aclose()
        server.close()
        await server.wait_closed()
