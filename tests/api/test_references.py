"""References by stage or alias at every boundary of a served gateway: GraphQL
(queries and mutations that take a version URI) and REST (artifacts, BOM,
evidence, deployments, OpenLineage), with the visibility rule: a hidden version
is absent, never named, and its ref answers as one nobody holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.auth.principal import Principal
from gateway.domain import Stage
from gateway.runtime import Gateway
from tests.governance.conftest import ALICE, BOB, OUTSIDER, complete, force_stage, open_gateway, register
from tests.support import served_app

ADMIN = Principal("ada", frozenset({"admin"}))
WHO = {"alice": ALICE, "bob": BOB, "mallory": OUTSIDER, "ada": ADMIN}
DATA = b"weights of fraud v2" * 100


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    """platform/fraud: v1 ARCHIVED, v2 PRODUCTION (with a file, alias champion), v3 STAGING;
    platform/twins: two PRODUCTION versions; platform/secret: restricted, v1 PRODUCTION."""
    gw = await open_gateway(database_url, tmp_path)
    try:
        async with served_app(gw, WHO) as client:
            stored = await client.put("/artifacts/platform/fraud/model.bin", content=DATA)
            assert stored.status_code == 201, stored.text
            v1 = await register(gw, "fraud", **complete())
            v2 = await register(
                gw, "fraud", **complete(artifact_uri=stored.json()["uri"], aliases=("champion",))
            )
            v3 = await register(gw, "fraud", **complete())
            await force_stage(gw, v1, Stage.ARCHIVED)
            await force_stage(gw, v2, Stage.PRODUCTION)
            await force_stage(gw, v3, Stage.STAGING)
            t1 = await register(gw, "twins", **complete())
            t2 = await register(gw, "twins", **complete())
            await force_stage(gw, t1, Stage.PRODUCTION)
            await force_stage(gw, t2, Stage.PRODUCTION)
            s1 = await register(gw, "secret", **complete(tags={"restricted": "true"}))
            await force_stage(gw, s1, Stage.PRODUCTION)
            for model in ("fraud", "twins", "secret"):
                await gw.sync.refresh_model("platform", model)
            yield gw, client
    finally:
        await gw.aclose()


async def gql(client: httpx.AsyncClient, who: str, query: str, **variables: Any) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers={"x-test-principal": who}
    )
    body: dict[str, Any] = response.json()
    return body


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or ()]


VERSION = "query($uri: String!) { modelVersion(uri: $uri) { uri version stage aliases } }"


async def test_model_version_by_stage_and_alias_returns_the_concrete_uri(world: Any) -> None:
    _, client = world
    for ref, version in [("@production", "2"), ("@staging", "3"), ("@archived", "1"), ("@champion", "2")]:
        body = await gql(client, "alice", VERSION, uri=f"mg://platform/fraud{ref}")
        assert body["data"]["modelVersion"]["uri"] == f"mg://platform/fraud/{version}", body
    # The aliases field says what the registry calls it.
    body = await gql(client, "alice", VERSION, uri="mg://platform/fraud@champion")
    assert body["data"]["modelVersion"]["aliases"] == ["champion"]


async def test_several_holders_are_a_conflict_naming_both(world: Any) -> None:
    _, client = world
    body = await gql(client, "alice", VERSION, uri="mg://platform/twins@production")
    assert codes(body) == ["CONFLICT"]
    (error,) = body["errors"]
    assert "mg://platform/twins/1" in error["message"] and "mg://platform/twins/2" in error["message"]
    assert error["extensions"]["versions"] == ["mg://platform/twins/2", "mg://platform/twins/1"]
    assert body["data"] is None or body["data"]["modelVersion"] is None


async def test_no_holder_is_not_found_and_a_hidden_one_answers_alike(world: Any) -> None:
    _, client = world
    nobody = await gql(client, "alice", VERSION, uri="mg://platform/twins@staging")
    assert codes(nobody) == ["NOT_FOUND"]
    assert "no version of mg://platform/twins holds @staging" in nobody["errors"][0]["message"]
    # The restricted model's team resolves it; an outsider gets the answer of a model
    # that does not exist, word for word but for the name.
    assert (await gql(client, "alice", VERSION, uri="mg://platform/secret@production"))["data"][
        "modelVersion"
    ]["uri"] == "mg://platform/secret/1"
    hidden = await gql(client, "mallory", VERSION, uri="mg://platform/secret@production")
    absent = await gql(client, "mallory", VERSION, uri="mg://platform/nothing@production")
    assert codes(hidden) == codes(absent) == ["NOT_FOUND"]
    assert hidden["errors"][0]["message"].replace("secret", "X") == absent["errors"][0]["message"].replace(
        "nothing", "X"
    )
    assert "secret/1" not in str(hidden)


async def test_a_malformed_reference_is_bad_input(world: Any) -> None:
    _, client = world
    for uri in ("mg://platform/fraud/2@production", "mg://platform/fraud@"):
        body = await gql(client, "alice", VERSION, uri=uri)
        assert codes(body) == ["BAD_USER_INPUT"], body
    model = await gql(client, "alice", 'query { model(uri: "mg://platform/fraud@production") { uri } }')
    assert codes(model) == ["BAD_USER_INPUT"]


REQUEST = """mutation($uri: String!) {
  requestPromotion(uri: $uri, targetStage: PRODUCTION, reason: "ship it") { id status version { uri } }
}"""


async def test_a_promotion_request_records_the_version_the_ref_named_then(world: Any) -> None:
    gw, client = world
    body = await gql(client, "alice", REQUEST, uri="mg://platform/fraud@staging")
    request = body["data"]["requestPromotion"]
    assert request["version"]["uri"] == "mg://platform/fraud/3", body
    listed = await gql(
        client,
        "alice",
        "query($uri: String) { promotionRequests(uri: $uri) { id } }",
        uri="mg://platform/fraud@staging",
    )
    assert [r["id"] for r in listed["data"]["promotionRequests"]] == [request["id"]]
    stored = await gw.governance.promotions.find(version_uri="mg://platform/fraud/3")
    assert [r.version_uri for r in stored] == ["mg://platform/fraud/3"]
    # A conflict or a hidden ref creates nothing.
    assert codes(await gql(client, "alice", REQUEST, uri="mg://platform/twins@production")) == ["CONFLICT"]
    assert codes(await gql(client, "mallory", REQUEST, uri="mg://platform/secret@production")) == [
        "NOT_FOUND"
    ]
    review = await gql(
        client,
        "ada",
        'mutation($uri: String!) { addReview(uri: $uri, comment: "ok", outcome: APPROVED) { comment } }',
        uri="mg://platform/fraud@production",
    )
    assert review["data"]["addReview"]["comment"] == "ok", review


async def test_lineage_impact_history_and_deployments_take_a_reference(world: Any) -> None:
    _, client = world
    lineage = await gql(
        client,
        "alice",
        "query($uri: String!) { lineage(uri: $uri) { nodes { uri } } }",
        uri="mg://platform/fraud@production",
    )
    assert "mg://platform/fraud/2" in [n["uri"] for n in lineage["data"]["lineage"]["nodes"]], lineage
    impact = await gql(
        client,
        "alice",
        "query($uri: String!) { impactAnalysis(uri: $uri) { root } }",
        uri="mg://platform/fraud@production",
    )
    assert impact["data"]["impactAnalysis"]["root"] == "mg://platform/fraud/2", impact
    history = await gql(
        client,
        "alice",
        "query($uri: String!) { stageHistory(uri: $uri) { version { uri } to } }",
        uri="mg://platform/fraud@production",
    )
    assert {c["version"]["uri"] for c in history["data"]["stageHistory"]} <= {"mg://platform/fraud/2"}, (
        history
    )
    options = await gql(
        client,
        "alice",
        "query($uri: String!) { rolloutOptions(uri: $uri) { canStart } }",
        uri="mg://platform/fraud@champion",
    )
    assert options["data"]["rolloutOptions"]["canStart"] is True, options
    deployed = await gql(
        client,
        "alice",
        'mutation($uri: String!) { recordDeployment(input: {uri: $uri, endpoint: "kserve/fraud", trafficPercent: 100}) '
        "{ uri deployments { endpoint } } }",
        uri="mg://platform/fraud@production",
    )
    assert deployed["data"]["recordDeployment"]["uri"] == "mg://platform/fraud/2", deployed


async def test_registering_a_fine_tune_of_a_reference_records_the_concrete_parent(world: Any) -> None:
    _, client = world
    body = await gql(
        client,
        "alice",
        'mutation { registerModelVersion(input: {registry: "platform", model: "fraud-tuned", '
        'artifactUri: "s3://models/tuned/model.bin", parent: "mg://platform/fraud@production"}) '
        "{ uri parent { uri } } }",
    )
    assert body["data"]["registerModelVersion"]["parent"]["uri"] == "mg://platform/fraud/2", body


async def test_rest_routes_take_a_reference_in_the_version_segment(world: Any) -> None:
    _, client = world
    file = await client.get("/artifacts/platform/fraud/@production/model.bin")
    assert file.status_code == 200, file.text
    assert file.content == DATA
    assert file.headers["x-modelgate-version"] == "mg://platform/fraud/2"
    assert file.headers["content-location"] == "/artifacts/platform/fraud/2/model.bin"
    conflict = await client.get("/artifacts/platform/twins/@production/model.bin")
    assert conflict.status_code == 409, conflict.text
    (error,) = conflict.json()["errors"]
    assert error["extensions"]["code"] == "CONFLICT"
    assert "mg://platform/twins/1" in error["message"] and "mg://platform/twins/2" in error["message"]
    hidden = await client.get(
        "/artifacts/platform/secret/@production/model.bin", headers={"x-test-principal": "mallory"}
    )
    absent = await client.get(
        "/artifacts/platform/nothing/@production/model.bin", headers={"x-test-principal": "mallory"}
    )
    assert hidden.status_code == absent.status_code == 404

    bom = await client.get("/bom/platform/fraud/@production")
    assert bom.status_code == 200, bom.text
    assert bom.json()["metadata"]["component"]["bom-ref"] == "mg://platform/fraud/2"
    assert "fraud-production" in bom.headers["content-disposition"]
    assert (await client.get("/bom/platform/twins/@production")).status_code == 409
    assert (await client.get("/bom/platform/fraud/@nobody")).status_code == 404

    evidence = await client.get(
        "/reports/evidence",
        params={"uri": "mg://platform/fraud@production"},
        headers={"x-test-principal": "ada"},
    )
    assert evidence.status_code == 200, evidence.text
    assert "mg://platform/fraud/2" in evidence.text

    openlineage = await client.get("/lineage/openlineage", params={"uri": "mg://platform/fraud@production"})
    assert openlineage.status_code == 200, openlineage.text

    deployed = await client.post(
        "/deployments",
        json={"uri": "mg://platform/fraud@champion", "endpoint": "kserve/fraud", "trafficPercent": 50},
    )
    assert deployed.status_code == 200, deployed.text
    assert deployed.json()["uri"] == "mg://platform/fraud/2"


async def test_model_arguments_refuse_a_reference(world: Any) -> None:
    _, client = world
    body = await gql(
        client,
        "ada",
        'mutation { setRiskTier(modelUri: "mg://platform/fraud@production", tier: null, reason: "r") { tier } }',
    )
    assert codes(body) == ["BAD_USER_INPUT"], body
    assert "names a version: name its model, mg://platform/fraud" in body["errors"][0]["message"]
