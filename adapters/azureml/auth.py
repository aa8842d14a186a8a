"""Entra ID access tokens for Azure Resource Manager, as an ``httpx.Auth``.

Client credentials (``grant_type=client_credentials``) POSTed to
``{authority}/{tenant}/oauth2/v2.0/token`` through authlib's OAuth 2.0 client,
the same flow azure-identity's ``ClientSecretCredential`` and
``WorkloadIdentityCredential`` run: with ``client_secret`` in the form, or with
a federated ``client_assertion`` (a Kubernetes service-account token, read from
its file at every refresh because the kubelet rotates it) of type
``urn:ietf:params:oauth:client-assertion-type:jwt-bearer``. The scope is ARM's
``https://management.azure.com/.default``.

As ``ServiceAccountAuth`` does for Vertex, the token is cached, refreshed
shortly *before* it expires, and refreshed once more when ARM answers 401 (a
revoked token); Entra ID's refusals (``invalid_client``, AADSTS codes) become
``RegistryAuthError`` ("cannot authenticate"), an unreachable or failing token
endpoint ``RegistryUnavailable``.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import AsyncGenerator, Callable, Generator
from pathlib import Path
from typing import Any

import authlib.deprecate
import httpx

from adapters.azureml.options import Credential
from adapters.base import HTTP_STATUS_ERRORS, HTTP_TIMEOUTS, HTTP_TRANSPORT_ERRORS, token_from_response
from gateway.errors import RegistryAuthError, RegistryUnavailable

with warnings.catch_warnings():
    # authlib 1.9 warns that it prefers the ``httpx2`` distribution; modelgate uses httpx.
    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

CLIENT_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Entra ID issues tokens for 60-90 minutes; refresh five minutes early (as
# azure-identity does), or a tenth of the lifetime for short-lived tokens.
REFRESH_MARGIN_SECONDS = 300.0


class EntraClientCredentialsAuth(httpx.Auth):
    requires_request_body = False
    requires_response_body = False

    def __init__(
        self,
        registry_id: str,
        credential: Credential,
        token_url: str,
        scope: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._registry_id = registry_id
        self._credential = credential
        self._token_url = token_url
        self._scope = scope
        self._clock = clock
        method = "client_secret_post" if credential.secret else "none"
        self._client = AsyncOAuth2Client(
            client_id=credential.client_id,
            client_secret=credential.secret,
            scope=scope,
            token_endpoint_auth_method=method,
            timeout=timeout,
            transport=transport,
        )
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("EntraClientCredentialsAuth works with httpx.AsyncClient only")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            # Revoked, or expired earlier than announced: one fresh token, one resend.
            # A second 401 reaches the error translation as "cannot authenticate".
            await response.aread()
            token = await self.access_token(stale=token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    async def access_token(self, *, stale: str | None = None) -> str:
        """A token valid for a while yet; ``stale`` is one ARM just refused."""
        async with self._lock:  # concurrent requests share one refresh
            if self._token is not None and self._token != stale and self._clock() < self._refresh_at:
                return self._token
            return await self._fetch()

    def _form(self) -> dict[str, Any]:
        form: dict[str, Any] = {"grant_type": "client_credentials"}
        if self._credential.federated_token_file:
            path = self._credential.federated_token_file
            try:
                assertion = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise RegistryAuthError(
                    self._registry_id, f"cannot read the federated token file {path}: {exc.strerror}"
                ) from None
            form.update(client_assertion_type=CLIENT_ASSERTION, client_assertion=assertion)
        return form

    async def _fetch(self) -> str:
        who = f"app {self._credential.client_id} in tenant {self._credential.tenant_id} at {self._token_url}"
        started = self._clock()
        self.fetches += 1
        try:
            token = await self._client.fetch_token(self._token_url, **self._form())
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
            raise RegistryUnavailable(
                self._registry_id, f"token endpoint {self._token_url} timed out"
            ) from None
        except HTTP_TRANSPORT_ERRORS as exc:
            raise RegistryUnavailable(
                self._registry_id, f"token endpoint {self._token_url} unreachable ({exc})"
            ) from None
        except ValueError:  # a body that is not JSON
            raise RegistryUnavailable(
                self._registry_id, f"token endpoint {self._token_url} answered without JSON"
            ) from None
        access_token, self._refresh_at = token_from_response(
            self._registry_id, who, token, started, REFRESH_MARGIN_SECONDS
        )
        self._token = access_token
        return access_token

    async def aclose(self) -> None:
        await self._client.aclose()
