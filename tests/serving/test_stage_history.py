"""Stage history, ``asOf`` and rollback on native registries (SQLite and PostgreSQL):
every change recorded with who made it and how, the catalogue as it was at a
recorded moment, and a rollback to a time before a change, through approvals."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from adapters.protocol import PromotionContext
from gateway.auth.principal import Principal
from gateway.domain import Stage, utcnow
from gateway.governance.promotions import PromotionStatus
from gateway.runtime import Gateway
from tests.governance.conftest import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    POLICIES,
    complete,
    open_gateway,
    register,
    write_policies,
)
from tests.governance.test_graphql import graphql_client
from tests.support import data_of, gql

OPS = Principal("ops", frozenset({"admin"}))
HISTORY = """query($uri: String!) { stageHistory(uri: $uri) {
  version { uri } from to at principal source } }"""
VERSIONS_AS_OF = """query($asOf: DateTime) { versions(asOf: $asOf) { edges { node { uri stage } } } }"""
ROLLBACK = """mutation($uri: String!, $asOf: DateTime!) {
  rollback(modelUri: $uri, asOf: $asOf, reason: "bad launch") {
    id status targetStage fromStage reason requiredApprovals version { uri } } }"""


async def promote(gw: Gateway, uri: str, stage: Stage) -> None:
    """Through the promotion path, with every approval the test policies ask for."""
    request = await gw.governance.promotions.request(ALICE, uri, stage, "test")
    for approver in (BOB, CAROL, DAVE):
        if request.status is PromotionStatus.PENDING and request.missing_roles:
            request = await gw.governance.promotions.approve(approver, request.id)
    assert request.status is PromotionStatus.APPLIED, request


async def history(gw: Gateway, uri: str) -> list[dict[str, Any]]:
    async with graphql_client(gw, "alice") as client:
        return data_of(await gql(client, HISTORY, {"uri": uri}))["stageHistory"]  # type: ignore[no-any-return]


async def test_history_records_syncs_and_promotions_oldest_first(gov: Gateway) -> None:
    v = await register(gov, "fraud", **complete())
    await promote(gov, v.uri, Stage.STAGING)
    # A change made in the registry itself, which the next sync sees.
    stored = await gov.index.get_version(v.uri)
    assert stored is not None
    await gov.adapters["platform"].set_stage(stored, Stage.ARCHIVED, PromotionContext("console"))
    await gov.sync.sync_registry("platform", full=True)

    rows = await history(gov, v.uri)

    assert [(r["from"], r["to"], r["principal"], r["source"]) for r in rows] == [
        (None, "DRAFT", None, "sync"),
        ("DRAFT", "STAGING", "alice", "promotion"),
        ("STAGING", "ARCHIVED", None, "sync"),
    ]
    assert [r["at"] for r in rows] == sorted(r["at"] for r in rows)
    assert all(r["version"]["uri"] == v.uri for r in rows)
    assert await history(gov, v.model_uri) == rows  # a model's history: all its versions'
    assert await history(gov, "mg://platform/nothing-here") == []


async def test_versions_as_of_a_recorded_moment(gov: Gateway) -> None:
    first = await register(gov, "fraud", **complete())
    await promote(gov, first.uri, Stage.STAGING)
    staged_at = (await gov.history.changes(first.uri))[-1].at
    later = await register(gov, "fraud", **complete())
    await promote(gov, first.uri, Stage.PRODUCTION)

    async with graphql_client(gov, "alice") as client:
        now = data_of(await gql(client, VERSIONS_AS_OF, {"asOf": None}))["versions"]["edges"]
        then = data_of(await gql(client, VERSIONS_AS_OF, {"asOf": staged_at.isoformat()}))["versions"][
            "edges"
        ]
        naive = await gql(client, VERSIONS_AS_OF, {"asOf": "2026-01-01T00:00:00"})

    assert {(e["node"]["uri"], e["node"]["stage"]) for e in now} >= {
        (first.uri, "PRODUCTION"),
        (later.uri, "DRAFT"),
    }
    as_then = {e["node"]["uri"]: e["node"]["stage"] for e in then}
    assert as_then.get(first.uri) == "STAGING"
    if later.created_at is not None and later.created_at > staged_at:
        assert later.uri not in as_then  # registered after that moment
    assert naive["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert naive["errors"][0]["extensions"]["field"] == "asOf"


ROLLBACK_POLICIES = POLICIES.replace(
    "retention:",
    "rollback:\n  - to: PRODUCTION\n    approvals: [TEAM_LEAD]\nretention:",
)


async def test_rollback_to_a_time_before_a_change(database_url: str, tmp_path: Path) -> None:
    gw = await open_gateway(database_url, tmp_path, write_policies(tmp_path, ROLLBACK_POLICIES))
    try:
        v = await register(gw, "fraud", **complete())
        await promote(gw, v.uri, Stage.PRODUCTION)
        in_production = (await gw.history.changes(v.uri))[-1].at
        await promote(gw, v.uri, Stage.ARCHIVED)  # the change to undo (no approvals needed)
        assert (await gw.index.get_version(v.uri)).stage is Stage.ARCHIVED  # type: ignore[union-attr]

        async with graphql_client(gw, "alice") as client:
            body = await gql(client, ROLLBACK, {"uri": v.model_uri, "asOf": in_production.isoformat()})
            request = data_of(body)["rollback"]
            assert request["version"]["uri"] == v.uri
            assert (request["fromStage"], request["targetStage"], request["status"]) == (
                "ARCHIVED",
                "PRODUCTION",
                "PENDING",
            )
            # The policy file's rollback rule: one TEAM_LEAD, not the three a promotion needs.
            assert request["requiredApprovals"] == ["TEAM_LEAD"]
            assert request["reason"].startswith(f"rollback to {in_production.isoformat()}")
            client.headers["x-test-principal"] = "bob"
            approved = data_of(
                await gql(
                    client,
                    "mutation($id: ID!) { approvePromotion(requestId: $id) { status } }",
                    {"id": request["id"]},
                )
            )
            assert approved["approvePromotion"]["status"] == "APPLIED"
            nothing_left = await gql(
                client, ROLLBACK, {"uri": v.model_uri, "asOf": in_production.isoformat()}
            )
            future = await gql(
                client, ROLLBACK, {"uri": v.model_uri, "asOf": (utcnow() + timedelta(days=1)).isoformat()}
            )
            of_a_version = await gql(client, ROLLBACK, {"uri": v.uri, "asOf": in_production.isoformat()})
        assert (await gw.index.get_version(v.uri)).stage is Stage.PRODUCTION  # type: ignore[union-attr]
        last = (await gw.history.changes(v.uri))[-1]
        assert (last.from_stage, last.to_stage, last.principal, last.source) == (
            Stage.ARCHIVED,
            Stage.PRODUCTION,
            "alice",
            "promotion",
        )
        for body, field in ((nothing_left, "asOf"), (future, "asOf"), (of_a_version, "modelUri")):
            assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
            assert body["errors"][0]["extensions"]["field"] == field
    finally:
        await gw.aclose()


async def test_without_a_rollback_section_a_rollback_needs_the_promotion_approvals(gov: Gateway) -> None:
    v = await register(gov, "fraud", **complete())
    await promote(gov, v.uri, Stage.PRODUCTION)
    in_production = (await gov.history.changes(v.uri))[-1].at
    await gov.governance.promotions.request(OPS, v.uri, Stage.ARCHIVED)
    async with graphql_client(gov, "alice") as client:
        request = data_of(
            await gql(client, ROLLBACK, {"uri": v.model_uri, "asOf": in_production.isoformat()})
        )
    assert request["rollback"]["requiredApprovals"] == ["TEAM_LEAD", "LEGAL", "SECURITY"]


def test_the_policy_file_may_give_rollbacks_their_own_approvals() -> None:
    from gateway.config import ConfigError
    from gateway.governance.policies import load_policies, parse_policies

    shipped = load_policies(Path(__file__).resolve().parents[2] / "config" / "policies.yaml")
    assert shipped.required_approvals(Stage.PRODUCTION, "fraud", "r", Stage.ARCHIVED) == (
        "TEAM_LEAD",
        "LEGAL",
        "SECURITY",
    )
    assert shipped.required_approvals(Stage.PRODUCTION, "fraud", "r", Stage.ARCHIVED, rollback=True) == (
        "TEAM_LEAD",
    )
    without = parse_policies("promotions:\n  - to: PRODUCTION\n    approvals: [LEGAL]\n")
    assert without.rollback is None
    assert without.required_approvals(Stage.PRODUCTION, None, "r", rollback=True) == ("LEGAL",)
    none_needed = parse_policies("promotions:\n  - to: PRODUCTION\n    approvals: [LEGAL]\nrollback: []\n")
    assert none_needed.required_approvals(Stage.PRODUCTION, None, "r", rollback=True) == ()
    try:
        parse_policies("rollback:\n  - to: LIVE\n    approvals: [LEGAL]\n", source="p.yaml")
    except ConfigError as exc:
        assert "rollback[0]" in str(exc)
    else:
        raise AssertionError("a bad rollback rule must be refused")
