"""Bearer JWTs from an OpenID Connect provider (``[auth] mode = "oidc"``).

Verification uses joserfc (the JOSE implementation authlib builds on):

- the token's ``alg`` must be on the configured allow-list of asymmetric
  algorithms, checked before any key is touched, so ``alg: none`` and HS256
  "signed" with the RSA public key are refused outright;
- the signing key comes from the issuer's JWKS (``jwks_url``, or the
  ``jwks_uri`` of ``{issuer}/.well-known/openid-configuration``), cached for
  ``jwks_cache_seconds``. A token naming an unknown ``kid`` triggers a refetch
  (the provider may have rotated keys), at most once per
  ``jwks_min_refetch_seconds`` so a flood of made-up kids cannot make us hammer
  the provider;
- ``iss`` and ``aud`` must match the config, ``exp`` must be present, and
  ``exp``/``nbf``/``iat`` are checked with ``leeway_seconds`` of clock skew.

Roles and teams come from the claims named by ``roles_claim`` and
``teams_claim``: a list of strings or one space/comma separated string. A
dotted name reaches into nested claims (Keycloak's ``realm_access.roles``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from gateway.auth.errors import AuthUnavailable, Unauthenticated
from gateway.auth.principal import Principal
from gateway.config import AuthSettings

log = logging.getLogger(__name__)

MAX_TOKEN_LENGTH = 16 * 1024  # a JWT is a header field: anything bigger is not one we issue
FETCH_TIMEOUT_SECONDS = 5.0
_SPLIT = re.compile(r"[\s,]+")


def claim_values(claims: Mapping[str, Any], name: str) -> frozenset[str]:
    """Strings held by claim ``name`` (dotted for nested claims); empty when absent."""
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return frozenset()
        value = value[part]
    if isinstance(value, str):
        return frozenset(v for v in _SPLIT.split(value) if v)
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str) and v)
    return frozenset()


def principal_from_claims(claims: Mapping[str, Any], settings: AuthSettings) -> Principal:
    """The principal a verified token describes."""
    name = claims.get(settings.name_claim) or claims.get("sub")
    if not isinstance(name, str) or not name:
        raise Unauthenticated(f"token has no {settings.name_claim!r} claim to name its principal")
    return Principal(
        name,
        claim_values(claims, settings.roles_claim),
        claim_values(claims, settings.teams_claim),
    )


def _is_signing_key(jwk: Mapping[str, Any]) -> bool:
    return jwk.get("kty") in ("RSA", "EC", "OKP") and jwk.get("use", "sig") == "sig"


class JwksCache:
    """The issuer's signing keys, fetched lazily and refetched on rotation."""

    def __init__(
        self,
        settings: AuthSettings,
        client: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._settings = settings
        self._client = client
        self._clock = clock
        self._keys: KeySet | None = None
        self._kids: frozenset[str] = frozenset()
        self._fetched_at = float("-inf")
        self._jwks_url = settings.jwks_url
        self._lock = asyncio.Lock()
        self.fetches = 0  # for tests and metrics

    async def key_set(self, kid: str | None) -> KeySet:
        """Keys that should hold ``kid``; refetched when it is unknown (rate-limited) or stale."""
        if self._usable(kid):
            assert self._keys is not None
            return self._keys
        async with self._lock:  # concurrent requests with a new kid share one fetch
            if not self._usable(kid) and self._may_refetch():
                await self._refresh()
        if self._keys is None:
            raise AuthUnavailable("the identity provider's signing keys are not available")
        return self._keys

    def _usable(self, kid: str | None) -> bool:
        if self._keys is None or self._clock() - self._fetched_at > self._settings.jwks_cache_seconds:
            return False
        return kid is None or kid in self._kids

    def _may_refetch(self) -> bool:
        return self._clock() - self._fetched_at >= self._settings.jwks_min_refetch_seconds

    async def _refresh(self) -> None:
        # Count the attempt even if it fails, so a dead provider is not asked on every request.
        self._fetched_at = self._clock()
        self.fetches += 1
        try:
            url = self._jwks_url or await self._discover()
            data = await self._get_json(url)
            # Signing keys only, and never a symmetric one: an "oct" key in a JWKS
            # would let its readers mint tokens.
            keys = [k for k in data.get("keys", []) if isinstance(k, dict) and _is_signing_key(k)]
            key_set = KeySet.import_key_set({"keys": keys})
        except (httpx.HTTPError, ValueError, JoseError, TypeError, KeyError) as exc:
            log.warning("fetching the JWKS of %s failed: %s", self._settings.issuer, exc)
            return  # keep the keys we had: a provider blip must not log everyone out
        self._keys = key_set
        self._kids = frozenset(k.kid for k in key_set if k.kid)
        self._jwks_url = url

    async def _discover(self) -> str:
        issuer = (self._settings.issuer or "").rstrip("/")
        document = await self._get_json(f"{issuer}/.well-known/openid-configuration")
        if str(document.get("issuer", "")).rstrip("/") != issuer:
            raise ValueError(f"discovery document names issuer {document.get('issuer')!r}, not {issuer!r}")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise ValueError("discovery document has no jwks_uri")
        return jwks_uri

    async def _get_json(self, url: str) -> dict[str, Any]:
        response = await self._client.get(url)
        response.raise_for_status()
        data = response.json()
        if not isinstance(data, dict):
            raise ValueError(f"{url} did not answer with a JSON object")
        return data


class OidcVerifier:
    """Verifies bearer JWTs and returns their principal."""

    def __init__(
        self,
        settings: AuthSettings,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.settings = settings
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False)
        self.keys = JwksCache(settings, self._client)
        self._algorithms = list(settings.algorithms)
        self._clock = clock

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; ``Unauthenticated`` for anything else."""
        return principal_from_claims(await self.verified_claims(token), self.settings)

    async def verified_claims(self, token: str) -> dict[str, Any]:
        """The claims of a token that passes every check (algorithm, key, signature,
        ``iss``, ``aud``, ``exp``); ``Unauthenticated`` for anything else."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise Unauthenticated("malformed token")
        try:
            compact = jws.extract_compact(token.encode("ascii"))
            header = compact.headers()
        except (JoseError, ValueError, TypeError, UnicodeError):
            raise Unauthenticated("malformed token") from None
        alg = header.get("alg")
        if alg not in self._algorithms:
            raise Unauthenticated(f"token algorithm {alg!r} is not accepted")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise Unauthenticated("malformed token")
        key_set = await self.keys.key_set(kid)
        try:
            if not jws.validate_compact(compact, key_set, self._algorithms):
                raise Unauthenticated("bad token signature")
            claims = json.loads(compact.payload)
        except JoseError as exc:
            # Unknown kid, wrong key type for the alg, bad signature ...: one answer for all.
            raise Unauthenticated(f"token does not verify ({exc.error})") from None
        except (ValueError, TypeError):
            raise Unauthenticated("malformed token payload") from None
        if not isinstance(claims, dict):
            raise Unauthenticated("malformed token payload")
        self._check_claims(claims)
        return claims

    def _check_claims(self, claims: dict[str, Any]) -> None:
        registry = JWTClaimsRegistry(
            now=int(self._clock()),
            leeway=self.settings.leeway_seconds,
            iss={"essential": True, "value": self.settings.issuer or ""},
            aud={"essential": True, "value": self.settings.audience or ""},
            exp={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise Unauthenticated(f"token rejected: {exc.description or exc.error}") from None

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
