"""Each endpoint served alone: an app of its own routes, reading ``app.state`` as
``gateway.server`` sets it, over a gateway on SQLite with the demo catalogue.
The principal is set as ``AuthMiddleware`` sets it (``x-as`` names one)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth.principal import LOCAL_OPERATOR, Principal
from gateway.demo import seed_demo
from gateway.runtime import Gateway
from tests.support import make_settings

PEOPLE = {
    "operator": LOCAL_OPERATOR,
    "platform": Principal("pat", teams=frozenset({"platform"})),
    "research": Principal("rae", teams=frozenset({"research"})),
}


class SetPrincipal:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            who = dict(scope["headers"]).get(b"x-as", b"operator").decode()
            scope.setdefault("state", {})["principal"] = PEOPLE[who]
        await self.app(scope, receive, send)


@pytest.fixture
async def demo_gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    gateway = await Gateway.open(make_settings(f"sqlite:///{tmp_path}/modelgate.db", tmp_path))
    try:
        await gateway.sync.sync_all(full=True)
        assert await seed_demo(gateway) > 0
        yield gateway
    finally:
        await gateway.aclose()


@contextlib.asynccontextmanager
async def serve(
    gateway: Gateway, routes: Sequence[BaseRoute], **state: object
) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=list(routes))
    app.state.gateway = gateway
    app.state.settings = gateway.settings
    for name, value in state.items():
        setattr(app.state, name, value)
    transport = httpx.ASGITransport(app=SetPrincipal(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client
