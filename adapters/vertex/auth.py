"""OAuth 2.0 access tokens for a Google service account, as an ``httpx.Auth``.

The token comes from authlib's ``AsyncAssertionClient``: an RS256 JWT signed
with the key file's private key (``iss`` = the service account's email, ``aud``
= Google's token endpoint ``https://oauth2.googleapis.com/token`` unless
configured otherwise, ``scope`` as a *claim*, ``kid`` = ``private_key_id``, no
``sub``), POSTed to the token URL as
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``. Google reads the
scope only from the claims; authlib's ``scope=`` keyword would put it in the
form body, where Google ignores it.

Wrapping the client in an ``httpx.Auth`` keeps ``JsonHttpClient`` the one seam
to the registry: the auth fetches a token before the first request, refreshes
it shortly *before* it expires (so no request is sent with a dying token), and
on a 401 fetches a fresh one and resends once (the token may have been revoked).
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import AsyncGenerator, Callable, Generator

import authlib.deprecate
import httpx
from joserfc.jwk import RSAKey

from adapters.base import HTTP_STATUS_ERRORS, HTTP_TIMEOUTS, HTTP_TRANSPORT_ERRORS, token_from_response
from adapters.vertex.options import CLOUD_PLATFORM_SCOPE, GOOGLE_TOKEN_URL, ServiceAccount
from gateway.errors import RegistryAuthError, RegistryUnavailable

with warnings.catch_warnings():
    # authlib 1.9 prefers the separate ``httpx2`` distribution and warns when it
    # falls back to httpx, which is the client modelgate uses everywhere. Its
    # ``authlib.deprecate`` installs an "always" filter when imported, so ours
    # must be added after that import to take precedence.
    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncAssertionClient, OAuthError

# Google issues one-hour tokens; refresh a minute early, or a tenth of the
# lifetime for short-lived tokens, so clock skew and slow requests never send
# an expired one.
REFRESH_MARGIN_SECONDS = 60.0


class ServiceAccountAuth(httpx.Auth):
    requires_request_body = False
    requires_response_body = False

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
        self._registry_id = registry_id
        self._account = account
        self._token_url = token_url
        self._scope = scope
        self._clock = clock
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
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("ServiceAccountAuth works with httpx.AsyncClient only")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            # Revoked, or expired earlier than announced: one fresh token, one resend.
            # A second 401 reaches the error translation as "cannot authenticate".
            token = await self.access_token(stale=token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    async def access_token(self, *, stale: str | None = None) -> str:
        """A token valid for a while yet; ``stale`` is one the registry just refused."""
        async with self._lock:  # concurrent requests share one refresh
            if self._token is not None and self._token != stale and self._clock() < self._refresh_at:
                return self._token
            return await self._fetch()

    async def _fetch(self) -> str:
        # authlib adds a ``jti`` to the claims dict it is handed and keeps it, so a
        # shared dict would replay one jti on every refresh: hand it a fresh one.
        self._client.claims = {"scope": self._scope}
        started = self._clock()
        who = f"service account {self._account.client_email} at {self._token_url}"
        try:
            token = await self._client.refresh_token()
        except OAuthError as exc:
            detail = f" ({exc.description})" if exc.description else ""
            raise RegistryAuthError(self._registry_id, f"{who} was refused: {exc.error}{detail}") from None
        except HTTP_STATUS_ERRORS as exc:
            status = exc.response.status_code
            if status == 429 or status >= 500:
                message = f"token endpoint {self._token_url} answered HTTP {status}"
                raise RegistryUnavailable(self._registry_id, message, status=status) from None
            raise RegistryAuthError(self._registry_id, f"{who} was refused with HTTP {status}") from None
        except HTTP_TIMEOUTS:
            message = f"token endpoint {self._token_url} timed out"
            raise RegistryUnavailable(self._registry_id, message) from None
        except HTTP_TRANSPORT_ERRORS as exc:
            raise RegistryUnavailable(
                self._registry_id, f"token endpoint {self._token_url} unreachable ({exc})"
            ) from None
        except ValueError as exc:  # a key that cannot sign
            raise RegistryAuthError(self._registry_id, f"{who}: cannot sign the assertion ({exc})") from None
        access_token, self._refresh_at = token_from_response(
            self._registry_id, who, token, started, REFRESH_MARGIN_SECONDS
        )
        self._token = access_token
        return access_token

    async def aclose(self) -> None:
        await self._client.aclose()
