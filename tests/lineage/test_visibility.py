"""Restricted versions of other teams stay hidden in every lineage answer beyond
the graph itself: impact, impactAnalysis paths and the OpenLineage export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.requests import Request

from adapters.protocol import RegistrationRequest
from gateway.auth.principal import Principal
from gateway.domain import DatasetRef, ModelVersion
from gateway.runtime import Gateway
from gateway.server import create_app
from tests.support import make_settings

WHO = {
    "rita": Principal("rita", teams=frozenset({"research"})),
    "sam": Principal("sam", teams=frozenset({"secret"})),
}
DATA = "s3://data/shared"


async def _principal(request: Request) -> Principal:
    return WHO[request.headers["x-test-principal"]]


async def register(gw: Gateway, registry: str, model: str, **fields: Any) -> str:
    version = ModelVersion(registry, model, "0", artifact_uri=f"s3://m/{registry}/{model}", **fields)
    return (await gw.register_version(registry, RegistrationRequest(model, version, "setup"))).uri


@pytest.fixture
async def client(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database_url,
        tmp_path,
        registries=[
            {"id": "research", "kind": "native", "team": "research"},
            {"id": "secret", "kind": "native", "team": "secret", "restricted": True},
        ],
    )
    gw = await Gateway.open(settings)
    trained = (DatasetRef(DATA, role="training"),)
    await register(gw, "secret", "classified", training_data=trained)
    await register(gw, "research", "derived", parent="mg://secret/classified/1")
    await register(gw, "research", "open", training_data=trained)
    app = create_app(settings, gateway=gw, background_sync=False, principal_for_request=_principal)
    try:
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
        ):
            yield c
    finally:
        await gw.aclose()


async def test_impact_and_paths_redact_what_the_caller_may_not_see(client: httpx.AsyncClient) -> None:
    query = """query($u: String!) { impact(uri: $u) { uri }
      impactAnalysis(uri: $u) { versions { uri path version { uri } } } }"""
    response = await client.post(
        "/graphql", json={"query": query, "variables": {"u": DATA}}, headers={"x-test-principal": "rita"}
    )
    body = response.json()
    assert "classified" not in response.text, body
    assert {v["uri"] for v in body["data"]["impact"]} == {"mg://research/derived/1", "mg://research/open/1"}
    paths = {v["uri"]: v["path"] for v in body["data"]["impactAnalysis"]["versions"]}
    assert set(paths) == {"mg://research/derived/1", "mg://research/open/1"}
    hidden_step = paths["mg://research/derived/1"][1]
    assert hidden_step.startswith("redacted:")

    owner = await client.post(
        "/graphql", json={"query": query, "variables": {"u": DATA}}, headers={"x-test-principal": "sam"}
    )
    assert "mg://secret/classified/1" in {v["uri"] for v in owner.json()["data"]["impact"]}


async def test_openlineage_export_redacts_too(client: httpx.AsyncClient) -> None:
    params = {"uri": "mg://research/derived/1", "direction": "UPSTREAM"}
    response = await client.get("/lineage/openlineage", params=params, headers={"x-test-principal": "rita"})
    assert response.status_code == 200, response.text
    assert "classified" not in response.text
    start, event = response.json()["events"]  # one run: no events for the hidden parent
    assert (start["eventType"], event["eventType"]) == ("START", "COMPLETE")
    assert [i["namespace"] for i in event["inputs"]] == ["redacted"]
    owner = await client.get("/lineage/openlineage", params=params, headers={"x-test-principal": "sam"})
    completed = [e for e in owner.json()["events"] if e["eventType"] == "COMPLETE"]
    assert {e["outputs"][0]["name"] for e in completed} == {"classified/1", "derived/1"}
