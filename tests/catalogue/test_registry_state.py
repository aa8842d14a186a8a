"""Registry state tells the truth (API.md "Registry state"): a registry whose first
sync has not finished is SYNCING, one that refuses or hangs is UNAVAILABLE once its
call deadline passes, one that dies after its first sync is UNAVAILABLE and served
from the index; every catalogue answer carries a REGISTRY_UNAVAILABLE error naming
each such registry and the URL tried, and /readyz says the same as GraphQL.

The registries are the real MLflow adapter against: a port nothing listens on, a
loopback socket that accepts and never answers, and the real MLflow server behind a
TCP forwarder that is cut after the first sync."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from asgi_lifespan import LifespanManager

from gateway.runtime import Gateway
from gateway.server import create_app
from tests.servers.mlflow import MlflowTeam, free_port
from tests.servers.sockets import SilentServer, TcpForwarder
from tests.support import gql, make_settings

pytest.importorskip("mlflow")

DEADLINE = 0.3  # the hanging registry's call deadline: short, so the test does not wait


@dataclass
class Setup:
    gateway: Gateway
    client: httpx.AsyncClient
    silent: SilentServer
    forwarder: TcpForwarder
    refused_url: str
    model: str  # registered in the real MLflow, reached through the forwarder


def registry(rid: str, url: str, **options: Any) -> dict[str, Any]:
    return {"id": rid, "kind": "mlflow", "team": "t", "url": url, "breaker_failures": 50, **options}


@contextlib.asynccontextmanager
async def gateway_for(
    tmp_path: Path, registries: list[dict[str, Any]]
) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    settings = make_settings(
        f"sqlite:///{tmp_path}/gw.db",
        tmp_path,
        registries=[{"id": "platform", "kind": "native", "team": "platform"}, *registries],
    )
    gw = await Gateway.open(settings)
    app = create_app(settings, gateway=gw, background_sync=False)
    try:
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client,
        ):
            yield gw, client
    finally:
        await gw.aclose()


@pytest.fixture
async def setup(mlflow_url: str, tmp_path: Path) -> AsyncIterator[Setup]:
    name = f"state-{tmp_path.name[-12:]}".replace("_", "-")
    MlflowTeam(mlflow_url).client.create_registered_model(name)
    MlflowTeam(mlflow_url).client.create_model_version(name, f"s3://b/{name}/1")
    target = urlsplit(mlflow_url)
    refused_url = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    async with SilentServer() as silent, TcpForwarder(target.hostname or "", target.port or 0) as forwarder:
        registries = [
            registry("refused", refused_url, timeout_seconds=1),
            # The client's own timeout is long: the gateway's call deadline is what ends the wait.
            registry("silent", silent.url, timeout_seconds=30, call_timeout_seconds=DEADLINE),
            registry("dying", forwarder.url, timeout_seconds=15, fetch_run_details=False),
        ]
        async with gateway_for(tmp_path, registries) as (gw, client):
            yield Setup(gw, client, silent, forwarder, refused_url, name)


STATES = "{ registries { id state healthy } }"
SEARCH = "{ models(first: 50) { totalCount edges { node { uri } } } }"


async def states(client: httpx.AsyncClient) -> dict[str, str]:
    body = await gql(client, STATES)
    return {r["id"]: r["state"] for r in body["data"]["registries"]}


async def readyz_states(client: httpx.AsyncClient) -> dict[str, str]:
    body = (await client.get("/readyz")).json()
    return {rid: r["state"] for rid, r in body["registries"].items()}


def unavailable(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The REGISTRY_UNAVAILABLE errors of an answer, by registry (each registry once)."""
    found: dict[str, dict[str, Any]] = {}
    for error in body.get("errors", []):
        ext = error["extensions"]
        assert ext["code"] == "REGISTRY_UNAVAILABLE", error
        assert ext["registry"] not in found, f"{ext['registry']} reported twice"
        found[ext["registry"]] = {"message": error["message"], **ext}
    return found


async def test_before_the_first_sync_every_registry_is_syncing(setup: Setup) -> None:
    s = setup
    assert await states(s.client) == dict.fromkeys(["platform", "refused", "silent", "dying"], "SYNCING")
    assert await readyz_states(s.client) == await states(s.client)
    body = await gql(s.client, "{ registries { id healthy } }")
    assert not any(r["healthy"] for r in body["data"]["registries"])  # healthy only when HEALTHY
    # An empty catalogue is not "no models": each registry is reported, with its URL.
    body = await gql(s.client, SEARCH)
    assert body["data"]["models"]["totalCount"] == 0
    errors = unavailable(body)
    assert set(errors) == {"platform", "refused", "silent", "dying"}
    assert errors["refused"]["url"].startswith(s.refused_url)
    assert errors["silent"]["url"].startswith(s.silent.url)
    assert "first sync has not finished" in errors["dying"]["message"]


