"""JSON over HTTP with the habits every HTTP registry needs: one way to build the
httpx client, bodies read no further than a cap, error bodies turned into
``RegistryError`` values that name the registry and the call, and registry URLs
checked when the config is read."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import httpx

from adapters.toolkit.errors import error_for_status, retry_after_seconds
from adapters.toolkit.retry import RetryPolicy, retry_read
from gateway.config import ConfigError, is_loopback_host
from gateway.errors import RegistryError, RegistryUnavailable

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "ErrorTranslator",
    "JsonHttpClient",
    "ResponseTooLarge",
    "current_response_cap",
    "error_object",
    "message_error_translator",
    "registry_client",
    "registry_url",
    "response_cap",
    "send_capped",
]

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
# The cap of the registry whose adapter is being built: its HTTP clients take it
# when they are made (``response_cap``), so no adapter has to pass it along.
_RESPONSE_CAP: ContextVar[int] = ContextVar("modelgate_response_cap", default=DEFAULT_MAX_RESPONSE_BYTES)

ErrorTranslator = Callable[[httpx.Response], RegistryError]


@contextlib.contextmanager
def response_cap(max_bytes: int) -> Iterator[None]:
    """Clients made inside read at most ``max_bytes`` of any one response body."""
    reset = _RESPONSE_CAP.set(max_bytes)
    try:
        yield
    finally:
        _RESPONSE_CAP.reset(reset)


def current_response_cap() -> int:
    return _RESPONSE_CAP.get()


class ResponseTooLarge(RegistryUnavailable):
    """A body past the registry's ``max_response_bytes``: reading stopped there.
    Not retried: the registry would send the same again."""

    retryable = False


def registry_url(
    value: str,
    key: str,
    *,
    expected: str = "an http(s) URL",
    https_off_loopback: bool = False,
    bare: bool = False,
) -> str:
    """A registry URL from the config, without its trailing ``/``; ``ConfigError``
    naming ``key`` unless it is http(s) with a host ("expected <expected>"). With
    ``https_off_loopback``, plain http only to a loopback host (secrets must not
    cross a network in clear text); with ``bare``, no query or fragment."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(key, f"expected {expected}, got {value!r}")
    if https_off_loopback and parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError(key, f"must use https (plain http is allowed only for loopback), got {value!r}")
    if bare and (parts.query or parts.fragment):
        raise ConfigError(key, f"must not carry a query or fragment, got {value!r}")
    return value.rstrip("/")


def error_object(response: httpx.Response, key: str = "error") -> Mapping[str, Any] | None:
    """The ``{"error": {...}}`` object of an error body (Google's and Azure Resource
    Manager's envelope), or None when the body is not JSON or has none."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get(key) if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def registry_client(
    base_url: str = "",
    *,
    timeout: float = 10.0,
    auth: httpx.Auth | None = None,
    headers: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The httpx client every registry is spoken to with: the call's ``timeout``
    for reads and writes, at most five seconds to connect (an unreachable host is
    known quickly, a slow answer is waited for)."""
    return httpx.AsyncClient(
        base_url=base_url,
        auth=auth,
        headers=dict(headers or {}),
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        transport=transport,
    )


async def send_capped(
    client: httpx.AsyncClient, registry_id: str, request: httpx.Request, max_bytes: int
) -> httpx.Response:
    """Send ``request`` and read its body while it stays within ``max_bytes``
    (decoded), so an outsized answer never sits in memory whole."""
    response = await client.send(request, stream=True)
    try:
        declared = response.headers.get("Content-Length", "")
        too_large = declared.isdigit() and int(declared) > max_bytes
        chunks: list[bytes] = []
        size = 0
        if not too_large:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    too_large = True
                    break
                chunks.append(chunk)
    finally:
        await response.aclose()
    if too_large:
        url = str(request.url.copy_with(query=None))
        raise ResponseTooLarge(
            registry_id,
            f"answered {request.method} {request.url.path} with more than {max_bytes} bytes "
            "(max_response_bytes); reading stopped there",
            status=response.status_code,
            url=url,
        )
    # The body as read (decoded): headers that describe the wire form no longer apply.
    headers = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
    ]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=b"".join(chunks),
        request=request,
        extensions=response.extensions,
    )


