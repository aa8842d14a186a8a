"""recordDeployment for native registries, on SQLite and PostgreSQL: reported
traffic reaches ``ModelVersion.deployments``, ``Query.endpoints``, the serving
filter and facet, and the built-in compliance warnings."""

from __future__ import annotations

from typing import Any

import httpx

from adapters.protocol import PromotionContext
from gateway.runtime import Gateway
from tests.governance.conftest import register
from tests.governance.test_graphql import graphql_client
from tests.support import data_of, gql

RECORD = """mutation($input: DeploymentInput!) { recordDeployment(input: $input) {
  uri deployments { endpoint trafficPercent registry variant status updatedAt }
  compliance { violations { policy severity message } } } }"""
ENDPOINTS = """query($registry: String) { endpoints(registry: $registry) {
  uri name status registry { id } traffic { variant percent version { uri stage } } } }"""


async def record(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    return await gql(client, RECORD, {"input": fields})


def policies_of(version: dict[str, Any]) -> set[str]:
    return {v["policy"] for v in version["compliance"]["violations"]}


async def test_a_reported_deployment_is_shown_on_the_version_and_the_endpoint(gov: Gateway) -> None:
    v = await register(gov, "fraud")
    async with graphql_client(gov, "alice") as client:
        first = data_of(
            await record(client, uri=v.uri, endpoint="kserve/fraud", trafficPercent=30, variant="canary")
        )["recordDeployment"]
        (deployment,) = first["deployments"]
        assert deployment["endpoint"] == "kserve/fraud" and deployment["trafficPercent"] == 30
        assert (deployment["registry"], deployment["variant"]) == ("platform", "canary")
        assert deployment["updatedAt"] is not None

        # The same endpoint, version and variant: the new report replaces the old.
        again = data_of(
            await record(
                client,
                uri=v.uri,
                endpoint="kserve/fraud",
                trafficPercent=60,
                variant="canary",
                status="Ready",
            )
        )["recordDeployment"]
        assert [(d["trafficPercent"], d["status"]) for d in again["deployments"]] == [(60, "Ready")]

        endpoints = data_of(await gql(client, ENDPOINTS, {"registry": "platform"}))["endpoints"]
        assert endpoints == [
            {
                "uri": "kserve/fraud",
                "name": "kserve/fraud",
                "status": "Ready",
                "registry": {"id": "platform"},
                "traffic": [
                    {"variant": "canary", "percent": 60.0, "version": {"uri": v.uri, "stage": "DRAFT"}}
                ],
            }
        ]
        assert data_of(await gql(client, ENDPOINTS, {"registry": "research"}))["endpoints"] == []
        stored = await gov.index.get_version(v.uri)
        assert stored is not None and stored.deployments[0].traffic_percent == 60  # indexed with it


async def test_bad_reports_name_the_argument(gov: Gateway) -> None:
    v = await register(gov, "fraud")
    async with graphql_client(gov, "alice") as client:
        cases = [
            ({"uri": v.uri, "endpoint": "e", "trafficPercent": 150}, "BAD_USER_INPUT", "trafficPercent"),
            ({"endpoint": "e", "trafficPercent": 10}, "BAD_USER_INPUT", "uri"),
            ({"uri": "mg://platform/fraud", "endpoint": "e"}, "BAD_USER_INPUT", "uri"),
            ({"uri": v.uri, "endpoint": "  "}, "BAD_USER_INPUT", "endpoint"),
            ({"uri": "mg://platform/fraud/99", "endpoint": "e"}, "NOT_FOUND", "uri"),
        ]
        for fields, code, field in cases:
            body = await record(client, **fields)
            (error,) = body["errors"]
            assert error["extensions"]["code"] == code, (fields, error)
            assert error["extensions"].get("field") == field, (fields, error)
            assert "Traceback" not in error["message"]
    untouched = await gov.index.get_version(v.uri)
    assert untouched is not None and untouched.deployments == ()


async def test_another_team_may_not_report_for_a_version(gov: Gateway) -> None:
    v = await register(gov, "fraud")
    async with graphql_client(gov, "carol") as client:  # carol is in no team
        body = await record(client, uri=v.uri, endpoint="kserve/fraud", trafficPercent=100)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await gov.serving.endpoints()) == []