async def test_a_hanging_first_sync_is_syncing_until_its_deadline(mlflow_url: str, tmp_path: Path) -> None:
    async with (
        SilentServer() as silent,
        gateway_for(tmp_path, [registry("silent", silent.url, call_timeout_seconds=60)]) as (gw, client),
    ):
        sync = asyncio.create_task(gw.sync.sync_registry("silent", full=True))
        try:
            await silent.accepted.wait()  # the registry took the call and says nothing
            assert (await states(client))["silent"] == "SYNCING"
            assert (await readyz_states(client))["silent"] == "SYNCING"
        finally:
            sync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sync


async def test_after_the_first_sync_each_registry_says_what_happened(setup: Setup) -> None:
    s = setup
    results = {r.registry_id: r for r in await s.gateway.sync.sync_all(full=True)}
    assert results["dying"].error is None and results["dying"].models >= 1
    assert "unreachable" in (results["refused"].error or "")
    assert f"did not answer within {DEADLINE:g}s" in (results["silent"].error or "")

    expected = {"platform": "HEALTHY", "dying": "HEALTHY", "refused": "UNAVAILABLE", "silent": "UNAVAILABLE"}
    assert await states(s.client) == expected
    ready = (await s.client.get("/readyz")).json()
    assert {rid: r["state"] for rid, r in ready["registries"].items()} == expected
    assert ready["status"] == "degraded"
    assert ready["registries"]["silent"]["url"].startswith(s.silent.url)

    body = await gql(s.client, SEARCH)
    assert body["data"]["models"]["totalCount"] >= 1  # the shared server holds other tests' models too
    assert await s.gateway.index.get_model(f"mg://dying/{s.model}") is not None
    errors = unavailable(body)
    assert set(errors) == {"refused", "silent"}  # the down ones, though none of their models is listed
    assert "unreachable" in errors["refused"]["message"]
    assert urlsplit(errors["refused"]["url"]).port == urlsplit(s.refused_url).port
    assert f"within {DEADLINE:g}s" in errors["silent"]["message"]
    assert errors["silent"]["url"].startswith(s.silent.url)
    assert "never completed a sync" in errors["silent"]["message"]

    # A search limited to healthy registries has nothing to report.
    body = await gql(s.client, '{ models(filter: {registries: ["dying"]}) { totalCount } }')
    assert "errors" not in body and body["data"]["models"]["totalCount"] >= 1

    # Counts of a registry that never synced are not zero models: they say so.
    body = await gql(s.client, "{ registries { id modelCount } }")
    assert set(unavailable(body)) == {"refused", "silent"}

    # No details pass is running (this MLflow registry reads no run details); once one
    # is (as a first full sync records it), the registry says so.
    pending = "{ registries { id detailsPending } }"
    assert not any(r["detailsPending"] for r in (await gql(s.client, pending))["data"]["registries"])
    await s.gateway.index.record_sync("dying", healthy=True, details_pending=True)
    shown = {r["id"]: r["detailsPending"] for r in (await gql(s.client, pending))["data"]["registries"]}
    assert shown == {"platform": False, "dying": True, "refused": False, "silent": False}


async def test_a_registry_that_dies_after_its_first_sync(setup: Setup) -> None:
    s = setup
    await s.gateway.sync.sync_all(full=True)
    await s.forwarder.close()  # the registry's process is gone: its port refuses
    result = await s.gateway.sync.sync_registry("dying")
    assert result.error and "dying" in result.error

    assert (await states(s.client))["dying"] == "UNAVAILABLE"
    assert (await readyz_states(s.client))["dying"] == "UNAVAILABLE"
    body = await gql(s.client, '{ models(filter: {registries: ["dying"]}, first: 1) { totalCount } }')
    assert body["data"]["models"]["totalCount"] >= 1  # still served from the index
    error = unavailable(body)["dying"]
    assert "results come from the index" in error["message"]
    assert urlsplit(error["url"]).port == s.forwarder.port

    # A by-URI read the index answers carries the error; one it cannot answer says so.
    body = await gql(s.client, f'{{ model(uri: "mg://dying/{s.model}") {{ name }} }}')
    assert body["data"]["model"]["name"] == s.model and set(unavailable(body)) == {"dying"}
    body = await gql(s.client, '{ model(uri: "mg://dying/never-indexed") { name } }')
    assert body["data"]["model"] is None
    error = unavailable(body)["dying"]
    assert "mg://dying/never-indexed is not in the catalogue index" in error["message"]
    body = await gql(s.client, '{ modelVersion(uri: "mg://dying/never-indexed/1", live: true) { uri } }')
    assert body["data"]["modelVersion"] is None and set(unavailable(body)) == {"dying"}

    # A healthy registry's missing model is simply absent: no error.
    body = await gql(s.client, '{ model(uri: "mg://platform/nothing-here") { name } }')
    assert body == {"data": {"model": None}}
