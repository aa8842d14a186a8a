"""OIDC bearer tokens: every forgery and misuse is refused with 401 and a
``WWW-Authenticate`` challenge; a good token becomes its principal."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from gateway.auth.errors import AuthUnavailable, Unauthenticated
from gateway.auth.oidc import OidcVerifier, claim_values
from gateway.config import AuthSettings, settings_from_mapping
from gateway.runtime import Gateway
from tests.security.conftest import AUDIENCE, IdentityProvider, serve

ME = "{ registries { id } }"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def oidc_settings(idp: IdentityProvider, **extra: Any) -> AuthSettings:
    raw = {"mode": "oidc", "issuer": idp.issuer, "audience": AUDIENCE, **extra}
    return settings_from_mapping({"auth": raw}, environ={}).auth


@pytest.fixture
async def oidc_client(
    sqlite_gateway: Gateway, fresh_idp: IdentityProvider
) -> AsyncIterator[httpx.AsyncClient]:
    settings = dataclasses.replace(sqlite_gateway.settings, auth=oidc_settings(fresh_idp))
    async with serve(sqlite_gateway, settings=settings) as client:
        yield client


def _alg_none(idp: IdentityProvider) -> str:
    header = b64(json.dumps({"alg": "none", "kid": "rsa-1"}).encode())
    return f"{header}.{b64(json.dumps(idp.claims(roles=['admin'])).encode())}."


def _hs256_with_public_key(idp: IdentityProvider) -> str:
    """The classic key-confusion forgery: HMAC keyed with the RSA public key's PEM."""
    secret = idp.signing_key.as_pem(private=False)
    header = b64(json.dumps({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}).encode())
    payload = b64(json.dumps(idp.claims(roles=["admin"])).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def _tampered(idp: IdentityProvider) -> str:
    header, _, signature = idp.token().split(".")
    forged = b64(json.dumps(idp.claims(sub="mallory", roles=["admin"])).encode())
    return f"{header}.{forged}.{signature}"


def _wrong_key_type(idp: IdentityProvider) -> str:
    """RS256 in the header but the kid of the published EC key."""
    return idp.token(kid="ec-1")


ATTACKS: dict[str, Callable[[IdentityProvider], str]] = {
    "garbage": lambda idp: "not-a-jwt",
    "three garbage parts": lambda idp: "abc.def.ghi",
    "expired": lambda idp: idp.token(exp=int(time.time()) - 120, iat=int(time.time()) - 600),
    "not yet valid": lambda idp: idp.token(nbf=int(time.time()) + 120),
    "issued in the future": lambda idp: idp.token(iat=int(time.time()) + 600),
    "no expiry": lambda idp: idp.token(exp=None),
    "wrong issuer": lambda idp: idp.token(iss="https://evil.example.com"),
    "wrong audience": lambda idp: idp.token(aud="someone-else"),
    "unknown key": lambda idp: idp.token(
        key=RSAKey.generate_key(2048, parameters={"kid": "rsa-evil"}), kid="rsa-evil"
    ),
    "known kid, other key": lambda idp: idp.token(key=RSAKey.generate_key(2048)),
    "alg none": _alg_none,
    "HS256 signed with the RSA public key": _hs256_with_public_key,
    "tampered payload": _tampered,
    "key type confusion": _wrong_key_type,
    "no subject": lambda idp: idp.token(sub=None),
    "oversized": lambda idp: "a" * 20_000,
}


async def test_no_token_is_401_with_a_challenge(oidc_client: httpx.AsyncClient) -> None:
    response = await oidc_client.post("/graphql", json={"query": ME})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="modelgate"'
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "UNAUTHENTICATED" and error["extensions"]["requestId"]


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_attacks_are_refused(
    oidc_client: httpx.AsyncClient, fresh_idp: IdentityProvider, attack: str
) -> None:
    token = ATTACKS[attack](fresh_idp)
    response = await oidc_client.post(
        "/graphql", json={"query": ME}, headers={"authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith('Bearer realm="modelgate", error="invalid_token"')
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert token[:40] not in response.text  # the token is never echoed back


async def test_a_valid_token_is_its_principal(
    oidc_client: httpx.AsyncClient, fresh_idp: IdentityProvider
) -> None:
    headers = {"authorization": f"Bearer {fresh_idp.token()}"}
    ok = await oidc_client.post("/graphql", json={"query": ME}, headers=headers)
    assert ok.status_code == 200 and "errors" not in ok.json()
    # roles from "roles": the token's auditor role opens the audit log ...
    audit = await oidc_client.post(
        "/graphql", json={"query": "{ auditEvents { totalCount } }"}, headers=headers
    )
    assert "errors" not in audit.json()
    # ... and a token without it is FORBIDDEN there, not unauthenticated.
    plain = {"authorization": f"Bearer {fresh_idp.token(roles=[])}"}
    denied = await oidc_client.post(
        "/graphql", json={"query": "{ auditEvents { totalCount } }"}, headers=plain
    )
    assert denied.status_code == 200 and denied.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_es256_and_clock_skew_within_leeway_are_accepted(
    oidc_client: httpx.AsyncClient, fresh_idp: IdentityProvider
) -> None:
    token = fresh_idp.token(key=fresh_idp.ec_key, alg="ES256", kid="ec-1", nbf=int(time.time()) + 10)
    response = await oidc_client.post(
        "/graphql", json={"query": ME}, headers={"authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("header", "error"), [("Basic YWxpY2U6c2VjcmV0", "invalid_request"), ("Bearer ", "invalid_request")]
)
async def test_other_schemes_are_refused(oidc_client: httpx.AsyncClient, header: str, error: str) -> None:
    response = await oidc_client.post("/graphql", json={"query": ME}, headers={"authorization": header})
    assert response.status_code == 401
    assert f'error="{error}"' in response.headers["www-authenticate"]


async def test_every_protected_route_asks_for_credentials(oidc_client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/graphql?query={registries{id}}"),
        ("GET", "/reports/compliance.json"),
        ("GET", "/audit/export.jsonl"),
        ("PUT", "/artifacts/platform/m/model.bin"),
    ]:
        response = await oidc_client.request(method, path)
        assert response.status_code == 401, (path, response.text)
    # Probes and the GraphiQL page stay open.
    assert (await oidc_client.get("/healthz")).status_code == 200
    assert (await oidc_client.get("/readyz")).status_code == 200
    assert (await oidc_client.get("/graphql", headers={"accept": "text/html"})).status_code == 200


# --- keys: discovery, rotation, rate-limited refetch, outages ------------------------------


async def test_rotation_refetches_once_and_unknown_kids_are_rate_limited(fresh_idp: IdentityProvider) -> None:
    verifier = OidcVerifier(oidc_settings(fresh_idp, jwks_min_refetch_seconds=60))
    try:
        await verifier.verify(fresh_idp.token())
        assert fresh_idp.requests == {"discovery": 1, "jwks": 1}
        # The provider rotates to a new key: the first token naming it triggers one refetch.
        rotated = RSAKey.generate_key(2048, parameters={"kid": "rsa-2"})
        fresh_idp.published = [fresh_idp.signing_key, rotated]
        verifier.keys._fetched_at -= 61  # the last fetch was a minute ago
        assert (await verifier.verify(fresh_idp.token(key=rotated, kid="rsa-2"))).name == "alice"
        assert fresh_idp.requests["jwks"] == 2
        # A flood of made-up kids inside the window costs no request to the provider.
        for i in range(20):
            with pytest.raises(Unauthenticated):
                await verifier.verify(fresh_idp.token(key=RSAKey.generate_key(2048), kid=f"made-up-{i}"))
        assert fresh_idp.requests["jwks"] == 2
    finally:
        await verifier.aclose()


async def test_jwks_url_skips_discovery(fresh_idp: IdentityProvider) -> None:
    verifier = OidcVerifier(oidc_settings(fresh_idp, jwks_url=f"{fresh_idp.issuer}/jwks"))
    try:
        await verifier.verify(fresh_idp.token())
        assert fresh_idp.requests == {"jwks": 1}
    finally:
        await verifier.aclose()


async def test_provider_outage(sqlite_gateway: Gateway, fresh_idp: IdentityProvider) -> None:
    """No keys yet: 503 (the token may be fine). Keys cached: a blip changes nothing."""
    fresh_idp.down = True
    settings = dataclasses.replace(
        sqlite_gateway.settings, auth=oidc_settings(fresh_idp, jwks_min_refetch_seconds=0.01)
    )
    async with serve(sqlite_gateway, settings=settings) as client:
        headers = {"authorization": f"Bearer {fresh_idp.token()}"}
        down = await client.post("/graphql", json={"query": ME}, headers=headers)
        assert (
            down.status_code == 503 and down.json()["errors"][0]["extensions"]["code"] == "AUTH_UNAVAILABLE"
        )
        fresh_idp.down = False
        await asyncio.sleep(0.02)
        assert (await client.post("/graphql", json={"query": ME}, headers=headers)).status_code == 200
        fresh_idp.down = True
        await asyncio.sleep(0.02)
        assert (await client.post("/graphql", json={"query": ME}, headers=headers)).status_code == 200


async def test_discovery_must_name_the_configured_issuer(fresh_idp: IdentityProvider) -> None:
    settings = dataclasses.replace(oidc_settings(fresh_idp), issuer=f"{fresh_idp.issuer}/other")
    verifier = OidcVerifier(settings)
    try:
        with pytest.raises(AuthUnavailable):
            await verifier.verify(fresh_idp.token(iss=settings.issuer))
    finally:
        await verifier.aclose()


def test_claims_as_lists_strings_or_nested() -> None:
    claims = {"roles": ["a", "b", 3], "groups": "x y,z", "realm_access": {"roles": ["admin"]}}
    assert claim_values(claims, "roles") == {"a", "b"}
    assert claim_values(claims, "groups") == {"x", "y", "z"}
    assert claim_values(claims, "realm_access.roles") == {"admin"}
    assert claim_values(claims, "missing.path") == frozenset()


@pytest.mark.parametrize(
    ("auth", "key"),
    [
        (
            {"mode": "oidc", "issuer": "https://idp.example", "audience": "m", "algorithms": ["HS256"]},
            "algorithms",
        ),
        (
            {"mode": "oidc", "issuer": "https://idp.example", "audience": "m", "algorithms": ["none"]},
            "algorithms",
        ),
        ({"mode": "oidc", "issuer": "http://idp.example", "audience": "m"}, "auth.issuer"),
        ({"mode": "oidc", "issuer": "https://idp.example"}, "auth"),
    ],
)
def test_unsafe_oidc_configs_are_refused(auth: dict[str, Any], key: str) -> None:
    from gateway.config import ConfigError

    with pytest.raises(ConfigError) as raised:
        settings_from_mapping({"auth": auth}, environ={})
    assert key in raised.value.key
