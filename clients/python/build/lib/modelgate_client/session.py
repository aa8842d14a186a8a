"""The one seam to the network: GraphQL over HTTP and the artifact routes, with
every failure turned into a ``ModelgateError`` carrying the gateway's code and
message (or the client's own code when no answer came). httpx is imported here,
when a session is built, so ``import modelgate_client`` stays fast.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from modelgate_client.credentials import Credentials
from modelgate_client.errors import ConnectionFailed, ModelgateError, Refused

if TYPE_CHECKING:
    import httpx

USER_AGENT = "modelgate-client/0.1"
# A catalogue that lost one registry still answers; its part comes from the index.
PARTIAL_CODES = frozenset({"REGISTRY_UNAVAILABLE"})
# Codes that mean "the gateway understood and said no" (mg exits 1), not a usage error.
REFUSAL_CODES = frozenset({"FORBIDDEN", "CONFLICT"})


class RegistryWarning(UserWarning):
    """A registry did not answer; the result came from the gateway's index."""


def error_of(code: str, message: str, *, status: int | None = None, details: Any = None) -> ModelgateError:
    cls = Refused if code in REFUSAL_CODES else ModelgateError
    return cls(code, message, status=status, details=details)


class Session:
    def __init__(self, url: str, credentials: Credentials, timeout: float):
        import httpx

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ModelgateError(
                "BAD_URL", f"MODELGATE_URL must be an http:// or https:// URL of the gateway, not {url!r}"
            )
        self.url = url.rstrip("/")
        self.origin = (parts.scheme, parts.netloc)
        self.credentials = credentials
        self.http = httpx.Client(
            base_url=self.url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"user-agent": USER_AGENT},
            follow_redirects=False,
        )

    def close(self) -> None:
        self.http.close()

    def auth_headers(self, url: str | None = None) -> dict[str, str]:
        """Credentials for the gateway; none for another origin (a store's signed URL
        carries its own signature, and must not see the gateway's credentials)."""
        if url is not None:
            parts = urlsplit(url)
            if parts.netloc and (parts.scheme, parts.netloc) != self.origin:
                return {}
        return self.credentials.headers()

    # --- GraphQL -----------------------------------------------------------------

    def graphql(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The ``data`` of an answer; raises the first error unless every error is a
        registry's outage (then a RegistryWarning is issued and the data returned)."""
        body = {"query": document, "variables": dict(variables or {})}
        with self.call("POST /graphql"):
            response = self.http.post("/graphql", json=body, headers=self.auth_headers())
        answer = self.decode(response)
        errors = answer.get("errors") or []
        data = answer.get("data")
        if errors:
            codes = {_code_of(e) for e in errors}
            if data is None or not codes <= PARTIAL_CODES:
                first = errors[0]
                raise error_of(_code_of(first), str(first.get("message", "")), details=errors)
            for e in errors:
                warnings.warn(
                    str(e.get("message", "a registry is unavailable")), RegistryWarning, stacklevel=3
                )
        if not isinstance(data, dict):
            raise ModelgateError("BAD_ANSWER", "the gateway answered without data")
        return data

    def decode(self, response: httpx.Response) -> dict[str, Any]:
        """A JSON answer, or the gateway's error as an exception."""
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code >= 400 or not isinstance(answer, dict):
            raise self.http_error(response, answer)
        return answer

    def http_error(self, response: httpx.Response, answer: Any = None) -> ModelgateError:
        status = response.status_code
        errors = answer.get("errors") if isinstance(answer, dict) else None
        if errors:
            return error_of(
                _code_of(errors[0]), str(errors[0].get("message", "")), status=status, details=errors
            )
        if status == 401:
            return ModelgateError(
                "UNAUTHENTICATED",
                f"the gateway refused {self.credentials.description} (HTTP 401)",
                status=status,
            )
        text = response.text[:200].strip() if response.content else ""
        return ModelgateError(
            f"HTTP_{status}",
            f"{response.request.method} {response.request.url} answered {status} {text}".strip(),
            status=status,
        )

    @contextmanager
    def call(self, what: str) -> Iterator[None]:
        """Transport failures as CONNECTION_FAILED, naming the gateway."""
        import httpx

        try:
            yield
        except httpx.TimeoutException as exc:
            raise ConnectionFailed(
                "CONNECTION_FAILED", f"{what} to {self.url} timed out ({type(exc).__name__})"
            ) from None
        except (httpx.TransportError, httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise ConnectionFailed(
                "CONNECTION_FAILED", f"cannot reach the gateway at {self.url}: {exc}"
            ) from None


def _code_of(error: Mapping[str, Any]) -> str:
    extensions = error.get("extensions") or {}
    return str(extensions.get("code") or "GRAPHQL_ERROR")
