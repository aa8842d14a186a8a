"""``gateway.endpoints.lineage``: the OpenLineage export and its parameters."""

from __future__ import annotations

import json

import pytest

from gateway.endpoints.lineage import routes
from gateway.runtime import Gateway
from tests.endpoints.conftest import serve

URI = "mg://platform/fraud-detector/2"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "uri"),
        ({"uri": URI, "format": "xml"}, "format"),
        ({"uri": URI, "depth": "deep"}, "depth"),
        ({"uri": URI, "maxNodes": "1.5"}, "maxNodes"),
        ({"uri": URI, "direction": "sideways"}, "direction"),
    ],
)
async def test_a_bad_parameter_is_named(demo_gateway: Gateway, params: dict[str, str], field: str) -> None:
    async with serve(demo_gateway, routes()) as client:
        answer = await client.get("/lineage/openlineage", params=params)
    assert answer.status_code == 400, answer.text
    extensions = answer.json()["errors"][0]["extensions"]
    assert (extensions["code"], extensions["field"]) == ("BAD_USER_INPUT", field)


async def test_events_come_as_json_or_one_per_line(demo_gateway: Gateway) -> None:
    async with serve(demo_gateway, routes()) as client:
        as_json = await client.get("/lineage/openlineage", params={"uri": URI, "direction": "upstream"})
        as_lines = await client.get("/lineage/openlineage", params={"uri": URI, "format": "jsonl"})
    assert as_json.status_code == 200, as_json.text
    events = as_json.json()["events"]
    assert events and as_json.json()["errors"] == []
    assert all(e["eventType"] and e["job"]["name"] for e in events)
    assert as_lines.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in as_lines.text.splitlines()]
    assert len(lines) >= len(events) and "x-modelgate-registry-errors" not in as_lines.headers


async def test_an_unknown_node_is_not_found(demo_gateway: Gateway) -> None:
    async with serve(demo_gateway, routes()) as client:
        answer = await client.get("/lineage/openlineage", params={"uri": "mg://platform/no-such-model/1"})
    assert answer.status_code == 404, answer.text
    assert answer.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
