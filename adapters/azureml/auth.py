"""Entra ID access tokens for Azure Resource Manager, as an ``httpx.Auth``.

Client credentials (``grant_type=client_credentials``) POSTed to
``{authority}/{tenant}/oauth2/v2.0/token`` through authlib's OAuth 2.0 client,
the same flow azure-identity's ``ClientSecretCredential`` and
``WorkloadIdentityCredential`` run: with ``client_secret`` in the form, or with
a federated ``client_assertion`` (a Kubernetes service-account token, read from
its file at every refresh because the kubelet rotates it) of type
``urn:ietf:params:oauth:client-assertion-type:jwt-bearer``. The scope is ARM's
``https://management.azure.com/.default``.

Caching, refreshing before expiry and once more on a 401, and the error values
are ``adapters.toolkit.auth.RefreshingTokenAuth``'s (shared with Vertex):
Entra ID's refusals (``invalid_client``, AADSTS codes) become
``RegistryAuthError`` ("cannot authenticate"), an unreachable or failing token
endpoint ``RegistryUnavailable``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import authlib.deprecate
import httpx

from adapters.azureml.options import Credential
from adapters.toolkit.auth import RefreshingTokenAuth
from gateway.errors import RegistryAuthError

with warnings.catch_warnings():
    # authlib 1.9 warns that it prefers the ``httpx2`` distribution; modelgate uses httpx.
    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

CLIENT_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Entra ID issues tokens for 60-90 minutes; refresh five minutes early (as
# azure-identity does), or a tenth of the lifetime for short-lived tokens.
REFRESH_MARGIN_SECONDS = 300.0


class EntraClientCredentialsAuth(RefreshingTokenAuth):
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
        super().__init__(registry_id, token_url, margin_seconds=REFRESH_MARGIN_SECONDS, clock=clock)
        self._credential = credential
        self._scope = scope
        method = "client_secret_post" if credential.secret else "none"
        self._client = AsyncOAuth2Client(
            client_id=credential.client_id,
            client_secret=credential.secret,
            scope=scope,
            token_endpoint_auth_method=method,
            timeout=timeout,
            transport=transport,
        )

    @property
    def who(self) -> str:
        return f"app {self._credential.client_id} in tenant {self._credential.tenant_id} at {self._token_url}"

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

    async def request_token(self) -> Mapping[str, Any]:
        token: Mapping[str, Any] = await self._client.fetch_token(self._token_url, **self._form())
        return token

    async def aclose(self) -> None:
        await self._client.aclose()
