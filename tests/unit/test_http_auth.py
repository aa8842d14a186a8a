"""``gateway.http_auth``: who sent a request, before any route runs. Exercised over
an app of one route behind ``AuthMiddleware`` (no gateway needed)."""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.auth.errors import AuthUnavailable, Unauthenticated
from gateway.auth.principal import LOCAL_OPERATOR
from gateway.config import ApiKeySettings, AuthSettings
from gateway.http_auth import (
    ANONYMOUS,
    ApiKeyAuthentication,
    AuthMiddleware,
    NoAuthentication,
    authenticator_for,
    bearer_token,
    current_principal,
    is_open,
    www_authenticate,
)

KEY = "mg_test_key_0123456789"
KEYS = AuthSettings(
    mode="apikey",
    api_keys=[ApiKeySettings("ci-bot", hashlib.sha256(KEY.encode()).hexdigest(), ["admin"], ["platform"])],
)


def request(path: str = "/graphql", headers: dict[str, str] | None = None, method: str = "POST") -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return Request({"type": "http", "method": method, "path": path, "headers": raw, "query_string": b""})


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_bearer_token_reads_the_header_and_refuses_other_schemes() -> None:
    assert bearer_token(request()) is None
    assert bearer_token(request(headers={"Authorization": "Bearer  abc "})) == "abc"
    with pytest.raises(Unauthenticated) as refused:
        bearer_token(request(headers={"Authorization": "Token abc"}))
    assert refused.value.error == "invalid_request"
    with pytest.raises(Unauthenticated):
        bearer_token(request(headers={"Authorization": "Bearer "}))


def test_basic_auth_is_taken_only_on_the_mlflow_api_and_only_its_password() -> None:
    header = {"Authorization": basic("anyone", "the-token")}
    assert bearer_token(request("/mlflow/api/2.0/mlflow/registered-models/get", header)) == "the-token"
    with pytest.raises(Unauthenticated):  # elsewhere Basic is not a scheme we take
        bearer_token(request("/graphql", header))
    for broken in ("Basic !!!", basic("user", ""), "Basic " + base64.b64encode(b"nocolon").decode()):
        with pytest.raises(Unauthenticated):
            bearer_token(request("/mlflow/x", {"Authorization": broken}))


def test_open_paths_are_probes_hooks_static_files_and_the_graphiql_page() -> None:
    scope = {"type": "http", "method": "GET", "query_string": b"", "headers": []}
    assert is_open({**scope, "path": "/healthz"}) and is_open({**scope, "path": "/hooks/mlflow/prod"})
    assert is_open({**scope, "path": "/ui/app.js"})
    assert not is_open({**scope, "path": "/graphql"})  # GET without asking for a page
    page = {**scope, "path": "/graphql", "headers": [(b"accept", b"text/html")]}
    assert is_open(page)
    assert not is_open({**page, "query_string": b"query={a}"})  # a query over GET is a request
    assert not is_open({**page, "method": "POST"})
    assert not is_open({**scope, "path": "/bom"})


def test_the_challenge_names_the_error_and_keeps_the_header_safe() -> None:
    assert (
        www_authenticate(Unauthenticated("authentication required", error=None)) == 'Bearer realm="modelgate"'
    )
    challenge = www_authenticate(Unauthenticated('bad "token"\n\\', error="invalid_token"))
    assert challenge == 'Bearer realm="modelgate", error="invalid_token", error_description="bad token"'


async def test_no_authentication_is_the_operator_unless_a_key_is_presented() -> None:
    assert await NoAuthentication()(request()) is LOCAL_OPERATOR
    with_keys = NoAuthentication(KEYS)
    assert await with_keys(request()) is LOCAL_OPERATOR
    acting = await with_keys(request(headers={"X-API-Key": KEY}))
    assert (acting.name, acting.roles, acting.teams) == ("ci-bot", {"admin"}, {"platform"})
    with pytest.raises(Unauthenticated):
        await with_keys(request(headers={"X-API-Key": "not-a-key"}))


async def test_api_keys_come_as_bearer_or_header_and_are_required() -> None:
    authenticate = ApiKeyAuthentication(KEYS)
    assert (await authenticate(request(headers={"Authorization": f"Bearer {KEY}"}))).name == "ci-bot"
    assert (await authenticate(request(headers={"X-API-Key": KEY}))).name == "ci-bot"
    with pytest.raises(Unauthenticated) as missing:
        await authenticate(request())
    assert missing.value.error is None  # no credentials: a bare challenge


def test_the_mode_chooses_the_authenticator() -> None:
    assert isinstance(authenticator_for(AuthSettings()), NoAuthentication)
    assert isinstance(authenticator_for(KEYS), ApiKeyAuthentication)


async def test_the_middleware_sets_the_principal_or_rejects_before_the_route() -> None:
    reached: list[str] = []

    async def whoami(request: Request) -> Response:
        principal = await current_principal(request)
        reached.append(principal.name)
        return JSONResponse({"subject": principal.name})

    async def authenticate(request: Request):  # type: ignore[no-untyped-def]
        if request.headers.get("x-down"):
            raise AuthUnavailable("the identity provider is down")
        return await ApiKeyAuthentication(KEYS)(request)

    def reject(request: Request, exc: Unauthenticated | AuthUnavailable) -> Response:
        return JSONResponse(
            {"error": type(exc).__name__}, status_code=401 if isinstance(exc, Unauthenticated) else 503
        )

    app = Starlette(routes=[Route("/whoami", whoami), Route("/healthz", whoami)])
    app.add_middleware(AuthMiddleware, authenticate=authenticate, reject=reject)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        assert (await client.get("/whoami", headers={"x-api-key": KEY})).json() == {"subject": "ci-bot"}
        assert (await client.get("/whoami")).status_code == 401
        assert (await client.get("/whoami", headers={"x-down": "1"})).status_code == 503
        # An open route runs unauthenticated: its principal is the anonymous one.
        assert (await client.get("/healthz")).json() == {"subject": ANONYMOUS.name}
    assert reached == ["ci-bot", ANONYMOUS.name]
