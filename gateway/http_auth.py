"""Who sent a request: the authenticator for the configured ``[auth] mode`` and
the ASGI middleware that runs it before any route.

Every route is authenticated except the probes and metrics (``/healthz``,
``/readyz``, ``/metrics``), registry webhooks (``/hooks/...``, which carry their
own HMAC signature), the dashboard's static files (``/``, ``/ui/...``) and the
GraphiQL page itself (the queries they send are authenticated like any other).
A request that fails gets HTTP 401 with ``WWW-Authenticate: Bearer
realm="modelgate"`` (plus ``error="invalid_token"`` when credentials were sent
but are bad) and never reaches a resolver; the principal of one that passes is
``request.state.principal``.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth.apikeys import ApiKeyVerifier
from gateway.auth.errors import AuthUnavailable, Unauthenticated
from gateway.auth.oidc import OidcVerifier
from gateway.auth.principal import LOCAL_OPERATOR, Principal
from gateway.auth.workload import IssuerVerifiers
from gateway.config import AuthSettings

PrincipalResolver = Callable[[Request], Awaitable[Principal]]
# Builds the error response (the server owns the envelope and request ids).
Rejection = Callable[[Request, Unauthenticated | AuthUnavailable], Response]

# Probes and metrics (operational, scraped without credentials), the dashboard's
# static files (the data they fetch goes through /graphql), the manual (/docs,
# the same for every reader), and registry webhooks, which carry their own HMAC signature.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/", "/docs"})
OPEN_PREFIXES = ("/hooks/", "/ui/", "/docs/")
API_KEY_HEADER = "x-api-key"
# Routes whose clients know only HTTP basic auth besides bearer tokens (MLflow's).
BASIC_AUTH_PREFIXES = ("/mlflow/",)
REALM = 'Bearer realm="modelgate"'


class Authenticator(Protocol):
    async def __call__(self, request: Request) -> Principal: ...

    async def aclose(self) -> None: ...


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization`` header; None when there is no header.

    ``Bearer <token>``; on the MLflow API also ``Basic`` with the token as the
    password (the user name is not read: the token alone says who is asking), as
    MLflow's clients send ``MLFLOW_TRACKING_USERNAME``/``PASSWORD``."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    basic_allowed = request.url.path.startswith(BASIC_AUTH_PREFIXES)
    if scheme.lower() == "basic" and basic_allowed and token.strip():
        return _basic_password(token.strip())
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("use an Authorization: Bearer header", error="invalid_request")
    return token.strip()


def _basic_password(encoded: str) -> str:
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        decoded = ""
    _user, colon, password = decoded.partition(":")
    if not colon or not password:
        raise Unauthenticated(
            "use Authorization: Basic with an API key or token as the password", error="invalid_request"
        )
    return password


class NoAuthentication:
    """``mode = "none"``: everyone is the local operator (loopback only), unless a
    request presents one of the configured API keys: then it acts as that
    principal. Every caller could act as anyone here anyway; keys only let one
    person try what several people do (request as one, approve as another)."""

    def __init__(self, settings: AuthSettings | None = None):
        self.verifier = ApiKeyVerifier(settings.api_keys) if settings and settings.api_keys else None

    async def __call__(self, request: Request) -> Principal:
        if self.verifier is None:
            return LOCAL_OPERATOR
        key = request.headers.get(API_KEY_HEADER) or bearer_token(request)
        return LOCAL_OPERATOR if key is None else self.verifier.verify(key)

    async def aclose(self) -> None:
        pass


class OidcAuthentication:
    """Bearer JWTs of the main issuer and, when ``[[auth.workload_issuers]]`` are
    configured, of CI platforms too (``gateway.auth.workload``)."""

    def __init__(self, settings: AuthSettings, verifier: OidcVerifier | IssuerVerifiers | None = None):
        self.verifier = verifier or (
            IssuerVerifiers(settings) if settings.workload_issuers else OidcVerifier(settings)
        )

    async def __call__(self, request: Request) -> Principal:
        token = bearer_token(request)
        if token is None:
            raise Unauthenticated("authentication required", error=None)
        return await self.verifier.verify(token)

    async def aclose(self) -> None:
        await self.verifier.aclose()


class ApiKeyAuthentication:
    """Keys arrive as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""

    def __init__(self, settings: AuthSettings):
        self.verifier = ApiKeyVerifier(settings.api_keys)

    async def __call__(self, request: Request) -> Principal:
        key = request.headers.get(API_KEY_HEADER) or bearer_token(request)
        if key is None:
            raise Unauthenticated("authentication required", error=None)
        return self.verifier.verify(key)

    async def aclose(self) -> None:
        pass


def authenticator_for(settings: AuthSettings) -> Authenticator:
    """The authenticator ``[auth] mode`` asks for."""
    if settings.mode == "oidc":
        return OidcAuthentication(settings)
    if settings.mode == "apikey":
        return ApiKeyAuthentication(settings)
    return NoAuthentication(settings)


def www_authenticate(exc: Unauthenticated) -> str:
    """The RFC 6750 challenge for a failed request."""
    if exc.error is None:
        return REALM
    # The description is ours (never the token's text) but keep it header-safe anyway.
    description = "".join(c for c in exc.message if c.isprintable() and c not in '"\\')
    return f'{REALM}, error="{exc.error}", error_description="{description}"'


def is_open(scope: Scope) -> bool:
    """Routes that need no credentials."""
    path: str = scope.get("path", "")
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return True
    if path == "/graphql" and scope.get("method") == "GET" and not scope.get("query_string"):
        # The GraphiQL page is static; whatever it then asks is authenticated.
        accept = dict(scope.get("headers") or []).get(b"accept", b"")
        return b"text/html" in accept
    return False


class AuthMiddleware:
    """Authenticates every request to a protected route before it runs."""

    def __init__(self, app: ASGIApp, authenticate: PrincipalResolver, reject: Rejection):
        self.app = app
        self.authenticate = authenticate
        self.reject = reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_open(scope):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            principal = await self.authenticate(request)
        except (Unauthenticated, AuthUnavailable) as exc:
            await self.reject(request, exc)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


# Who an open route's request is: no roles, no teams. Only the GraphiQL page is an
# open GraphQL request, and it executes nothing.
ANONYMOUS = Principal("anonymous")


async def current_principal(request: Request) -> Principal:
    """The principal ``AuthMiddleware`` established for this request."""
    principal: Principal = request.scope.get("state", {}).get("principal", ANONYMOUS)
    return principal
