"""The Vertex AI REST v1 calls modelgate makes, and Google's errors as ``RegistryError`` values.

Resource names: a model is ``projects/P/locations/L/models/ID``; a version is
addressed as ``…/models/ID@VERSION`` (or ``@ALIAS``); without ``@`` Vertex
answers with the version holding the ``default`` alias. Every version is a full
``Model`` resource of its own. Names in responses may carry the project
*number* where the request used the project ID, so modelgate never compares
project segments.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from adapters.toolkit.errors import error_for_status, retry_after_seconds
from adapters.toolkit.http import ErrorTranslator, JsonHttpClient, error_object
from adapters.toolkit.retry import RetryPolicy
from adapters.vertex.auth import ServiceAccountAuth
from adapters.vertex.options import VertexSettings
from gateway.errors import (
    RegistryError,
    RegistryRejected,
)

# Lineage needs the execution that output the model (one hop) and its inputs (two).
LINEAGE_MAX_HOPS = 2


def error_translator(registry_id: str, service: str = "Vertex AI") -> ErrorTranslator:
    """Google's error body ``{"error": {"code", "message", "status"}}`` → a coded error."""

    def translate(response: httpx.Response) -> RegistryError:
        code = response.status_code
        status, message = _google_error(response)
        if code == 401:
            text = f"{service} refused the access token ({message})"
        else:
            text = f"{service} answered {code} {status}: {message}"
        return error_for_status(
            registry_id,
            code,
            text,
            registry_code=status,
            retry_after=retry_after_seconds(response.headers.get("retry-after")),
            # The keys this adapter used before the shared taxonomy, kept for clients
            # that read them: the same values as registryCode and the error's status.
            registry_status=status,
            http_status=code,
        )

    return translate


def _google_error(response: httpx.Response) -> tuple[str, str]:
    error = error_object(response)
    if error is not None:
        status = error.get("status") or response.reason_phrase or "UNKNOWN"
        return str(status), str(error.get("message") or "no message")
    # Google's front end answers some failures (unknown URL, some 502s) with HTML.
    return response.reason_phrase or "UNKNOWN", f"HTTP {response.status_code} without a Google error body"


class VertexApi:
    """Thin, typed-enough calls over ``JsonHttpClient``; answers are Vertex JSON."""

    def __init__(
        self,
        registry_id: str,
        settings: VertexSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,  # when tokens are due for refresh
    ):
        self.settings = settings
        self.auth = ServiceAccountAuth(
            registry_id,
            settings.account,
            settings.token_url,
            audience=settings.token_audience,
            timeout=settings.timeout_seconds,
            transport=transport,
            clock=clock,
        )
        self._http = JsonHttpClient(
            registry_id,
            settings.api_base,
            error_translator(registry_id),
            auth=self.auth,
            timeout=settings.timeout_seconds,
            retry=retry,
            transport=transport,
        )

    def model_path(self, model_id: str, version: str | None = None) -> str:
        name = f"{self.settings.parent}/models/{model_id}"
        return f"{name}@{version}" if version else name

    async def list_models(
        self,
        page_token: str | None = None,
        *,
        order_by: str = "create_time",
        page_size: int | None = None,
        read_mask: str | None = None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"pageSize": page_size or self.settings.page_size, "orderBy": order_by}
        if self.settings.model_filter:
            params["filter"] = self.settings.model_filter
        if page_token:
            params["pageToken"] = page_token
        if read_mask:
            params["readMask"] = read_mask
        return await self._http.get(f"{self.settings.parent}/models", params)

    async def get_model(self, model_id: str, version: str | None = None) -> dict[str, Any] | None:
        """The version (or, without one, the ``default`` version); None on 404."""
        try:
            return await self._http.get(self.model_path(model_id, version))
        except RegistryRejected as exc:
            if exc.status == 404:
                return None
            raise

    async def list_versions(self, model_id: str, page_token: str | None = None) -> dict[str, Any] | None:
        params: dict[str, Any] = {"pageSize": self.settings.page_size, "orderBy": "create_time"}
        if page_token:
            params["pageToken"] = page_token
        try:
            return await self._http.get(f"{self.model_path(model_id)}:listVersions", params)
        except RegistryRejected as exc:
            if exc.status == 404:
                return None
            raise

    async def merge_version_aliases(self, model_id: str, version: str, aliases: list[str]) -> dict[str, Any]:
        """A write, sent once. ``-alias`` removes; an added alias leaves the version that held it."""
        path = f"{self.model_path(model_id, version)}:mergeVersionAliases"
        return await self._http.send("POST", path, json_body={"versionAliases": aliases})

    async def patch_labels(
        self, model_id: str, version: str, labels: dict[str, str], etag: str | None
    ) -> dict[str, Any]:
        """Replace one version's labels (``updateMask=labels`` replaces the whole map).
        The etag makes Vertex refuse the write if the version changed since it was read."""
        body: dict[str, Any] = {"labels": labels}
        if etag:
            body["etag"] = etag
        return await self._http.send(
            "PATCH", self.model_path(model_id, version), json_body=body, params={"updateMask": "labels"}
        )

    async def list_endpoints(self, page_token: str | None = None) -> dict[str, Any]:
        """One page of the location's endpoints (``deployedModels``, ``trafficSplit``)."""
        params: dict[str, Any] = {"pageSize": self.settings.page_size}
        if page_token:
            params["pageToken"] = page_token
        return await self._http.get(f"{self.settings.parent}/endpoints", params)

    async def get_endpoint(self, name: str) -> dict[str, Any]:
        """One endpoint by resource name (``projects/P/locations/L/endpoints/ID``)."""
        return await self._http.get(name)

    async def patch_traffic_split(self, name: str, split: dict[str, int]) -> dict[str, Any]:
        """Replace the endpoint's whole ``trafficSplit`` (the field mask names only it)."""
        return await self._http.send(
            "PATCH", name, json_body={"trafficSplit": split}, params={"updateMask": "trafficSplit"}
        )

    async def deploy_model(
        self, name: str, deployed_model: dict[str, Any], split: dict[str, int]
    ) -> dict[str, Any]:
        """``endpoints.deployModel``: a long-running operation (poll ``get_operation``);
        ``"0"`` in ``split`` names the model being deployed. Sent once."""
        body = {"deployedModel": deployed_model, "trafficSplit": split}
        return await self._http.send("POST", f"{name}:deployModel", json_body=body)

    async def get_operation(self, name: str) -> dict[str, Any]:
        return await self._http.get(name)

    async def list_operations(self, name: str, page_token: str | None = None) -> dict[str, Any]:
        """One page of a resource's long-running operations (``…/operations``)."""
        params: dict[str, Any] = {"pageSize": self.settings.page_size}
        if page_token:
            params["pageToken"] = page_token
        return await self._http.get(f"{name}/operations", params)

    async def lineage_subgraph(self, artifact: str) -> dict[str, Any] | None:
        """The ML Metadata lineage around an artifact; None if the artifact is gone."""
        try:
            return await self._http.get(
                f"{artifact}:queryArtifactLineageSubgraph", {"maxHops": LINEAGE_MAX_HOPS}
            )
        except RegistryRejected as exc:
            if exc.status == 404:
                return None
            raise

    async def aclose(self) -> None:
        await self._http.aclose()
        await self.auth.aclose()
