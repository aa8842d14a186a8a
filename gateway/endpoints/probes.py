"""Probes and metrics: ``/healthz`` (the process answers), ``/readyz`` (the store
answers; registries' states) and ``/metrics`` (Prometheus text format).

``/readyz`` is open to anyone, so it says what state each registry is in, with
a reason in the gateway's own words and breaker counts, and never what a
registry said (that may name restricted models: ``gateway.catalogue.state``)."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.catalogue.state import RegistryState, error_summary, registry_states
from gateway.endpoints import started_gateway
from gateway.resilience import breaker_states


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    gw = started_gateway(request)
    if gw is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    try:
        await asyncio.wait_for(gw.database.ping(), timeout=2.0)
        store_ok = True
    except Exception:  # report, do not raise: this is a probe
        store_ok = False
    # The same states GraphQL reports (gateway.catalogue.state), so the two agree.
    health = await gw.index.registry_health() if store_ok else {}
    states = registry_states([r.id for r in gw.settings.registries], health, gw.adapters)
    registries: dict[str, dict[str, Any]] = {
        r.id: {
            "state": states[r.id].state.value,
            "healthy": states[r.id].state is RegistryState.HEALTHY,
            "reason": states[r.id].summary,
            "url": states[r.id].url,
            "syncedAt": synced.isoformat() if (synced := states[r.id].synced_at) else None,
            "lastError": error_summary(health.get(r.id)),
        }
        for r in gw.settings.registries
    }
    for rid, breaker in breaker_states(gw.adapters).items():
        if rid in registries:
            registries[rid]["breaker"] = breaker
    # Ready when the store answers; a registry that is not HEALTHY is served from
    # the index (reported as degraded, still 200: taking the replica out would not help).
    degraded = any(r["state"] != RegistryState.HEALTHY.value for r in registries.values())
    status = ("degraded" if degraded else "ready") if store_ok else "unavailable"
    body: dict[str, Any] = {"status": status, "store": store_ok, "registries": registries}
    # Whole-catalogue work running in the background (gateway.upkeep): search is
    # served meanwhile, so it never makes the gateway unready.
    body["upkeep"] = [p.as_dict() for p in gw.upkeep]
    return JSONResponse(body, status_code=200 if store_ok else 503)


async def metrics(request: Request) -> Response:
    gw = started_gateway(request)
    if gw is None:
        return Response("starting\n", status_code=503, media_type="text/plain")
    return Response(await gw.metrics.render(gw), media_type=CONTENT_TYPE_LATEST)
