"""MLflow's REST API (``/api/2.0/mlflow``): one method per endpoint the adapter calls.

Reads (GETs) are retried with jittered backoff inside a deadline, writes are sent
once, and MLflow's ``{error_code, message}`` bodies become ``RegistryError`` values
(``mapping.translate_error``). Answers are returned as MLflow sent them: reading
them is ``mapping``'s job. The run, metric-history and change readers share this
client's ``http``.
"""

from __future__ import annotations

from typing import Any

import httpx

from adapters.mlflow.mapping import path_segment, translate_error
from adapters.mlflow.options import Credentials, MlflowOptions
from adapters.toolkit.http import JsonHttpClient
from adapters.toolkit.retry import RetryPolicy


class MlflowApi:
    def __init__(
        self,
        registry_id: str,
        options: MlflowOptions,
        credentials: Credentials,
        *,
        retry: RetryPolicy,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.http = JsonHttpClient(
            registry_id,
            f"{options.url.rstrip('/')}/api/2.0/mlflow/",
            translate_error(registry_id),
            auth=credentials.auth,
            headers=credentials.headers,
            timeout=options.timeout_seconds,
            retry=retry,
            transport=transport,
        )

    # --- reads (retried) -----------------------------------------------------

    async def search_models(self, query: dict[str, Any]) -> Any:
        return await self.http.get("registered-models/search", query)

    async def get_model(self, name: str) -> Any:
        return await self.http.get("registered-models/get", {"name": name})

    async def search_versions(self, query: dict[str, Any]) -> Any:
        return await self.http.get("model-versions/search", query)

    async def get_version(self, name: str, version: str) -> Any:
        return await self.http.get("model-versions/get", {"name": name, "version": version})

    async def get_logged_model(self, model_id: str) -> Any:
        return await self.http.get(f"logged-models/{path_segment(model_id)}")

    async def probe(self) -> None:
        """One unretried search: a probe should answer fast, not wait out a backoff."""
        await self.http.send("GET", "registered-models/search", params={"max_results": 1})

    # --- writes (sent once) --------------------------------------------------

    async def transition_stage(self, name: str, version: str, stage: str, *, archive_existing: bool) -> None:
        body = {
            "name": name,
            "version": version,
            "stage": stage,
            "archive_existing_versions": archive_existing,
        }
        await self.http.send("POST", "model-versions/transition-stage", json_body=body)

    async def set_alias(self, name: str, alias: str, version: str) -> None:
        body = {"name": name, "alias": alias, "version": version}
        await self.http.send("POST", "registered-models/alias", json_body=body)

    async def delete_alias(self, name: str, alias: str) -> None:
        await self.http.send("DELETE", "registered-models/alias", json_body={"name": name, "alias": alias})

    async def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        body = {"name": name, "version": version, "key": key, "value": value}
        await self.http.send("POST", "model-versions/set-tag", json_body=body)

    async def delete_version_tag(self, name: str, version: str, key: str) -> None:
        body = {"name": name, "version": version, "key": key}
        await self.http.send("DELETE", "model-versions/delete-tag", json_body=body)

    @property
    def base_url(self) -> str:
        return self.http.base_url

    async def aclose(self) -> None:
        await self.http.aclose()
