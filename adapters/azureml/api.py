"""The Azure Resource Manager calls modelgate makes for Azure ML models, and ARM's errors.

Paths (``mfe.json``): ``{scope}/models`` lists model containers,
``{scope}/models/{name}`` is one, ``{scope}/models/{name}/versions[/{version}]``
its versions, where ``{scope}`` is a workspace
(``…/Microsoft.MachineLearningServices/workspaces/{ws}``) or an Azure ML registry
(``…/registries/{reg}``). Lists page with ``nextLink`` (an absolute URL carrying
the ``$skip`` continuation token); modelgate follows it only to the configured
endpoint, so a bearer token never leaves for another host.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx

from adapters.azureml.auth import EntraClientCredentialsAuth
from adapters.azureml.options import AzureMLSettings
from adapters.toolkit.errors import error_for_status, retry_after_seconds
from adapters.toolkit.http import ErrorTranslator, JsonHttpClient, error_object
from adapters.toolkit.retry import RetryPolicy
from gateway.errors import RegistryError, RegistryNotFound

ACTIVE_ONLY, ARCHIVED_ONLY, ALL = "ActiveOnly", "ArchivedOnly", "All"


def error_translator(registry_id: str) -> ErrorTranslator:
    """ARM's ``{"error": {"code", "message"}}`` → the shared taxonomy."""

    def translate(response: httpx.Response) -> RegistryError:
        code, message = _arm_error(response)
        status = response.status_code
        if status == 401:
            text = f"Azure Resource Manager refused the access token ({code}: {message})"
        else:
            text = f"Azure ML answered {status} {code}: {message}"
        return error_for_status(
            registry_id,
            status,
            text,
            registry_code=code,
            retry_after=retry_after_seconds(response.headers.get("retry-after")),
        )

    return translate


def _arm_error(response: httpx.Response) -> tuple[str, str]:
    error = error_object(response)
    if error is not None:
        return str(error.get("code") or response.reason_phrase), str(error.get("message") or "no message")
    return response.reason_phrase or "Error", f"HTTP {response.status_code} without an ARM error body"


class AzureMLApi:
    """Thin calls over ``JsonHttpClient``; answers are ARM JSON."""

    def __init__(
        self,
        registry_id: str,
        settings: AzureMLSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        auth: EntraClientCredentialsAuth | None = None,
    ):
        self.registry_id = registry_id
        self.settings = settings
        self.auth = auth or EntraClientCredentialsAuth(
            registry_id,
            settings.credential,
            settings.token_url,
            settings.token_scope,
            timeout=settings.timeout_seconds,
            transport=transport,
        )
        self._http = JsonHttpClient(
            registry_id,
            settings.endpoint,
            error_translator(registry_id),
            auth=self.auth,
            timeout=settings.timeout_seconds,
            retry=retry,
            transport=transport,
        )

    def _path(self, *segments: str) -> str:
        return "/".join([self.settings.scope_path, "models", *(quote(s, safe="") for s in segments)])

    def _params(self, **extra: Any) -> dict[str, Any]:
        return {"api-version": self.settings.api_version, **{k: v for k, v in extra.items() if v is not None}}

    async def _page(self, path: str, params: dict[str, Any], page_token: str | None) -> dict[str, Any]:
        if page_token:
            path, params = self._next(page_token)
        return await self._http.get(path, params)

    def _next(self, next_link: str) -> tuple[str, dict[str, Any]]:
        """Split a ``nextLink`` into path and query, refusing one that points elsewhere."""
        parts = urlsplit(next_link)
        home = urlsplit(self.settings.endpoint)
        if (parts.scheme, parts.netloc) != (home.scheme, home.netloc) or not parts.path.startswith(
            self.settings.scope_path
        ):
            raise RegistryError(self.registry_id, f"refusing a nextLink outside {self.settings.endpoint}")
        return parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))

    async def list_containers(self, page_token: str | None = None) -> dict[str, Any]:
        # Workspaces take ``count`` as the page size; registries declare no size parameter.
        size = None if self.settings.is_registry else self.settings.page_size
        params = self._params(listViewType=ALL, count=size)
        return await self._page(self._path(), params, page_token)

    async def get_container(self, name: str) -> dict[str, Any] | None:
        try:
            return await self._http.get(self._path(name), self._params())
        except RegistryNotFound:
            return None

    async def list_versions(
        self, name: str, page_token: str | None = None, *, view: str = ALL
    ) -> dict[str, Any] | None:
        params = self._params(
            listViewType=view, **{"$top": self.settings.page_size, "$orderBy": "createdtime asc"}
        )
        try:
            return await self._page(self._path(name, "versions"), params, page_token)
        except RegistryNotFound:
            return None

    async def get_version(self, name: str, version: str) -> dict[str, Any] | None:
        try:
            return await self._http.get(self._path(name, "versions", version), self._params())
        except RegistryNotFound:
            return None

    async def put_version(self, name: str, version: str, body: dict[str, Any]) -> dict[str, Any]:
        """A write, sent once. A registry PUT is a long-running operation (201 with
        ``Azure-AsyncOperation``); its body already holds the version as written."""
        return await self._http.send(
            "PUT", self._path(name, "versions", version), json_body=body, params=self._params()
        )

    async def aclose(self) -> None:
        await self._http.aclose()
        await self.auth.aclose()
