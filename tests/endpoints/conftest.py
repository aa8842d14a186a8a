"""Each endpoint served alone: an app of its own routes, reading ``app.state`` as
``gateway.server`` sets it, over a gateway on SQLite with the demo catalogue.
The catalogue is ``demo_gateway``
(``tests/demo_catalogue.py``). The principal is set as ``AuthMiddleware`` sets it (``x-as`` names one)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

import httpx
from starlette.applications import Starlette
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth.principal import LOCAL_OPERATOR, Principal
from gateway.runtime import Gateway

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
