"""OAuth 2.0 access tokens for a Google service account, as an ``httpx.Auth``.

The token comes from authlib's ``AsyncAssertionClient``: an RS256 JWT signed
with the key file's private key (``iss`` = the service account's email, ``aud``
= Google's token endpoint ``https://oauth2.googleapis.com/token`` unless
configured otherwise, ``scope`` as a *claim*, ``kid`` = ``private_key_id``, no
``sub``), POSTed to the token URL as
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``. Google reads the
scope only from the claims; authlib's ``scope=`` keyword would put it in the
form body, where Google ignores it.

Caching, refreshing shortly *before* expiry and once more on a 401, and the
error values are ``adapters.toolkit.auth.RefreshingTokenAuth``'s (shared with
Azure ML); a key that cannot sign is ``RegistryAuthError``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import authlib.deprecate
import httpx
from joserfc.jwk import RSAKey

from adapters.toolkit.auth import RefreshingTokenAuth
from adapters.vertex.options import CLOUD_PLATFORM_SCOPE, GOOGLE_TOKEN_URL, ServiceAccount
from gateway.errors import RegistryAuthError, RegistryError

with warnings.catch_warnings():
    # authlib 1.9 prefers the separate ``httpx2`` distribution and warns when it
    # falls back to httpx, which is the client modelgate uses everywhere. Its
    # ``authlib.deprecate`` installs an "always" filter when imported, so ours
    # must be added after that import to take precedence.
    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncAssertionClient

# Google issues one-hour tokens; refresh a minute early, or a tenth of the
# lifetime for short-lived tokens, so clock skew and slow requests never send
# an expired one.
REFRESH_MARGIN_SECONDS = 60.0


class ServiceAccountAuth(RefreshingTokenAuth):
    def __init__(
        self,
        registry_id: str,
        account: ServiceAccount,
        token_url: str,
        *,
        audience: str = GOOGLE_TOKEN_URL,
        scope: str = CLOUD_PLATFORM_SCOPE,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__(registry_id, token_url, margin_seconds=REFRESH_MARGIN_SECONDS, clock=clock)
        self._account = account
        self._scope = scope
        header = {"kid": account.private_key_id} if account.private_key_id else {}
        self._client = AsyncAssertionClient(
            token_endpoint=token_url,
            issuer=account.client_email,
            subject=None,  # a ``sub`` would ask for domain-wide delegation to that user
            audience=audience,
            # A joserfc key object: authlib deprecates (and warns on) PEM text here.
            key=RSAKey.import_key(account.private_key),
            alg="RS256",
            header=header,
            timeout=timeout,
            transport=transport,
        )

    @property
    def who(self) -> str:
        return f"service account {self._account.client_email} at {self._token_url}"

    async def request_token(self) -> Mapping[str, Any]:
        # authlib adds a ``jti`` to the claims dict it is handed and keeps it, so a
        # shared dict would replay one jti on every refresh: hand it a fresh one.
        self._client.claims = {"scope": self._scope}
        token: Mapping[str, Any] = await self._client.refresh_token()
        return token

    def not_understood(self, exc: ValueError) -> RegistryError:
        return RegistryAuthError(self._registry_id, f"{self.who}: cannot sign the assertion ({exc})")

    async def aclose(self) -> None:
        await self._client.aclose()
