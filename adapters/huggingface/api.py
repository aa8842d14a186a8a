"""The Hugging Face Hub REST calls modelgate makes, and its errors as ``RegistryError`` values.

The routes ``huggingface_hub.HfApi`` calls: ``GET /api/models?author=…`` (paged by
``Link: <…>; rel="next"``), ``GET /api/models/{repo}`` and
``…/revision/{rev}`` (a repository's info at a revision, with its card data),
``GET …/refs`` (branches and tags with their target commits), ``POST
…/tag/{rev}`` and ``DELETE …/tag/{tag}``. Repository ids keep their ``/`` in paths,
revisions are percent-encoded whole, as the client sends them.

Throttling: the Hub answers 429 with ``RateLimit: "api";r=0;t=<seconds>`` (IETF
draft headers, parsed by ``huggingface_hub.utils.parse_ratelimit_headers``) and
sometimes ``Retry-After``; either becomes ``retryAfterSeconds``, which the shared
retry waits for.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from adapters.huggingface.options import HuggingFaceSettings
from adapters.toolkit.errors import error_for_status, retry_after_seconds
from adapters.toolkit.http import ErrorTranslator, JsonHttpClient
from adapters.toolkit.retry import RetryPolicy
from gateway.errors import RegistryError, RegistryNotFound, RegistryUnavailable

RATELIMIT = re.compile(r'"(?P<kind>\w+)"\s*;\s*r\s*=\s*(?P<r>\d+)\s*;\s*t\s*=\s*(?P<t>\d+)')
Wire = dict[str, Any]
NOT_FOUND_CODES = frozenset({"RepoNotFound", "RevisionNotFound", "EntryNotFound"})


def ratelimit_reset(headers: httpx.Headers) -> float | None:
    """Seconds until the window reopens: ``Retry-After``, else the ``RateLimit`` ``t``."""
    if (after := retry_after_seconds(headers.get("retry-after"))) is not None:
        return after
    match = RATELIMIT.search(headers.get("ratelimit") or "")
    return float(match["t"]) if match else None


def error_translator(registry_id: str) -> ErrorTranslator:
    """The Hub's ``{"error": …}`` body and ``X-Error-Code`` header → the shared taxonomy."""

    def translate(response: httpx.Response) -> RegistryError:
        message = response.headers.get("x-error-message") or ""
        try:
            body = response.json()
        except ValueError:
            body = None
        if not message and isinstance(body, dict) and isinstance(body.get("error"), str):
            message = body["error"]
        message = message or response.text[:300] or response.reason_phrase
        method, path = response.request.method, response.request.url.path
        text = f"Hugging Face Hub answered {method} {path} with {response.status_code}: {message}"
        code = response.headers.get("x-error-code")
        status = response.status_code
        # Anonymous, the Hub hides a missing or private repository behind 401 RepoNotFound.
        if status == 401 and code in NOT_FOUND_CODES:
            status = 404
        return error_for_status(
            registry_id,
            status,
            text,
            registry_code=code,
            retry_after=ratelimit_reset(response.headers) if response.status_code == 429 else None,
        )

    return translate


class HubApi:
    """Thin calls over ``JsonHttpClient``; answers are the Hub's JSON."""

    def __init__(
        self,
        registry_id: str,
        settings: HuggingFaceSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ):
        self.registry_id = registry_id
        self.settings = settings
        headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
        self._http = JsonHttpClient(
            registry_id,
            settings.endpoint,
            error_translator(registry_id),
            headers=headers,
            timeout=settings.timeout_seconds,
            retry=retry,
            transport=transport,
        )

    async def models_page(self, author: str, next_path: str | None) -> tuple[list[Wire], str | None]:
        """One page of an author's model repositories; the next page as a path on the
        endpoint (the Hub's ``Link`` URL, which must stay on the configured host: the
        token is never sent elsewhere)."""
        if next_path is None:
            params = {"author": author, "limit": self.settings.page_size}
            body, next_url = await self._http.get_linked("/api/models", params)
        else:
            body, next_url = await self._http.get_linked(next_path)
        if not isinstance(body, list):
            raise RegistryUnavailable(self.registry_id, "GET /api/models answered with something not a list")
        return body, self._local(next_url)

    def _local(self, url: str | None) -> str | None:
        if not url:
            return None
        parts = urlsplit(url)
        if parts.netloc and parts.netloc.lower() != self.settings.host:
            raise RegistryUnavailable(self.registry_id, f"paging link leaves {self.settings.host}: {url}")
        return parts.path + (f"?{parts.query}" if parts.query else "")

    async def model_info(self, repo_id: str, revision: str | None = None) -> Wire | None:
        """The repository's info (at ``revision``), or None when it (or the revision) does not exist."""
        path = f"/api/models/{repo_id}" + (f"/revision/{quote(revision, safe='')}" if revision else "")
        try:
            body: Wire = await self._http.get(path)
        except RegistryNotFound:
            return None
        return body

    async def refs(self, repo_id: str) -> Wire | None:
        """``{"branches": [...], "tags": [...], "converts": [...]}``, or None without the repository."""
        try:
            body: Wire = await self._http.get(f"/api/models/{repo_id}/refs")
        except RegistryNotFound:
            return None
        return body

    async def create_tag(self, repo_id: str, tag: str, revision: str, message: str) -> None:
        """A write, sent once."""
        await self._http.send(
            "POST",
            f"/api/models/{repo_id}/tag/{quote(revision, safe='')}",
            json_body={"tag": tag, "message": message},
        )

    async def delete_tag(self, repo_id: str, tag: str) -> None:
        """A write, sent once."""
        await self._http.send("DELETE", f"/api/models/{repo_id}/tag/{quote(tag, safe='')}")

    async def whoami(self) -> Wire:
        body: Wire = await self._http.get("/api/whoami-v2")
        return body

    @property
    def endpoint(self) -> str:
        return self.settings.endpoint

    async def aclose(self) -> None:
        await self._http.aclose()
