"""The endpoints stand alone: each reads what it needs from ``app.state``, so an
app of one route is enough to exercise it (no factory, no middleware)."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from gateway.endpoints import probes


async def test_probes_say_starting_before_the_gateway_is_there() -> None:
    app = Starlette(routes=[Route("/readyz", probes.readyz), Route("/metrics", probes.metrics)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        ready = await c.get("/readyz")
        assert (ready.status_code, ready.json()) == (503, {"status": "starting"})
        metrics = await c.get("/metrics")
        assert (metrics.status_code, metrics.text) == (503, "starting\n")
