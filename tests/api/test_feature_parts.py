"""Each feature's part of the schema (``gateway.api.lineage``, ``serving``,
``rollouts``, ``governance``) served alone: a schema of that part's Query (and
Mutation), executed with a ``Context`` over the demo catalogue, with no HTTP
and none of the other parts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from gateway.api.context import Context
from gateway.api.governance import GovernanceMutation, GovernanceQuery
from gateway.api.input_values import DATETIME
from gateway.api.lineage import LineageQuery
from gateway.api.rollouts import RolloutQuery
from gateway.api.serving import ServingQuery
from gateway.api.types import ModelType, ModelVersionType
from gateway.auth.principal import LOCAL_OPERATOR, Principal
from gateway.runtime import Gateway

PARENT, CHILD = "mg://platform/fraud-detector/1", "mg://platform/fraud-detector/2"
PLATFORM = Principal("pat", teams=frozenset({"platform"}))


async def run(
    gateway: Gateway,
    query_part: type,
    document: str,
    *,
    mutation_part: type | None = None,
    principal: Principal = LOCAL_OPERATOR,
) -> dict[str, Any]:
    schema = strawberry.Schema(
        query=query_part,
        mutation=mutation_part,
        types=[ModelType, ModelVersionType],
        scalar_overrides={datetime: DATETIME},
    )
    result = await schema.execute(document, context_value=Context(gateway, "test-request", principal))
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data


async def test_lineage_walks_up_and_impact_walks_down(demo_gateway: Gateway) -> None:
    data = await run(
        demo_gateway,
        LineageQuery,
        f'{{ lineage(uri: "{CHILD}", direction: UPSTREAM, depth: 1) {{ nodes {{ uri kind }} truncated }}'
        f' impactAnalysis(uri: "{PARENT}") {{ root versions {{ uri depth relations version {{ uri }} }} }} }}',
    )
    assert PARENT in {n["uri"] for n in data["lineage"]["nodes"]}
    (child,) = [v for v in data["impactAnalysis"]["versions"] if v["uri"] == CHILD]
    assert child["depth"] == 1 and child["version"] == {"uri": CHILD}


async def test_stage_history_reads_each_change(demo_gateway: Gateway) -> None:
    data = await run(
        demo_gateway,
        ServingQuery,
        '{ stageHistory(uri: "mg://platform/fraud-detector/5") { from to version { uri } } endpoints { name } }',
    )
    assert data["stageHistory"][-1]["to"] == "PRODUCTION"
    assert {c["version"]["uri"] for c in data["stageHistory"]} == {"mg://platform/fraud-detector/5"}
    assert isinstance(data["endpoints"], list)


async def test_rollout_options_say_whether_the_caller_may_start_one(demo_gateway: Gateway) -> None:
    document = '{ rollouts { id } rolloutOptions(uri: "mg://platform/fraud-detector/6") { canStart steps } }'
    owner = await run(demo_gateway, RolloutQuery, document, principal=PLATFORM)
    outsider = await run(
        demo_gateway, RolloutQuery, document, principal=Principal("rae", teams=frozenset({"research"}))
    )
    assert owner["rollouts"] == [] and owner["rolloutOptions"]["canStart"] is True
    assert owner["rolloutOptions"]["steps"][-1] == 100.0
    assert outsider["rolloutOptions"]["canStart"] is False


async def test_a_promotion_request_is_listed_and_audited(demo_gateway: Gateway) -> None:
    requested = await run(
        demo_gateway,
        GovernanceQuery,
        f'mutation {{ requestPromotion(uri: "{CHILD}", targetStage: STAGING, reason: "retest") '
        "{ id status versionUri requestedBy } }",
        mutation_part=GovernanceMutation,
        principal=PLATFORM,
    )
    request = requested["requestPromotion"]
    assert (request["versionUri"], request["requestedBy"]) == (CHILD, "pat")
    listed = await run(
        demo_gateway,
        GovernanceQuery,
        f'{{ promotionRequests(uri: "{CHILD}") {{ id }} auditVerification {{ ok events }}'
        " complianceReport { totalVersions compliantVersions byTeam { key versions } } }",
    )
    assert [r["id"] for r in listed["promotionRequests"]] == [request["id"]]
    assert listed["auditVerification"]["ok"] is True and listed["auditVerification"]["events"] >= 1
    report = listed["complianceReport"]
    assert report["totalVersions"] == sum(g["versions"] for g in report["byTeam"]) > 0
