"""Security fixtures: a local OpenID provider (discovery + JWKS on 127.0.0.1),
token minting, and apps whose principal comes from a test header."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.auth.principal import Principal
from gateway.runtime import Gateway
from gateway.server import create_app
from tests.support import make_settings

AUDIENCE = "modelgate"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """Any ASGI app served by uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any):
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                lifespan="off",
                timeout_graceful_shutdown=0.1,
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)


class IdentityProvider:
    """An OpenID provider good enough for modelgate: discovery, a JWKS whose keys
    can be rotated, an outage switch, and request counts."""

    def __init__(self) -> None:
        self.signing_key = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
        self.ec_key = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
        self.published = [self.signing_key, self.ec_key]
        self.requests: Counter[str] = Counter()
        self.down = False
        self.issuer = ""  # set once the server has a port

        async def discovery(_request: Request) -> Response:
            self.requests["discovery"] += 1
            return JSONResponse({"issuer": self.issuer, "jwks_uri": f"{self.issuer}/jwks"})

        async def jwks(_request: Request) -> Response:
            self.requests["jwks"] += 1
            if self.down:
                return Response("down for maintenance", status_code=503)
            return JSONResponse({"keys": [k.as_dict(private=False) for k in self.published]})

        self.app = Starlette(
            routes=[Route("/.well-known/openid-configuration", discovery), Route("/jwks", jwks)]
        )

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": "alice",
            "iat": now,
            "nbf": now - 5,
            "exp": now + 300,
            "roles": ["TEAM_LEAD", "auditor"],
            "groups": "platform research",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, key: Any = None, alg: str = "RS256", kid: str | None = "rsa-1", **claims: Any) -> str:
        header: dict[str, Any] = {"alg": alg}
        if kid is not None:
            header["kid"] = kid
        return jwt.encode(header, self.claims(**claims), key or self.signing_key)


@pytest.fixture(scope="session")
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    with ServerThread(provider.app) as server:
        provider.issuer = server.url
        yield provider


@pytest.fixture
def fresh_idp(idp: IdentityProvider) -> IdentityProvider:
    """The session provider, reset to its published keys and counters."""
    idp.published = [idp.signing_key, idp.ec_key]
    idp.requests.clear()
    idp.down = False
    return idp


@pytest.fixture
async def sqlite_gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    """A gateway on SQLite only: auth and limits do not depend on the database."""
    gw = await Gateway.open(make_settings(f"sqlite:///{tmp_path}/modelgate.db", tmp_path))
    try:
        await gw.sync.sync_all(full=True)  # past SYNCING, as a served gateway is
        yield gw
    finally:
        await gw.aclose()


@contextlib.asynccontextmanager
async def serve(gateway: Gateway, **create: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on the ASGI app for ``gateway`` (``create``: create_app options)."""
    settings = create.pop("settings", gateway.settings)
    app = create_app(settings, gateway=gateway, background_sync=False, **create)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client,
    ):
        yield client


# --- principals chosen by a test header -----------------------------------------------

PRINCIPALS = {
    "admin": Principal("root", frozenset({"admin"})),
    "alice": Principal("alice", frozenset({"TEAM_LEAD"}), frozenset({"platform"})),
    "bob": Principal("bob", frozenset({"TEAM_LEAD"}), frozenset({"platform"})),
    "carol": Principal("carol", frozenset({"LEGAL"})),
    "dave": Principal("dave", frozenset({"SECURITY"})),
    "auditor": Principal("audrey", frozenset({"auditor"})),
    "compliance": Principal("connie", frozenset({"compliance"})),
    "researcher": Principal("rita", frozenset({"TEAM_LEAD", "LEGAL", "SECURITY"}), frozenset({"research"})),
    "nobody": Principal("nobody"),
}


async def principal_from_header(request: Request) -> Principal:
    """Tests pick who asks with ``x-test-principal`` (the create_app seam)."""
    return PRINCIPALS[request.headers.get("x-test-principal", "nobody")]


async def gql_as(
    client: httpx.AsyncClient, who: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"x-test-principal": who},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error_codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]
