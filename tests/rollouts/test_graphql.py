"""Rollouts through GraphQL: startRollout (PENDING_APPROVAL, with its promotion
request), rollouts(status), abortRollout restoring traffic, and bad input
answered with BAD_USER_INPUT naming the argument. moto's SageMaker serves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from gateway.auth.principal import Principal
from gateway.runtime import Gateway
from tests.rollouts.support import (
    ALICE,
    BOB,
    REGION,
    REGISTRY,
    Canary,
    DateClock,
    create_canary,
    open_gateway,
    rollout_settings,
    weights,
)
from tests.support import data_of, gql, served_app

START = """mutation($i: RolloutInput!) { startRollout(input: $i) {
  id status currentPercent steps { percent passed } version { uri }
  endpoint { name traffic { variant percent version { uri } } }
  promotion { id status targetStage requiredApprovals } } }"""
LIST = "query($s: String) { rollouts(status: $s) { id status currentPercent reason } }"
ABORT = "mutation($id: ID!, $r: String!) { abortRollout(id: $id, reason: $r) { id status reason currentPercent } }"
APPROVE = "mutation($id: ID!) { approvePromotion(requestId: $id) { id status } }"
# Of another team: sees the rollouts, may neither start nor abort one.
CAROL = Principal("carol", frozenset({"TEAM_LEAD"}), frozenset({"other"}))
OPTIONS = "query($u: String!) { rolloutOptions(uri: $u) { canStart steps stepSeconds maxErrorRate } }"
DETAIL = """query { rollouts { id stepSeconds maxErrorRate requestedBy createdAt canAbort
  steps { percent startedAt finishedAt errorRate passed } } }"""


@pytest.fixture
def sm(moto_sagemaker_url: str, aws_env: None) -> Any:
    return boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_sagemaker_url)


@pytest.fixture
async def client(sqlite_url: str, tmp_path: Path, moto_sagemaker_url: str, sm: Any) -> AsyncIterator[Any]:
    canary = create_canary(sm)
    gw = await open_gateway(rollout_settings(sqlite_url, tmp_path, moto_sagemaker_url), DateClock())
    try:
        async with served_app(gw, {p.name: p for p in (ALICE, BOB, CAROL)}) as c:
            yield c, gw, canary
    finally:
        await gw.aclose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/modelgate.db"


async def test_start_list_and_abort_through_graphql(
    client: tuple[httpx.AsyncClient, Gateway, Canary], sm: Any
) -> None:
    c, gw, canary = client
    started = data_of(
        await gql(
            c, START, {"i": {"uri": canary.candidate_uri, "endpoint": canary.endpoint, "steps": [50, 100]}}
        ),
        down=frozenset({REGISTRY}),
    )["startRollout"]
    assert started["status"] == "PENDING_APPROVAL"
    assert started["promotion"]["targetStage"] == "PRODUCTION"
    assert started["promotion"]["requiredApprovals"] == ["TEAM_LEAD"]
    assert [s["percent"] for s in started["steps"]] == [50.0, 100.0]
    assert {(t["variant"], t["percent"]) for t in started["endpoint"]["traffic"]} == {
        ("current", 100.0),
        ("candidate", 0.0),
    }
    c.headers["x-test-principal"] = "bob"
    data_of(await gql(c, APPROVE, {"id": started["promotion"]["id"]}))
    await gw.rollouts.tick()
    assert weights(sm, canary.endpoint) == {"current": 50.0, "candidate": 50.0}
    running = data_of(await gql(c, LIST, {"s": "RUNNING"}))["rollouts"]
    assert [(r["id"], r["currentPercent"]) for r in running] == [(started["id"], 50.0)]

    aborted = data_of(await gql(c, ABORT, {"id": started["id"], "r": "latency regression"}))["abortRollout"]

    assert aborted["status"] == "ABORTED"
    assert aborted["reason"] == "aborted by bob: latency regression"
    assert aborted["currentPercent"] == 0.0
    assert weights(sm, canary.endpoint) == {"current": 100.0, "candidate": 0.0}
    assert data_of(await gql(c, LIST, {"s": "RUNNING"}))["rollouts"] == []
    again = await gql(c, ABORT, {"id": started["id"], "r": "twice"})
    assert again["errors"][0]["extensions"]["code"] == "CONFLICT"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"steps": [10, 50]}, "steps"),
        ({"stepSeconds": 0}, "stepSeconds"),
        ({"maxErrorRate": -1}, "maxErrorRate"),
    ],
)
async def test_bad_rollout_input_names_the_argument(client: Any, extra: dict[str, Any], field: str) -> None:
    c, _gw, canary = client
    body = await gql(c, START, {"i": {"uri": canary.candidate_uri, "endpoint": canary.endpoint, **extra}})
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == field
    assert "Traceback" not in error["message"]
    assert data_of(await gql(c, LIST, {}))["rollouts"] == []


async def test_the_plan_the_permissions_and_each_step_s_watch_are_readable(
    client: tuple[httpx.AsyncClient, Gateway, Canary],
) -> None:
    c, gw, canary = client
    c.headers["x-test-principal"] = "carol"
    assert data_of(await gql(c, OPTIONS, {"u": canary.candidate_uri}))["rolloutOptions"] == {
        "canStart": False,
        "steps": [1.0, 5.0, 10.0, 25.0, 50.0, 100.0],
        "stepSeconds": 3600,
        "maxErrorRate": 0.01,
    }
    denied = await gql(c, START, {"i": {"uri": canary.candidate_uri, "endpoint": canary.endpoint}})
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # what canStart said
    c.headers["x-test-principal"] = "alice"
    assert data_of(await gql(c, OPTIONS, {"u": canary.candidate_uri}))["rolloutOptions"]["canStart"] is True
    plan = {"steps": [20, 100], "stepSeconds": 120, "maxErrorRate": 0.05}
    started = data_of(
        await gql(c, START, {"i": {"uri": canary.candidate_uri, "endpoint": canary.endpoint, **plan}}),
        down=frozenset({REGISTRY}),
    )["startRollout"]

    (r,) = data_of(await gql(c, DETAIL))["rollouts"]
    assert (r["stepSeconds"], r["maxErrorRate"], r["requestedBy"], r["canAbort"]) == (
        120,
        0.05,
        "alice",
        True,
    )
    assert r["createdAt"] is not None
    assert [s["startedAt"] for s in r["steps"]] == [None, None]
    c.headers["x-test-principal"] = "carol"
    assert data_of(await gql(c, DETAIL))["rollouts"][0]["canAbort"] is False
    c.headers["x-test-principal"] = "bob"  # the team's: may abort what alice started
    assert data_of(await gql(c, DETAIL))["rollouts"][0]["canAbort"] is True

    data_of(await gql(c, APPROVE, {"id": started["promotion"]["id"]}))
    await gw.rollouts.tick()
    first = data_of(await gql(c, DETAIL))["rollouts"][0]["steps"][0]
    assert first["startedAt"] is not None and first["finishedAt"] is None and first["passed"] is None
    clock = gw.rollouts.clock
    assert isinstance(clock, DateClock)
    clock.advance(121)
    await gw.rollouts.tick()
    steps = data_of(await gql(c, DETAIL))["rollouts"][0]["steps"]
    assert steps[0]["passed"] is True and steps[0]["errorRate"] is None  # no traffic reached it
    assert steps[0]["finishedAt"] > steps[0]["startedAt"]
    assert steps[1]["startedAt"] is not None and steps[1]["finishedAt"] is None

    data_of(await gql(c, ABORT, {"id": started["id"], "r": "enough"}))
    assert data_of(await gql(c, DETAIL))["rollouts"][0]["canAbort"] is False  # over


async def test_a_rollout_started_by_reference_rolls_out_the_version_holding_it(
    client: tuple[httpx.AsyncClient, Gateway, Canary],
) -> None:
    c, gw, canary = client
    candidate = await gw.index.get_version(canary.candidate_uri)
    assert candidate is not None
    ref = f"mg://{REGISTRY}/{canary.group}@{candidate.stage.value.lower()}"  # version 1 is PRODUCTION
    started = data_of(
        await gql(c, START, {"i": {"uri": ref, "endpoint": canary.endpoint, "steps": [50, 100]}}),
        down=frozenset({REGISTRY}),
    )["startRollout"]
    assert started["version"]["uri"] == canary.candidate_uri  # resolved once, at the start
    nobody = await gql(
        c, START, {"i": {"uri": f"mg://{REGISTRY}/{canary.group}@champion", "endpoint": canary.endpoint}}
    )
    assert [e["extensions"]["code"] for e in nobody["errors"]] == ["NOT_FOUND"]
    assert nobody["errors"][0]["extensions"]["field"] == "input.uri"
