"""The governance GraphQL API end to end: names and shapes of schema.graphql, and its
permissions (auditEvents and complianceReport need an audit role)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager
from starlette.requests import Request

from gateway.auth.principal import Principal
from gateway.runtime import Gateway
from gateway.server import create_app
from tests.governance.conftest import ALICE, AUDITOR, BOB, CAROL, DAVE, complete, register
from tests.support import data_of, gql

PRINCIPALS = {p.name: p for p in (ALICE, BOB, CAROL, DAVE, AUDITOR)}


@asynccontextmanager
async def graphql_client(gw: Gateway, name: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from the named test principal (the server's
    ``principal_for_request`` seam, where authentication plugs in)."""

    async def principal_for(request: Request) -> Principal:
        return PRINCIPALS[request.headers.get("x-test-principal", name)]

    app = create_app(gw.settings, gateway=gw, background_sync=False, principal_for_request=principal_for)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client,
    ):
        yield client


REQUEST = """mutation($uri: String!) { requestPromotion(uri: $uri, targetStage: PRODUCTION, reason: "launch") {
  id status requestedBy requiredApprovals violations { policy } version { uri stage } } }"""
APPROVE = """mutation($id: ID!) { approvePromotion(requestId: $id, comment: "ok") {
  id status requiredApprovals approvals { principal role comment at } } }"""


async def test_promotion_through_graphql(gov: Gateway) -> None:
    v = await register(gov, "fraud", **complete())
    async with graphql_client(gov, "alice") as client:
        requested = data_of(await gql(client, REQUEST, {"uri": v.uri}))["requestPromotion"]
        assert requested["status"] == "PENDING" and requested["requestedBy"] == "alice"
        assert requested["requiredApprovals"] == ["TEAM_LEAD", "LEGAL", "SECURITY"]
        assert requested["version"] == {"uri": v.uri, "stage": "DRAFT"}
        own = await gql(client, APPROVE, {"id": requested["id"]})
        assert own["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        for who in ("bob", "carol", "dave"):
            client.headers["x-test-principal"] = who
            result = data_of(await gql(client, APPROVE, {"id": requested["id"]}))["approvePromotion"]
        assert result["status"] == "APPLIED" and result["requiredApprovals"] == []
        assert [a["role"] for a in result["approvals"]] == ["TEAM_LEAD", "LEGAL", "SECURITY"]
        listed = data_of(
            await gql(client, '{ promotionRequests(status: "APPLIED") { id version { stage } } }')
        )
        assert listed["promotionRequests"] == [{"id": requested["id"], "version": {"stage": "PRODUCTION"}}]
        rejected = await gql(
            client, 'mutation { rejectPromotion(requestId: "nope", comment: "x") { status } }'
        )
        assert rejected["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_audit_events_and_reports_need_an_audit_role(gov: Gateway) -> None:
    v = await register(gov, "fraud", **complete())
    query = """{ auditEvents(first: 2, action: "version.*") { totalCount
        edges { cursor node { id at action principal subject details hash prevHash } } pageInfo { hasNextPage } }
      complianceReport { totalVersions compliantVersions byTeam { key versions compliant }
        violations(first: 5) { totalCount edges { node { policy } } } } }"""
    async with graphql_client(gov, "alice") as client:
        denied = await gql(client, query)
        assert {e["extensions"]["code"] for e in denied["errors"]} == {"FORBIDDEN"}
        client.headers["x-test-principal"] = "audrey"
        data = data_of(await gql(client, query))
    events = data["auditEvents"]
    assert events["totalCount"] == 1 and not events["pageInfo"]["hasNextPage"]
    node = events["edges"][0]["node"]
    assert (
        node["action"] == "version.registered" and node["principal"] == "alice" and node["subject"] == v.uri
    )
    assert node["details"]["artifactUri"] == "s3://models/m/model.bin" and len(node["hash"]) == 64
    report = data["complianceReport"]
    assert report["totalVersions"] == 1 and report["compliantVersions"] == 1
    assert report["byTeam"] == [{"key": "platform", "versions": 1, "compliant": 1}]
    assert report["violations"] == {"totalCount": 0, "edges": []}


async def test_promotion_requests_of_a_restricted_registry_are_listed_only_to_those_involved(
    database_url: str, tmp_path: Path
) -> None:
    from gateway.domain import Stage
    from tests.governance.conftest import write_policies
    from tests.support import make_settings

    settings = make_settings(
        database_url,
        tmp_path,
        governance={"policies": str(write_policies(tmp_path))},
        registries=[
            {"id": "platform", "kind": "native", "team": "platform"},
            {"id": "research", "kind": "native", "team": "research", "restricted": True},
        ],
    )
    gw = await Gateway.open(settings)
    try:
        v = await register(gw, "secret", registry="research", actor="rita", **complete())
        rita = Principal("rita", frozenset(), frozenset({"research"}))
        await gw.governance.promotions.request(rita, v.uri, Stage.PRODUCTION)
        PRINCIPALS.update({"rita": rita, "zed": Principal("zed", frozenset({"viewer"}))})
        seen = {}
        async with graphql_client(gw, "zed") as client:
            for who in ("zed", "rita", "carol", "alice"):
                client.headers["x-test-principal"] = who
                body = data_of(await gql(client, "{ promotionRequests { versionUri } }"))
                seen[who] = [r["versionUri"] for r in body["promotionRequests"]]
    finally:
        await gw.aclose()
    # zed may not see the restricted registry; rita asked; carol holds LEGAL, an
    # organisation-wide role the request needs, so she can find it to decide. alice
    # is TEAM_LEAD of another team: team-scoped, her approval would not count, so
    # the request stays hidden from her.
    assert seen == {"zed": [], "rita": [v.uri], "carol": [v.uri], "alice": []}


WITHDRAW = """mutation($id: ID!, $reason: String) { withdrawPromotion(requestId: $id, reason: $reason) {
  status rejection { principal comment } } }"""


async def test_the_requester_withdraws_an_open_request(gov: Gateway) -> None:
    v = await register(gov, "fraud", **complete())
    async with graphql_client(gov, "alice") as client:
        requested = data_of(await gql(client, REQUEST, {"uri": v.uri}))["requestPromotion"]
        client.headers["x-test-principal"] = "bob"  # not theirs to withdraw
        other = await gql(client, WITHDRAW, {"id": requested["id"]})
        assert other["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        client.headers["x-test-principal"] = "alice"
        withdrawn = data_of(await gql(client, WITHDRAW, {"id": requested["id"], "reason": "wrong data"}))
        assert withdrawn["withdrawPromotion"] == {
            "status": "REJECTED",
            "rejection": {"principal": "alice", "comment": "wrong data"},
        }
        again = await gql(client, WITHDRAW, {"id": requested["id"]})
        assert again["errors"][0]["extensions"]["code"] == "CONFLICT"
        absent = await gql(client, WITHDRAW, {"id": "nope"})
        assert absent["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        # a new request may be opened now that the old one is closed
        assert data_of(await gql(client, REQUEST, {"uri": v.uri}))["requestPromotion"]["status"] == "PENDING"
        client.headers["x-test-principal"] = "audrey"
        audited = data_of(
            await gql(
                client,
                '{ auditEvents(action: "promotion.withdrawn") { edges { node { principal subject details } } } }',
            )
        )["auditEvents"]["edges"]
        assert [(e["node"]["principal"], e["node"]["subject"]) for e in audited] == [("alice", v.uri)]
        assert audited[0]["node"]["details"]["comment"] == "wrong data"
