"""The Kubeflow Model Registry REST calls modelgate makes, and its errors as ``RegistryError`` values.

Two API generations share one shape: ``/api/model_registry/v1alpha3/…`` (older
servers) and ``/api/model_registry/v1/…`` (newer ones, and what the
``model-registry`` Python client calls). With ``api_version = "auto"`` the first
call asks ``v1`` and falls back to ``v1alpha3`` when the server does not know it.

Ids are decimal strings the server assigns; names are unique per type (model
names in the registry, version names within their model) and never change, so
modelgate addresses models and versions by name and caches the ids.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx

from adapters.kubeflow.options import PREFIX, KubeflowSettings
from adapters.toolkit.auth import BearerTokenAuth
from adapters.toolkit.http import ErrorTranslator, JsonHttpClient, message_error_translator
from adapters.toolkit.paging import listing, listing_token
from adapters.toolkit.retry import RetryPolicy
from gateway.errors import RegistryNotFound


def error_translator(registry_id: str) -> ErrorTranslator:
    return message_error_translator(registry_id, "Kubeflow Model Registry", "code")


class KubeflowApi:
    """Thin calls over ``JsonHttpClient``; answers are the registry's JSON."""

    def __init__(
        self,
        registry_id: str,
        settings: KubeflowSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ):
        self.registry_id = registry_id
        self.settings = settings
        self.auth = BearerTokenAuth(settings.token)
        self._http = JsonHttpClient(
            registry_id,
            settings.base_url,
            error_translator(registry_id),
            auth=self.auth,
            timeout=settings.timeout_seconds,
            retry=retry,
            transport=transport,
        )
        self._version: str | None = None if settings.api_version == "auto" else settings.api_version
        self._detect = asyncio.Lock()

    async def api_version(self) -> str:
        """The generation in use: configured, or detected once (``v1`` first)."""
        if self._version is None:
            async with self._detect:
                if self._version is None:
                    try:
                        await self._http.get(f"{PREFIX}v1/registered_models", {"pageSize": 1})
                        self._version = "v1"
                    except RegistryNotFound:
                        await self._http.get(f"{PREFIX}v1alpha3/registered_models", {"pageSize": 1})
                        self._version = "v1alpha3"
        return self._version

    async def _path(self, path: str) -> str:
        return f"{PREFIX}{await self.api_version()}/{path}"

    async def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self._http.get(await self._path(path), params)

    async def find(self, path: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """A ``GET registered_model?name=…``-style lookup: None when nothing matches."""
        try:
            return await self.get(path, params)
        except RegistryNotFound:
            return None

    async def page(
        self,
        path: str,
        token: str | None = None,
        *,
        page_size: int | None = None,
        order_by: str = "ID",
        sort_order: str = "ASC",
        filter_query: str | None = None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "pageSize": page_size or self.settings.page_size,
            "orderBy": order_by,
            "sortOrder": sort_order,
        }
        if filter_query:
            params["filterQuery"] = filter_query
        if token:
            params["nextPageToken"] = token
        body = await self.get(path, params)
        # The server always sends ``items`` (and ``nextPageToken``, "" on the last page):
        # a page without them is not an empty page but a wrong answer.
        what = f"GET {path}"
        listing(self.registry_id, body, "items", what=what, always_sent=True)
        listing_token(self.registry_id, body, "nextPageToken", what=what)
        return dict(body)

    async def every(self, path: str, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        """Every item of a listing, following ``nextPageToken``."""
        token: str | None = None
        seen: set[str] = set()
        while True:
            body = await self.page(path, token, **kwargs)
            for item in body.get("items") or ():
                yield item
            token = body.get("nextPageToken") or None
            if not token or token in seen or not body.get("items"):
                return
            seen.add(token)

    async def patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A write, sent once."""
        result: dict[str, Any] = await self._http.send("PATCH", await self._path(path), json_body=body)
        return result

    async def aclose(self) -> None:
        await self._http.aclose()