async def test_traffic_to_a_version_outside_production_is_a_warning(gov: Gateway) -> None:
    v = await register(gov, "fraud")
    async with graphql_client(gov, "alice") as client:
        before = data_of(await record(client, uri=v.uri, endpoint="kserve/fraud", trafficPercent=0))
        assert "modelgate.serving-not-production" not in policies_of(before["recordDeployment"])
        after = data_of(await record(client, uri=v.uri, endpoint="kserve/fraud", trafficPercent=5))
    (warning,) = [
        w
        for w in after["recordDeployment"]["compliance"]["violations"]
        if w["policy"] == "modelgate.serving-not-production"
    ]
    assert warning["severity"] == "warning" and "DRAFT" in warning["message"] and "5%" in warning["message"]


async def test_a_production_version_serving_nothing_is_a_warning(gov: Gateway) -> None:
    old = await register(gov, "fraud")
    new = await register(gov, "fraud")
    await gov.governance.promotions.request(_admin(), old.uri, _stage("ARCHIVED"))  # no approvals needed
    async with graphql_client(gov, "alice") as client:
        data_of(await record(client, uri=old.uri, endpoint="kserve/fraud", trafficPercent=100))
    # Make the new version PRODUCTION without traffic, straight in the registry, as a team might.
    from gateway.domain import Stage

    adapter = gov.adapters["platform"]
    stored = await gov.index.get_version(new.uri)
    assert stored is not None
    await adapter.set_stage(stored, Stage.PRODUCTION, PromotionContext("ops"))
    await gov.sync.sync_registry("platform", full=True)
    compliance = await gov.governance.stored_compliance([new.uri, old.uri])
    assert "modelgate.production-not-serving" in {v.policy for v in compliance[new.uri].violations}
    # The archived version still taking all the traffic is the other half of the story.
    assert "modelgate.serving-not-production" in {v.policy for v in compliance[old.uri].violations}


async def test_serving_filter_and_facet(gov: Gateway) -> None:
    served = await register(gov, "fraud")
    idle = await register(gov, "churn")
    async with graphql_client(gov, "alice") as client:
        data_of(await record(client, uri=served.uri, endpoint="seldon/fraud", trafficPercent=100))
        query = """query($serving: Boolean) {
          versions(filter: {serving: $serving}) { edges { node { uri } } facets { serving { value count } } }
          models(filter: {serving: $serving}) { edges { node { uri } } } }"""
        on = data_of(await gql(client, query, {"serving": True}))
        off = data_of(await gql(client, query, {"serving": False}))
        every = data_of(await gql(client, query, {"serving": None}))
    assert [n["node"]["uri"] for n in on["versions"]["edges"]] == [served.uri]
    assert [n["node"]["uri"] for n in on["models"]["edges"]] == [served.model_uri]
    assert [n["node"]["uri"] for n in off["versions"]["edges"]] == [idle.uri]
    assert [n["node"]["uri"] for n in off["models"]["edges"]] == [idle.model_uri]
    assert every["versions"]["facets"]["serving"] == [
        {"value": "notServing", "count": 1},
        {"value": "serving", "count": 1},
    ]


def _admin() -> Any:
    from gateway.auth.principal import Principal

    return Principal("ops", frozenset({"admin"}))


def _stage(name: str) -> Any:
    from gateway.domain import Stage

    return Stage(name)


async def test_post_deployments_over_http(gov: Gateway) -> None:
    v = await register(gov, "fraud")
    async with graphql_client(gov, "alice") as client:
        ok = await client.post(
            "/deployments", json={"uri": v.uri, "endpoint": "bentoml/fraud", "trafficPercent": 100}
        )
        wrong = await client.post("/deployments", json={"uri": v.uri, "endpoint": "e", "traffic": 1})
        not_json = await client.post(
            "/deployments", content=b"{", headers={"content-type": "application/json"}
        )
        client.headers["x-test-principal"] = "carol"
        forbidden = await client.post("/deployments", json={"uri": v.uri, "endpoint": "e"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["deployments"][0]["endpoint"] == "bentoml/fraud"
    assert ok.json()["deployments"][0]["trafficPercent"] == 100
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["extensions"]["field"] == "traffic"
    assert not_json.status_code == 400 and not_json.json()["errors"][0]["extensions"]["field"] == "body"
    assert forbidden.status_code == 403
    assert [e.uri for e in await gov.serving.endpoints()] == ["bentoml/fraud"]
