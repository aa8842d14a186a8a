"""Metrics, request ids and structured logs."""

from __future__ import annotations

import json
import logging

import httpx

from gateway.observability import JsonFormatter, request_id_var
from gateway.runtime import Gateway
from tests.support import data_of, gql


async def test_metrics_describe_requests_registries_and_the_index(
    client: httpx.AsyncClient, gateway: Gateway
) -> None:
    mutation = 'mutation Register { registerModelVersion(input: {registry: "platform", model: "m", artifactUri: "s3://b/m"}) { uri } }'
    data_of(await gql(client, mutation))
    data_of(await gql(client, 'query CatalogueSearch { models(query: "m") { totalCount } }'))
    await gateway.sync.sync_all(full=True)
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'modelgate_index_models{registry="platform"} 1.0' in text
    assert 'modelgate_index_versions{registry="platform"} 1.0' in text
    assert 'modelgate_graphql_request_seconds_count{operation="CatalogueSearch",outcome="ok"} 1.0' in text
    assert 'modelgate_registry_call_seconds_count{method="list_models",registry="platform"}' in text
    assert 'modelgate_registry_healthy{registry="research"} 1.0' in text
    assert 'modelgate_registry_breaker_open{registry="platform"} 0.0' in text
    assert "modelgate_registry_sync_lag_seconds" in text
    assert "modelgate_cache_hit_ratio" in text
    assert 'modelgate_http_requests_total{route="/graphql",status="200"}' in text


async def test_request_ids_are_given_echoed_and_attached_to_errors(client: httpx.AsyncClient) -> None:
    generated = (await client.get("/healthz")).headers["x-request-id"]
    assert len(generated) == 32
    assert (await client.get("/healthz", headers={"x-request-id": "abc-123"})).headers[
        "x-request-id"
    ] == "abc-123"
    hostile = (await client.get("/healthz", headers={"x-request-id": "x" * 500})).headers["x-request-id"]
    assert hostile != "x" * 500
    response = await client.post(
        "/graphql",
        json={"query": "{ models(first: 1000) { totalCount } }"},
        headers={"x-request-id": "trace-7"},
    )
    assert response.json()["errors"][0]["extensions"]["requestId"] == "trace-7"


def test_json_logs_carry_the_request_id() -> None:
    record = logging.LogRecord(
        "modelgate.test", logging.WARNING, __file__, 1, "registry %s failed", ("r",), None
    )
    token = request_id_var.set("req-42")
    try:
        line = JsonFormatter().format(record)
    finally:
        request_id_var.reset(token)
    entry = json.loads(line)
    assert entry["message"] == "registry r failed"
    assert entry["level"] == "warning" and entry["request_id"] == "req-42"
    assert entry["logger"] == "modelgate.test" and entry["ts"].endswith("+00:00")
