"""Authentication as ``httpx.Auth``, so ``JsonHttpClient`` stays the one seam to a
registry: a bearer token from a value or a rotating file, and one OAuth access
token that is cached, refreshed before it expires and once more on a 401."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from pathlib import Path
from typing import Any

import httpx
from authlib.integrations.base_client.errors import OAuthError

from gateway.config import ConfigError, SecretSource
from gateway.errors import RegistryAuthError, RegistryError, RegistryUnavailable

__all__ = [
    "HTTP_STATUS_ERRORS",
    "HTTP_TIMEOUTS",
    "HTTP_TRANSPORT_ERRORS",
    "BearerTokenAuth",
    "RefreshingTokenAuth",
    "read_credential_file",
    "token_from_response",
]


class BearerTokenAuth(httpx.Auth):
    """``Authorization: Bearer`` from a fixed value or a token file, re-read when the
    file changes (Kubernetes rotates projected service-account tokens in place; a
    personal access token file is replaced on rotation)."""

    def __init__(self, source: SecretSource):
        self._source = source
        self._cached: tuple[float, str] | None = None

    def token(self) -> str | None:
        if self._source.value:
            return self._source.value
        if self._source.path is None:
            return None
        try:
            mtime = self._source.path.stat().st_mtime
            if self._cached is None or self._cached[0] != mtime:
                self._cached = (mtime, self._source.path.read_text(encoding="utf-8").strip())
        except OSError:
            return self._cached[1] if self._cached else None  # keep the last token we could read
        return self._cached[1]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if token := self.token():
            request.headers["Authorization"] = f"Bearer {token}"
        yield request


def read_credential_file(path: str, key: str) -> str:
    """A key or secret file named at config ``key``, read now so that a wrong path
    fails at start-up (``ConfigError`` naming the key and the OS's reason)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(key, f"cannot read {path}: {exc.strerror}") from None


def _with_httpx2(name: str) -> tuple[type[Any], ...]:
    """``httpx.<name>`` and, when installed, ``httpx2.<name>``: authlib's httpx
    integration switches to the ``httpx2`` fork whenever it is importable (the
    ``huggingface-hub`` client brings it), and then raises that fork's errors."""
    own: type[Any] = getattr(httpx, name)
    try:
        import httpx2  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return (own,)
    return (own, getattr(httpx2, name))


# What an OAuth client built on authlib raises, whichever httpx it runs on; catch
# these in this order (a timeout is a transport error too).
HTTP_STATUS_ERRORS: tuple[type[httpx.HTTPStatusError], ...] = _with_httpx2("HTTPStatusError")
HTTP_TIMEOUTS: tuple[type[httpx.TimeoutException], ...] = _with_httpx2("TimeoutException")
HTTP_TRANSPORT_ERRORS: tuple[type[httpx.TransportError], ...] = _with_httpx2("TransportError")


def token_from_response(
    registry_id: str, who: str, token: Mapping[str, Any], started: float, margin_seconds: float
) -> tuple[str, float]:
    """The access token of an OAuth token-endpoint answer and when to refresh it:
    ``margin_seconds`` (at most a tenth of its life) before ``expires_in`` runs out,
    counted from ``started``. An answer without a token is ``RegistryAuthError``."""
    access_token = token.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise RegistryAuthError(registry_id, f"{who} answered without an access_token")
    try:
        lifetime = float(token.get("expires_in") or 3600)
    except (TypeError, ValueError):
        lifetime = 3600.0
    return access_token, started + lifetime - min(margin_seconds, lifetime / 10)


class RefreshingTokenAuth(httpx.Auth):
    """An OAuth 2.0 access token (authlib's clients fetch it), as ``httpx.Auth``.

    The token is fetched before the first request and cached; it is refreshed
    ``margin_seconds`` (at most a tenth of its life) *before* it expires, so no
    request goes out with a dying token, and once more when the registry answers
    401 (revoked, or expired earlier than announced): one fresh token, one resend.
    Concurrent requests share one refresh. The token endpoint's refusals become
    ``RegistryAuthError`` ("cannot authenticate"); a failing or unreachable token
    endpoint ``RegistryUnavailable``.

    A kind says how to ask for a token (``request_token``), who is asking (``who``,
    for messages), and what a ``ValueError`` from its client means (``not_understood``).
    """

    requires_request_body = False
    requires_response_body = False

    def __init__(
        self,
        registry_id: str,
        token_url: str,
        *,
        margin_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._registry_id = registry_id
        self._token_url = token_url
        self._margin = margin_seconds
        self._clock = clock
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    @property
    def who(self) -> str:
        """Who asks for tokens, for messages ("app … in tenant … at <url>")."""
        return f"client at {self._token_url}"

    async def request_token(self) -> Mapping[str, Any]:
        """One token-endpoint answer (``access_token``, ``expires_in``)."""
        raise NotImplementedError

    def not_understood(self, exc: ValueError) -> RegistryError:
        """What a ``ValueError`` from the client means (an answer that is not JSON)."""
        return RegistryUnavailable(
            self._registry_id, f"token endpoint {self._token_url} answered without JSON"
        )

    async def aclose(self) -> None:
        """Close the client that fetches tokens."""

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError(f"{type(self).__name__} works with httpx.AsyncClient only")

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
        """A token valid for a while yet; ``stale`` is one the registry just refused."""
        async with self._lock:  # concurrent requests share one refresh
            if self._token is not None and self._token != stale and self._clock() < self._refresh_at:
                return self._token
            return await self._fetch()

    async def _fetch(self) -> str:
        who, url = self.who, self._token_url
        started = self._clock()
        self.fetches += 1
        try:
            token = await self.request_token()
        except OAuthError as exc:
            detail = f" ({exc.description})" if exc.description else ""
            raise RegistryAuthError(self._registry_id, f"{who} was refused: {exc.error}{detail}") from None
        except HTTP_STATUS_ERRORS as exc:
            status = exc.response.status_code
            if status == 429 or status >= 500:
                message = f"token endpoint {url} answered HTTP {status}"
                raise RegistryUnavailable(self._registry_id, message, status=status) from None
            raise RegistryAuthError(self._registry_id, f"{who} was refused with HTTP {status}") from None
        except HTTP_TIMEOUTS:
            raise RegistryUnavailable(self._registry_id, f"token endpoint {url} timed out") from None
        except HTTP_TRANSPORT_ERRORS as exc:
            raise RegistryUnavailable(
                self._registry_id, f"token endpoint {url} unreachable ({exc})"
            ) from None
        except ValueError as exc:
            raise self.not_understood(exc) from None
        access_token, self._refresh_at = token_from_response(
            self._registry_id, who, token, started, self._margin
        )
        self._token = access_token
        return access_token
