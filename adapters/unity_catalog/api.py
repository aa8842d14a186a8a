"""The Unity Catalog REST calls modelgate makes (``/api/2.1/unity-catalog``), and
its errors as ``RegistryError`` values.

Paths and fields are those of the OSS spec (``api/all.yaml`` of
unitycatalog/unitycatalog); Databricks serves the same paths and adds aliases
(``include_aliases`` on reads, ``/models/{full_name}/aliases/{alias}``), which
only the ``databricks`` flavor uses. Lists page with ``max_results`` (at most
50) and an opaque ``page_token``; ``next_page_token`` is absent on the last page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from adapters.toolkit.auth import BearerTokenAuth
from adapters.toolkit.http import ErrorTranslator, JsonHttpClient, message_error_translator
from adapters.toolkit.retry import RetryPolicy
from adapters.unity_catalog.options import PREFIX, UnityCatalogSettings
from gateway.errors import RegistryNotFound

Wire = dict[str, Any]


def error_translator(registry_id: str) -> ErrorTranslator:
    return message_error_translator(registry_id, "Unity Catalog", "error_code")


def _segment(text: str) -> str:
    return quote(text, safe="")


class UnityCatalogApi:
    """Thin calls over ``JsonHttpClient``; answers are the server's JSON."""

    def __init__(
        self,
        registry_id: str,
        settings: UnityCatalogSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ):
        self.registry_id = registry_id
        self.settings = settings
        self.auth = BearerTokenAuth(settings.token)
        self._http = JsonHttpClient(
            registry_id,
            settings.base_url + PREFIX,
            error_translator(registry_id),
            auth=self.auth,
            timeout=settings.timeout_seconds,
            retry=retry,
            transport=transport,
        )

    @property
    def base_url(self) -> str:
        return self._http.base_url

    def _paging(self, token: str | None, size: int | None) -> dict[str, Any]:
        params: dict[str, Any] = {"max_results": size or self.settings.page_size}
        if token:
            params["page_token"] = token
        return params

    def _aliases(self) -> dict[str, Any]:
        return {"include_aliases": "true"} if self.settings.has_aliases else {}

    async def list_schemas(self, token: str | None = None, size: int | None = None) -> Wire:
        params = {"catalog_name": self.settings.catalog, **self._paging(token, size)}
        result: Wire = await self._http.get("/schemas", params)
        return result

    async def list_models(self, schema: str, token: str | None = None, size: int | None = None) -> Wire:
        params = {"catalog_name": self.settings.catalog, "schema_name": schema, **self._paging(token, size)}
        result: Wire = await self._http.get("/models", params)
        return result

    async def get_model(self, full_name: str) -> Wire | None:
        try:
            result: Wire = await self._http.get(f"/models/{_segment(full_name)}", self._aliases())
        except RegistryNotFound:
            return None
        return result

    async def list_versions(self, full_name: str, token: str | None = None, size: int | None = None) -> Wire:
        path = f"/models/{_segment(full_name)}/versions"
        result: Wire = await self._http.get(path, self._paging(token, size))
        return result

    async def get_version(self, full_name: str, version: int) -> Wire | None:
        path = f"/models/{_segment(full_name)}/versions/{version}"
        try:
            result: Wire = await self._http.get(path, self._aliases())
        except RegistryNotFound:
            return None
        return result

    async def set_alias(self, full_name: str, alias: str, version: int) -> Wire:
        """Databricks only; a write, sent once."""
        path = f"/models/{_segment(full_name)}/aliases/{_segment(alias)}"
        result: Wire = await self._http.send("PUT", path, json_body={"version_num": version})
        return result

    async def delete_alias(self, full_name: str, alias: str) -> None:
        """Databricks only; a write, sent once."""
        await self._http.send("DELETE", f"/models/{_segment(full_name)}/aliases/{_segment(alias)}")

    async def aclose(self) -> None:
        await self._http.aclose()
