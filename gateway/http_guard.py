"""What a request must be before any route sees it (one ASGI middleware):

- **A JSON body for a state-changing route.** A POST, PUT, PATCH or DELETE that
  reaches a route must say ``Content-Type: application/json``, else HTTP 415
  ``UNSUPPORTED_MEDIA_TYPE``. An HTML form can post only form encodings or
  ``text/plain`` without a CORS preflight, so a page elsewhere cannot make a
  browser send one of these. The routes whose body is something else by design
  are named by ``raw_body_prefixes``: artifact uploads (raw bytes) and registry
  webhooks (the registry's own payload, signed). A request that reaches no route
  passes on, to its 404 or 405.
- **Its own Host and Origin, when no one authenticates** (``auth.mode = "none"``,
  where every caller is the local operator). ``Host`` must name an address this
  gateway serves: ``server.host``, the address the connection arrived at, the
  loopback names when either is loopback, or a name in ``server.allowed_hosts``.
  That defeats DNS rebinding (a page on evil.example, re-resolved to 127.0.0.1,
  still sends ``Host: evil.example``). ``Origin``, when sent, must be the request's
  own origin (scheme, host and port) or a host in ``server.allowed_hosts``: a page
  on another local port is another origin. Either refusal is HTTP 403
  ``FORBIDDEN`` naming the header (``extensions.header``). Registry webhooks
  (``signed_prefixes``) are judged by their signature instead: a registry may
  know the gateway by any name, and a page cannot sign.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import urlsplit

from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.config import ServerSettings, is_loopback_host
from gateway.http_errors import REQUEST_ID_HEADER, error_bytes

# (code, message, request id, extensions) -> the response body
ErrorShape = Callable[[str, str, str, Mapping[str, str]], bytes]
JSON = "application/json"
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def split_host(value: str) -> tuple[str, int | None]:
    """``host[:port]`` (IPv6 in brackets) as (lower-case host, port); ValueError if malformed."""
    parts = urlsplit(f"//{value.strip()}")
    return (parts.hostname or "").rstrip("."), parts.port


class RequestGuard:
    """ASGI middleware: the body's media type, and (``check_origin``) Host and Origin."""

    def __init__(
        self,
        app: ASGIApp,
        server: ServerSettings,
        check_origin: bool,
        raw_body_prefixes: Iterable[str] = (),
        signed_prefixes: Iterable[str] = (),
        error_shapes: Mapping[str, ErrorShape] | None = None,
    ):
        """``error_shapes``: the body of a refusal on routes under a prefix whose clients
        read another error shape (MLflow's under ``/mlflow/``); else ``error_bytes``."""
        self.app = app
        self.check_origin = check_origin
        self.raw_body_prefixes = tuple(raw_body_prefixes)
        self.signed_prefixes = tuple(signed_prefixes)
        self.error_shapes = dict(error_shapes or {})
        self.extra_hosts = frozenset(h.lower().rstrip(".") for h in server.allowed_hosts)
        self.hosts = {server.host.lower()} | self.extra_hosts
        if is_loopback_host(server.host):
            self.hosts |= LOOPBACK_NAMES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(scope)
            if refusal is not None:
                await _refuse(scope, send, *refusal, shape=self.shape_for(scope["path"]))
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> tuple[int, str, str, dict[str, str]] | None:
        """(status, code, message, extensions) of a request to refuse, else None."""
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}
        if self.check_origin and not scope["path"].startswith(self.signed_prefixes):
            if (problem := self.foreign_host(scope, headers)) is not None:
                return 403, "FORBIDDEN", problem, {"header": "host"}
            if (problem := self.foreign_origin(scope, headers)) is not None:
                return 403, "FORBIDDEN", problem, {"header": "origin"}
        if scope["method"] not in SAFE_METHODS and self.needs_json(scope):
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            if media != JSON:
                shown = f"{media!r}" if media else "no Content-Type"
                return 415, UNSUPPORTED_MEDIA_TYPE, f"send the body as {JSON} (got {shown})", {}
        return None

    def shape_for(self, path: str) -> ErrorShape:
        return next(
            (shape for prefix, shape in self.error_shapes.items() if path.startswith(prefix)), error_bytes
        )

    def served_hosts(self, scope: Scope) -> set[str]:
        arrived = (scope.get("server") or ("", None))[0] or ""
        hosts = self.hosts | {arrived.lower()}
        return hosts | LOOPBACK_NAMES if is_loopback_host(arrived) else hosts

    def foreign_host(self, scope: Scope, headers: dict[str, str]) -> str | None:
        host = headers.get("host")
        if host is None:  # HTTP/1.0 without one: no browser sends that
            return None
        try:
            name, _ = split_host(host)
        except ValueError:
            name = ""
        if name and name in self.served_hosts(scope):
            return None
        return (
            f"Host {host[:100]!r} is not an address this gateway serves "
            "(add it to server.allowed_hosts if it is)"
        )

    def foreign_origin(self, scope: Scope, headers: dict[str, str]) -> str | None:
        origin = headers.get("origin")
        if origin is None:
            return None
        problem = f"cross-origin request from {origin[:100]!r} refused (auth.mode is 'none')"
        try:
            parts = urlsplit(origin)
            name, port = (parts.hostname or "").rstrip("."), parts.port
            own_name, own_port = split_host(headers.get("host", ""))
        except ValueError:
            return problem
        if parts.scheme not in DEFAULT_PORTS or not name:
            return problem  # "null" (a sandboxed page, a file), or no web origin at all
        if name in self.extra_hosts:
            return None
        default = DEFAULT_PORTS[scope.get("scheme", "http")]
        same = (name, port or DEFAULT_PORTS[parts.scheme]) == (own_name, own_port or default)
        return None if same and parts.scheme == scope.get("scheme", "http") else problem

    def needs_json(self, scope: Scope) -> bool:
        """A request that reaches a route whose body is not declared raw."""
        if scope["path"].startswith(self.raw_body_prefixes):
            return False
        app = scope.get("app")
        routes = getattr(getattr(app, "router", None), "routes", ())
        return any(route.matches(scope)[0] is Match.FULL for route in routes)


async def _refuse(
    scope: Scope,
    send: Send,
    status: int,
    code: str,
    message: str,
    extensions: dict[str, str],
    *,
    shape: ErrorShape = error_bytes,
) -> None:
    request_id = (scope.get("state") or {}).get("request_id") or uuid.uuid4().hex
    body = shape(code, message, request_id, extensions)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (REQUEST_ID_HEADER.encode(), request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
