"""``gateway.endpoints.deployments``: a serving system reports traffic over HTTP."""

from __future__ import annotations

import pytest

from gateway.endpoints.deployments import MAX_BODY, report_of, routes
from gateway.errors import BadInput
from gateway.runtime import Gateway
from tests.endpoints.conftest import serve

URI = "mg://platform/fraud-detector/1"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([URI], "body"),
        ({"uri": URI, "endpoint": "kserve/fraud", "colour": "red"}, "colour"),
        ({"uri": URI, "endpoint": "kserve/fraud", "trafficPercent": "25"}, "trafficPercent"),
        ({"uri": URI, "endpoint": "kserve/fraud", "trafficPercent": True}, "trafficPercent"),
        ({"uri": URI, "endpoint": ""}, "endpoint"),
        ({"endpoint": "kserve/fraud"}, "uri"),
    ],
)
def test_a_bad_report_names_its_field(body: object, field: str) -> None:
    with pytest.raises(BadInput) as refused:
        report_of(body)
    assert refused.value.as_extensions()["field"] == field


def test_a_report_reads_every_field() -> None:
    report = report_of({"uri": URI, "endpoint": "kserve/fraud", "trafficPercent": 25, "variant": "canary"})
    assert (report.version_uri, report.endpoint, report.percent, report.variant, report.status) == (
        URI,
        "kserve/fraud",
        25.0,
        "canary",
        None,
    )


async def test_the_team_records_a_deployment_and_reads_it_back(demo_gateway: Gateway) -> None:
    body = {
        "uri": URI,
        "endpoint": "kserve/fraud",
        "trafficPercent": 25,
        "variant": "canary",
        "status": "Ready",
    }
    async with serve(demo_gateway, routes()) as client:
        answer = await client.post("/deployments", json=body, headers={"x-as": "platform"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["uri"] == URI
    (deployment,) = [d for d in answer.json()["deployments"] if d["endpoint"] == "kserve/fraud"]
    assert (deployment["trafficPercent"], deployment["variant"], deployment["status"]) == (
        25.0,
        "canary",
        "Ready",
    )


async def test_another_team_may_not_report_for_the_version(demo_gateway: Gateway) -> None:
    async with serve(demo_gateway, routes()) as client:
        answer = await client.post(
            "/deployments", json={"uri": URI, "endpoint": "kserve/fraud"}, headers={"x-as": "research"}
        )
    assert answer.status_code == 403
    assert answer.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_body_that_is_not_json_or_too_large_is_refused(demo_gateway: Gateway) -> None:
    async with serve(demo_gateway, routes()) as client:
        broken = await client.post("/deployments", content=b"{not json")
        huge = await client.post("/deployments", content=b" " * (MAX_BODY + 1))
    for answer in (broken, huge):
        assert answer.status_code == 400
        assert answer.json()["errors"][0]["extensions"] == {
            **answer.json()["errors"][0]["extensions"],
            "code": "BAD_USER_INPUT",
            "field": "body",
        }
