"""GraphQL over httpx to ``<url>/graphql`` with HTTP Basic ``api:<key>``, as the
``wandb`` SDK (through wandb-core) sends it.

Queries are idempotent and retried with the shared ``RetryPolicy``; a 429 waits
at least its ``Retry-After`` (W&B rate-limits per user) within the policy's
deadline. Mutations are sent once. W&B answers GraphQL errors with a 4xx/5xx
status and ``{"errors": [{"message"}]}``, or with 200 and ``errors`` beside
``data``; both become ``RegistryError`` values carrying W&B's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from adapters.toolkit.errors import error_for_status, retry_after_seconds
from adapters.toolkit.http import JsonHttpClient, send_capped
from adapters.toolkit.retry import RetryPolicy, retry_read
from adapters.wandb.options import WandbSettings
from gateway.errors import RegistryError, RegistryRejected, RegistryUnavailable


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors:
        return (
            "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict)) or response.reason_phrase
        )
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return response.text[:300] or response.reason_phrase


def error_translator(registry_id: str) -> Any:
    """W&B's answer → the shared error taxonomy, with W&B's own message."""

    def translate(response: httpx.Response) -> RegistryError:
        text = f"W&B answered with {response.status_code}: {_message(response)}"
        retry = retry_after_seconds(response.headers.get("Retry-After"))
        return error_for_status(registry_id, response.status_code, text, retry_after=retry)

    return translate


class WandbApi:
    def __init__(
        self,
        registry_id: str,
        settings: WandbSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ):
        self.registry_id = registry_id
        self.settings = settings
        self._retry = retry or RetryPolicy(deadline_seconds=settings.timeout_seconds * 2)
        self._http = JsonHttpClient(
            registry_id,
            settings.base_url,
            error_translator(registry_id),
            auth=httpx.BasicAuth("api", settings.api_key),
            headers={"User-Agent": "modelgate"},
            timeout=settings.timeout_seconds,
            retry=self._retry,
            transport=transport,
        )
        # Manifests live in object storage behind signed URLs: fetched without the API key.
        self._storage = httpx.AsyncClient(timeout=settings.timeout_seconds, transport=transport)

    @property
    def base_url(self) -> str:
        return self._http.base_url

    async def query(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A read (GraphQL queries are POSTs), retried like every read on 429/5xx/transport
        failures, honouring ``Retry-After``."""
        return await retry_read(lambda: self._post(document, variables), self._retry)

    async def mutate(self, document: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        """A write: sent once, never retried (W&B may have applied it)."""
        return await self._post(document, variables)

    async def _post(self, document: str, variables: Mapping[str, Any] | None) -> dict[str, Any]:
        body = await self._http.send(
            "POST", "/graphql", json_body={"query": document, "variables": dict(variables or {})}
        )
        if not isinstance(body, dict):
            raise RegistryUnavailable(
                self.registry_id, "W&B answered /graphql with a body that is not an object"
            )
        errors = body.get("errors")
        if errors:
            messages = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict))
            raise RegistryRejected(self.registry_id, f"W&B answered with errors: {messages}")
        data = body.get("data")
        return data if isinstance(data, dict) else {}

    async def storage_json(self, url: str) -> Any:
        """A JSON file from storage (an artifact manifest), retried like a read."""
        for attempt in range(1, self._retry.attempts + 1):
            try:
                request = self._storage.build_request("GET", url)
                response = await send_capped(
                    self._storage, self.registry_id, request, self._http.max_response_bytes
                )
            except httpx.TransportError as exc:
                if attempt == self._retry.attempts:
                    raise RegistryUnavailable(self.registry_id, f"manifest unreachable ({exc})") from exc
                continue
            if response.status_code >= 500 and attempt < self._retry.attempts:
                continue
            if response.status_code >= 400:
                raise error_translator(self.registry_id)(response)
            try:
                return response.json()
            except ValueError as exc:
                raise RegistryUnavailable(self.registry_id, "an artifact manifest is not JSON") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._storage.aclose()