def message_error_translator(registry_id: str, service: str, code_key: str) -> ErrorTranslator:
    """A server whose error body is ``{"<code_key>": …, "message": …}`` (Kubeflow's
    ``code``, Unity Catalog's ``error_code``) → the shared taxonomy, naming the
    call that failed."""

    def translate(response: httpx.Response) -> RegistryError:
        code: str | None = None
        message = response.text[:300] or response.reason_phrase
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            message = body["message"]
            code = str(body.get(code_key) or "") or None
        method, path = response.request.method, response.request.url.path
        text = f"{service} answered {method} {path} with {response.status_code}: {message}"
        retry = retry_after_seconds(response.headers.get("Retry-After"))
        return error_for_status(
            registry_id, response.status_code, text, registry_code=code, retry_after=retry
        )

    return translate


class JsonHttpClient:
    """httpx with the habits every HTTP registry needs: timeouts, retried GETs,
    never-retried writes, bodies read no further than ``max_response_bytes``, and
    the registry's error bodies turned into ``RegistryError`` values that name the
    registry."""

    def __init__(
        self,
        registry_id: str,
        base_url: str,
        translate_error: ErrorTranslator,
        *,
        auth: httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_response_bytes: int | None = None,
    ):
        self.registry_id = registry_id
        self._translate = translate_error
        self.max_response_bytes = max_response_bytes or current_response_cap()
        self._retry = retry or RetryPolicy(deadline_seconds=timeout * 2)
        self._client = registry_client(
            base_url, timeout=timeout, auth=auth, headers=headers, transport=transport
        )

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return await retry_read(lambda: self._send("GET", path, params=params), self._retry)

    async def get_linked(self, path: str, params: Mapping[str, Any] | None = None) -> tuple[Any, str | None]:
        """A retried GET of one page of a listing paged by ``Link: <url>; rel="next"``
        (RFC 8288, as GitHub and the Hugging Face Hub page): the body and the next
        page's URL, or None on the last page."""

        async def once() -> tuple[Any, str | None]:
            response = await self._request("GET", path, params=params)
            next_url = response.links.get("next", {}).get("url")
            return self._json_of(response, "GET", path), next_url or None

        return await retry_read(once, self._retry)

    async def send(self, method: str, path: str, *, json_body: Any = None, params: Any = None) -> Any:
        """A write: sent once. A transport failure is reported, not retried, because
        the registry may have applied it."""
        return await self._send(method, path, params=params, json_body=json_body)

    async def _send(self, method: str, path: str, *, params: Any = None, json_body: Any = None) -> Any:
        response = await self._request(method, path, params=params, json_body=json_body)
        return self._json_of(response, method, path)

    async def _request(
        self, method: str, path: str, *, params: Any = None, json_body: Any = None
    ) -> httpx.Response:
        try:
            request = self._client.build_request(method, path, params=params, json=json_body)
            response = await send_capped(self._client, self.registry_id, request, self.max_response_bytes)
        except httpx.TimeoutException as exc:
            raise RegistryUnavailable(
                self.registry_id, f"timed out ({type(exc).__name__})", url=self._url_of(path)
            ) from exc
        except httpx.TransportError as exc:
            raise RegistryUnavailable(
                self.registry_id, f"unreachable ({exc})", url=self._url_of(path)
            ) from exc
        if response.status_code >= 400:
            raise self._translate(response)
        return response

    def _json_of(self, response: httpx.Response, method: str, path: str) -> Any:
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            raise RegistryUnavailable(
                self.registry_id,
                f"answered {method} {path} with a body that is not JSON",
                status=response.status_code,
            ) from exc

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    def _url_of(self, path: str) -> str:
        """The URL a request went to, without its query (which may carry filters)."""
        return str(self._client.base_url.join(path).copy_with(query=None))

    async def aclose(self) -> None:
        await self._client.aclose()
