"""rollback restores the traffic a gateway rollout shifted, through the promotion
path, against moto's SageMaker: the split the endpoint had at asOf (the rollout's
recorded previous split) is sent only once the PRODUCTION restore request is
approved and applied; an endpoint that lost the variant the old split needs is
refused up front, or fails the request when it was lost while the request waited.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from sqlalchemy import select

from gateway.domain import Endpoint, Stage, TrafficShare, utcnow
from gateway.errors import Conflict
from gateway.governance.promotions import PromotionStatus
from gateway.rollouts.records import RolloutStatus
from gateway.rollouts.restore import restored_split
from gateway.runtime import Gateway
from gateway.store.tables import audit_events
from tests.adapters.contract import unique_name
from tests.rollouts.support import (
    ALICE,
    BOB,
    REGION,
    Canary,
    DateClock,
    create_canary,
    open_gateway,
    rollout_settings,
    weights,
)
from tests.support import data_of, gql, served_app

ROLLBACK = """mutation($uri: String!, $asOf: DateTime!) {
  rollback(modelUri: $uri, asOf: $asOf, reason: "v2 misbehaves") {
    id status targetStage version { uri }
    restoresTraffic { uri name traffic { variant percent version { uri } } } } }"""
APPROVE = "mutation($id: ID!) { approvePromotion(requestId: $id) { id status error } }"
ENDPOINTS = "{ endpoints { uri traffic { variant percent } } }"


@pytest.fixture
def sm(moto_sagemaker_url: str, aws_env: None) -> Any:
    return boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_sagemaker_url)


@pytest.fixture
def canary(sm: Any) -> Canary:
    return create_canary(sm)


@pytest.fixture
def clock() -> DateClock:
    return DateClock()


@pytest.fixture
async def served(
    database_url: str, tmp_path: Path, moto_sagemaker_url: str, canary: Canary, clock: DateClock
) -> AsyncIterator[tuple[httpx.AsyncClient, Gateway]]:
    gw = await open_gateway(rollout_settings(database_url, tmp_path, moto_sagemaker_url), clock)
    try:
        async with served_app(gw, {p.name: p for p in (ALICE, BOB)}) as c:
            yield c, gw
    finally:
        await gw.aclose()


async def roll_out_v2(gw: Gateway, canary: Canary, clock: DateClock) -> str:
    """v2 rolled out to all traffic (SUCCEEDED), after a moment returned as asOf."""
    as_of = utcnow()
    clock.now = as_of + timedelta(seconds=1)  # the rollout starts after asOf
    rollout = await gw.rollouts.start(
        ALICE, canary.candidate_uri, canary.endpoint, steps=[100], step_seconds=60
    )
    await gw.governance.promotions.approve(BOB, rollout.promotion_id or "")
    await gw.rollouts.tick()
    clock.advance(61)
    await gw.rollouts.tick()
    done = await gw.rollouts.get(rollout.id)
    assert done.status is RolloutStatus.SUCCEEDED, done.outcome
    return as_of.isoformat()


def drop_variant(sm: Any, endpoint: str, canary: Canary) -> None:
    """Re-create the endpoint (same name, so same ARN) with the candidate variant only.
    moto has no UpdateEndpoint; to the gateway this is the same endpoint, changed."""
    described = sm.describe_endpoint_config(
        EndpointConfigName=sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    )
    candidate = next(v for v in described["ProductionVariants"] if v["VariantName"] == "candidate")
    config = unique_name("config")
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": "candidate",
                "ModelName": candidate["ModelName"],
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": 100.0,
            }
        ],
    )
    sm.delete_endpoint(EndpointName=endpoint)
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)


async def traffic_events(gw: Gateway) -> list[dict[str, Any]]:
    async with gw.database.read() as conn:
        rows = await conn.execute(select(audit_events).order_by(audit_events.c.seq))
        return [dict(r.details) for r in rows if r.action == "rollback.traffic_restored"]


async def test_rollback_restores_the_split_once_its_request_is_approved(
    served: tuple[httpx.AsyncClient, Gateway], sm: Any, canary: Canary, clock: DateClock
) -> None:
    c, gw = served
    as_of = await roll_out_v2(gw, canary, clock)
    assert weights(sm, canary.endpoint) == {"current": 0.0, "candidate": 100.0}
    model_uri = canary.current_uri.rsplit("/", 1)[0]

    request = data_of(await gql(c, ROLLBACK, {"uri": model_uri, "asOf": as_of}))["rollback"]
    assert (request["version"]["uri"], request["targetStage"], request["status"]) == (
        canary.current_uri,
        "PRODUCTION",
        "PENDING",
    )
    (endpoint,) = request["restoresTraffic"]
    assert endpoint["name"] == canary.endpoint
    assert {t["variant"]: t["percent"] for t in endpoint["traffic"]} == {"current": 100.0, "candidate": 0.0}
    assert {t["variant"]: (t["version"] or {}).get("uri") for t in endpoint["traffic"]} == {
        "current": canary.current_uri,
        "candidate": canary.candidate_uri,
    }
    assert weights(sm, canary.endpoint) == {"current": 0.0, "candidate": 100.0}  # governed: not yet
    assert await traffic_events(gw) == []

    c.headers["x-test-principal"] = "bob"
    approved = data_of(await gql(c, APPROVE, {"id": request["id"]}))["approvePromotion"]
    assert approved["status"] == "APPLIED", approved["error"]
    assert weights(sm, canary.endpoint) == {"current": 100.0, "candidate": 0.0}
    assert (await gw.index.get_version(canary.current_uri)).stage is Stage.PRODUCTION  # type: ignore[union-attr]

    (event,) = await traffic_events(gw)
    assert event["requestId"] == request["id"] and event["endpoint"] == endpoint["uri"]
    assert {t["variant"]: t["percent"] for t in event["previousTraffic"]} == {
        "current": 0.0,
        "candidate": 100.0,
    }
    assert {t["variant"]: t["percent"] for t in event["restoredTraffic"]} == {
        "current": 100.0,
        "candidate": 0.0,
    }
    # The serving state shows the restored split without waiting for a sync.
    (shown,) = [e for e in data_of(await gql(c, ENDPOINTS))["endpoints"] if e["uri"] == endpoint["uri"]]
    assert {t["variant"]: t["percent"] for t in shown["traffic"]} == {"current": 100.0, "candidate": 0.0}
    last = (await gw.history.changes(canary.current_uri))[-1]
    assert (last.to_stage, last.principal, last.source) == (Stage.PRODUCTION, "alice", "promotion")
    assert (await gw.governance.verify_audit(None)).ok

    # Applied once: a second rollback to the same moment has no traffic left to restore.
    again = await gw.rollouts.restorer.plan(model_uri, utcnow().replace(year=2000))
    assert again == []


async def test_rollback_to_before_a_rollout_whose_old_variant_is_gone_is_refused(
    served: tuple[httpx.AsyncClient, Gateway], sm: Any, canary: Canary, clock: DateClock
) -> None:
    c, gw = served
    as_of = await roll_out_v2(gw, canary, clock)
    drop_variant(sm, canary.endpoint, canary)
    model_uri = canary.current_uri.rsplit("/", 1)[0]

    body = await gql(c, ROLLBACK, {"uri": model_uri, "asOf": as_of})
    error = body["errors"][0]
    assert error["extensions"]["code"] == "CONFLICT"
    assert "no longer has variant current (100 %)" in error["message"]
    assert "Traceback" not in str(body)
    assert await gw.governance.promotions.find(PromotionStatus.PENDING.value, canary.current_uri) == []
    assert weights(sm, canary.endpoint) == {"candidate": 100.0}


async def test_a_variant_lost_while_the_request_waits_fails_it_and_shifts_nothing(
    served: tuple[httpx.AsyncClient, Gateway], sm: Any, canary: Canary, clock: DateClock
) -> None:
    c, gw = served
    as_of = await roll_out_v2(gw, canary, clock)
    model_uri = canary.current_uri.rsplit("/", 1)[0]
    request = data_of(await gql(c, ROLLBACK, {"uri": model_uri, "asOf": as_of}))["rollback"]
    drop_variant(sm, canary.endpoint, canary)

    c.headers["x-test-principal"] = "bob"
    failed = data_of(await gql(c, APPROVE, {"id": request["id"]}))["approvePromotion"]
    assert failed["status"] == "FAILED"
    assert "no longer has variant current (100 %)" in failed["error"]
    assert weights(sm, canary.endpoint) == {"candidate": 100.0}
    assert (await gw.index.get_version(canary.current_uri)).stage is not Stage.PRODUCTION  # type: ignore[union-attr]
    assert await traffic_events(gw) == []


async def test_an_endpoint_already_back_is_left_alone_and_a_running_rollout_refuses(
    served: tuple[httpx.AsyncClient, Gateway], sm: Any, canary: Canary, clock: DateClock
) -> None:
    _, gw = served
    as_of = utcnow()
    clock.now = as_of + timedelta(seconds=1)
    model_uri = canary.current_uri.rsplit("/", 1)[0]
    rollout = await gw.rollouts.start(ALICE, canary.candidate_uri, canary.endpoint, steps=[40, 100])
    await gw.governance.promotions.approve(BOB, rollout.promotion_id or "")
    await gw.rollouts.tick()
    assert weights(sm, canary.endpoint) == {"current": 60.0, "candidate": 40.0}
    with pytest.raises(Conflict, match="abort it or let it finish") as running:
        await gw.rollouts.restorer.plan(model_uri, as_of)
    assert running.value.extensions["field"] == "modelUri"

    await gw.rollouts.abort(ALICE, rollout.id, "not today")
    assert weights(sm, canary.endpoint) == {"current": 100.0, "candidate": 0.0}
    assert await gw.rollouts.restorer.plan(model_uri, as_of) == []  # the abort already put it back


def test_a_variant_added_since_gets_no_traffic() -> None:
    wanted = [TrafficShare(100.0, "mg://ads/m/1", "current"), TrafficShare(0.0, "mg://ads/m/2", "candidate")]
    now = Endpoint(
        "arn:e",
        "e",
        "ads",
        traffic=(
            TrafficShare(10.0, "mg://ads/m/1", "current"),
            TrafficShare(80.0, "mg://ads/m/2", "candidate"),
            TrafficShare(10.0, "mg://ads/m/3", "shadow"),
        ),
    )
    assert [(s.variant, s.percent) for s in restored_split(now, wanted)] == [
        ("current", 100.0),
        ("candidate", 0.0),
        ("shadow", 0.0),
    ]
    only_current = Endpoint("arn:e", "e", "ads", traffic=(TrafficShare(100.0, "mg://ads/m/1", "current"),))
    # A variant removed since that the old split gave nothing is simply left out.
    assert [(s.variant, s.percent) for s in restored_split(only_current, wanted)] == [("current", 100.0)]
    only_candidate = Endpoint(
        "arn:e", "e", "ads", traffic=(TrafficShare(100.0, "mg://ads/m/2", "candidate"),)
    )
    with pytest.raises(Conflict, match="no longer has variant current"):
        restored_split(only_candidate, wanted)
