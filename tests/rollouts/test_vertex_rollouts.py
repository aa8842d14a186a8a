"""Canary rollouts on Vertex AI, through the real engine and the real Vertex adapter
against the schema-checked fake (``tests.fakes.vertex``, with Cloud Monitoring
from ``tests.fakes.vertex_monitoring``): ``endpoints.get / patch``,
``endpoints.deployModel`` and its operation, and ``timeSeries.list``. Every
request and answer is checked against Google's discovery documents by the
``vertex_fake`` fixture; OAuth goes through the fake's token endpoint.

Versions are uploaded and response counts written with Google's own client
(``models.upload``, ``timeSeries.create``), the way Vertex publishes
``prediction/online/response_count`` per deployed model. The endpoint starts
with version 1 only: the rollout deploys the candidate itself. The engine's
clock is moved by hand, so step watch times pass when the test says so.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.vertex.api import VertexApi
from adapters.vertex.options import load_settings
from adapters.vertex.traffic import RESPONSE_COUNT, VertexTraffic, whole_percentages
from gateway.config import RegistrySettings
from gateway.domain import ModelVersion, TrafficShare
from gateway.errors import RegistryForbidden, RegistryRejected, RegistryUnavailable
from gateway.rollouts.records import RolloutStatus
from gateway.runtime import Gateway
from tests.adapters.contract import unique_name
from tests.adapters.test_vertex import upload
from tests.rollouts.support import (
    ALICE,
    BOB,
    POLICIES,
    DateClock,
    WebhookReceiver,
    open_gateway,
    payload,
    webhook_receiver,
)
from tests.servers.vertex import LOCATION, PROJECT_NUMBER, VertexServer
from tests.support import data_of, gql, make_settings, served_app

REGISTRY = "vx-serving"


@dataclass
class VertexCanary:
    """Endpoint ``endpoint_id`` serves version 1 of ``model`` with all traffic
    from deployed model ``current``; version 2 is the candidate."""

    model: str
    endpoint_id: str
    endpoint: str  # the resource name, as Endpoint.uri
    current: str
    current_uri: str
    candidate_uri: str


@pytest.fixture
async def canary(vertex_fake: VertexServer) -> VertexCanary:
    model = unique_name("ranker")
    await upload(vertex_fake, model, 2)
    endpoint_id = str(secrets.randbelow(10**12) + 10**12)
    name = vertex_fake.fake.deploy(model, "1", endpoint_id, machine_type="n1-highmem-4")
    current = vertex_fake.fake.endpoints[endpoint_id].deployed[0].deployed_id
    return VertexCanary(
        model, endpoint_id, name, current, f"mg://{REGISTRY}/{model}/1", f"mg://{REGISTRY}/{model}/2"
    )


@pytest.fixture
def extra_options() -> dict[str, Any]:
    """Further options of the Vertex registry (a test parametrizes it)."""
    return {}


@pytest.fixture
def clock() -> DateClock:
    return DateClock()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    yield from webhook_receiver()


@pytest.fixture
async def gw(
    database_url: str,
    tmp_path: Path,
    vertex_fake: VertexServer,
    canary: VertexCanary,
    clock: DateClock,
    receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
    extra_options: dict[str, Any],
) -> AsyncIterator[Gateway]:
    monkeypatch.setenv("ROLLOUT_ALERT_SECRET", "vertex-rollout-secret-0123")
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES)
    registry = {
        "id": REGISTRY,
        "kind": "vertex",
        "team": "ads",
        **vertex_fake.options(monitoring_endpoint=vertex_fake.base_url, **extra_options),
    }
    settings = make_settings(
        database_url,
        tmp_path,
        registries=[registry],
        governance={"policies": str(policies)},
        rollouts={"webhook_url": receiver.url, "webhook_secret_env": "ROLLOUT_ALERT_SECRET"},
    )
    gateway = await open_gateway(settings, clock)
    try:
        yield gateway
    finally:
        await gateway.aclose()


def split(server: VertexServer, canary: VertexCanary) -> dict[str, int]:
    """The endpoint's trafficSplit as Vertex holds it, by version id."""
    endpoint = server.fake.endpoints[canary.endpoint_id]
    version_of = {d.deployed_id: d.version_id for d in endpoint.deployed}
    return {version_of[k]: v for k, v in endpoint.traffic.items() if v}


def candidate_id(server: VertexServer, canary: VertexCanary) -> str:
    found = [d.deployed_id for d in server.fake.endpoints[canary.endpoint_id].deployed if d.version_id == "2"]
    assert len(found) == 1, found
    return found[0]


async def responses(
    server: VertexServer, canary: VertexCanary, deployed_id: str, at: datetime, counts: dict[str, int]
) -> None:
    """One minute of ``response_count`` per response code, ending at ``at``, as
    Vertex writes it for a deployed model."""
    stamp = lambda t: t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    series = [
        {
            "metric": {
                "type": RESPONSE_COUNT,
                "labels": {"deployed_model_id": deployed_id, "response_code": code},
            },
            "resource": {
                "type": "aiplatform.googleapis.com/Endpoint",
                "labels": {
                    "resource_container": f"projects/{PROJECT_NUMBER}",
                    "location": LOCATION,
                    "endpoint_id": canary.endpoint_id,
                },
            },
            "metricKind": "DELTA",
            "valueType": "INT64",
            "points": [
                {
                    "interval": {"startTime": stamp(at - timedelta(seconds=60)), "endTime": stamp(at)},
                    "value": {"int64Value": str(n)},
                }
            ],
        }
        for code, n in counts.items()
    ]
    await asyncio.to_thread(server.write_time_series, series)


async def approve_and_start(gw: Gateway, canary: VertexCanary, **plan: Any) -> str:
    rollout = await gw.rollouts.start(ALICE, canary.candidate_uri, canary.endpoint, **plan)
    assert rollout.status is RolloutStatus.PENDING_APPROVAL
    await gw.governance.promotions.approve(BOB, rollout.promotion_id or "")
    return rollout.id


async def test_a_healthy_candidate_is_deployed_rolled_out_and_written_to_production(
    gw: Gateway, vertex_fake: VertexServer, canary: VertexCanary, clock: DateClock
) -> None:
    rollout_id = await approve_and_start(gw, canary, steps=[10, 50, 100], step_seconds=300)
    seen = []
    for percent in (10, 50, 100):
        await gw.rollouts.tick()
        assert split(vertex_fake, canary) == (
            {"1": 100 - percent, "2": percent} if percent < 100 else {"2": 100}
        )
        seen.append((await gw.rollouts.get(rollout_id)).current_percent)
        candidate = candidate_id(vertex_fake, canary)
        await responses(
            vertex_fake, canary, candidate, clock.now + timedelta(seconds=120), {"2xx": 997, "5xx": 3}
        )
        await responses(vertex_fake, canary, canary.current, clock.now + timedelta(seconds=120), {"5xx": 500})
        clock.advance(301)
    await gw.rollouts.tick()

    done = await gw.rollouts.get(rollout_id)
    assert done.status is RolloutStatus.SUCCEEDED, done.outcome
    assert seen == [10.0, 50.0, 100.0]
    assert [(s.percent, s.passed) for s in done.steps] == [(10.0, True), (50.0, True), (100.0, True)]
    assert [s.error_rate for s in done.steps] == [pytest.approx(0.003)] * 3  # the candidate's own 5xx only
    endpoint = vertex_fake.fake.endpoints[canary.endpoint_id]
    added = next(d for d in endpoint.deployed if d.version_id == "2")
    assert added.resources["dedicatedResources"]["machineSpec"] == {"machineType": "n1-highmem-4"}
    deploys = [r for r in vertex_fake.fake.requests if r.path.endswith(f"/{canary.endpoint_id}:deployModel")]
    assert len(deploys) == 1
    assert deploys[0].body["trafficSplit"] == {canary.current: 100, "0": 0}
    assert deploys[0].body["deployedModel"]["model"].endswith(f"/models/{canary.model}@2")
    versions = vertex_fake.fake.models[canary.model].versions
    assert "production" in versions["2"].aliases  # PRODUCTION written through to Vertex
    assert "production" not in versions["1"].aliases
    assert (await gw.index.get_version(canary.candidate_uri)).stage.value == "PRODUCTION"  # type: ignore[union-attr]
    reads = [
        r
        for r in vertex_fake.fake.requests
        if r.path.endswith("/timeSeries") and r.method == "GET" and canary.endpoint_id in r.query["filter"]
    ]
    assert len(reads) == 3  # one per step
    assert reads and all(r.status == 200 for r in reads)
    assert f'metric.labels.deployed_model_id = "{candidate}"' in reads[-1].query["filter"]


async def test_a_candidate_over_the_error_threshold_is_rolled_back_with_the_split_restored(
    gw: Gateway,
    vertex_fake: VertexServer,
    canary: VertexCanary,
    clock: DateClock,
    receiver: WebhookReceiver,
) -> None:
    rollout_id = await approve_and_start(
        gw, canary, steps=[10, 50, 100], step_seconds=60, max_error_rate=0.02
    )
    await gw.rollouts.tick()
    candidate = candidate_id(vertex_fake, canary)
    await responses(vertex_fake, canary, candidate, clock.now + timedelta(seconds=30), {"200": 99, "503": 1})
    clock.advance(61)
    await gw.rollouts.tick()
    assert split(vertex_fake, canary) == {"1": 50, "2": 50}
    await responses(
        vertex_fake, canary, candidate, clock.now + timedelta(seconds=30), {"2xx": 920, "5xx": 80}
    )
    clock.advance(61)
    await gw.rollouts.tick()

    done = await gw.rollouts.get(rollout_id)
    assert done.status is RolloutStatus.ROLLED_BACK
    assert done.outcome is not None and "0.0800 above 0.0200" in done.outcome
    assert [(s.percent, s.passed) for s in done.steps] == [(10.0, True), (50.0, False)]
    assert [s.error_rate for s in done.steps] == [pytest.approx(0.01), pytest.approx(0.08)]
    assert split(vertex_fake, canary) == {"1": 100}  # the split before the rollout
    assert done.current_percent == 0.0
    assert "production" not in vertex_fake.fake.models[canary.model].versions["2"].aliases
    assert len(receiver.deliveries) == 1
    assert payload(receiver.deliveries[0])["data"]["rolloutId"] == rollout_id


async def test_abort_restores_the_split(gw: Gateway, vertex_fake: VertexServer, canary: VertexCanary) -> None:
    rollout_id = await approve_and_start(gw, canary, steps=[25, 100], step_seconds=60)
    await gw.rollouts.tick()
    assert split(vertex_fake, canary) == {"1": 75, "2": 25}

    aborted = await gw.rollouts.abort(ALICE, rollout_id, "pager went off")

    assert aborted.status is RolloutStatus.ABORTED
    assert split(vertex_fake, canary) == {"1": 100}
    assert await gw.rollouts.tick() == []


async def test_a_step_without_responses_passes_with_no_error_rate(
    gw: Gateway, vertex_fake: VertexServer, canary: VertexCanary, clock: DateClock
) -> None:
    rollout_id = await approve_and_start(gw, canary, steps=[20, 100], step_seconds=120)
    await gw.rollouts.tick()
    clock.advance(121)
    await gw.rollouts.tick()
    step = (await gw.rollouts.get(rollout_id)).steps[0]
    assert (step.passed, step.error_rate) == (True, None)


async def test_a_failed_deployment_is_reported_and_retried_on_the_next_pass(
    gw: Gateway, vertex_fake: VertexServer, canary: VertexCanary
) -> None:
    quota = (
        "The following quota metrics exceed quota limits: aiplatform.googleapis.com/custom_model_serving_cpus"
    )
    vertex_fake.fake.deploy_failures.append(quota)
    adapter = gw.adapters[REGISTRY]
    version = await gw.index.get_version(canary.candidate_uri)
    assert version is not None
    with pytest.raises(RegistryRejected) as failed:
        await adapter.deploy_candidate(canary.endpoint, version)  # type: ignore[attr-defined]
    assert quota in failed.value.message and "code 8" in failed.value.message
    assert split(vertex_fake, canary) == {"1": 100}
    assert len(vertex_fake.fake.endpoints[canary.endpoint_id].deployed) == 1  # nothing half-deployed

    vertex_fake.fake.deploy_failures.append(quota)
    rollout_id = await approve_and_start(gw, canary, steps=[10, 100], step_seconds=60)
    await gw.rollouts.tick()  # the operation fails: the rollout waits
    assert (await gw.rollouts.get(rollout_id)).status is RolloutStatus.PENDING_APPROVAL
    await gw.rollouts.tick()  # the quota is back: deployed and shifted
    assert split(vertex_fake, canary) == {"1": 90, "2": 10}


async def test_endpoints_are_named_by_resource_name_or_id(
    gw: Gateway, vertex_fake: VertexServer, canary: VertexCanary
) -> None:
    adapter: Any = gw.adapters[REGISTRY]
    by_id = await adapter.endpoint_traffic(canary.endpoint_id)
    assert (
        by_id.uri
        == canary.endpoint
        == f"projects/{PROJECT_NUMBER}/locations/{LOCATION}/endpoints/{canary.endpoint_id}"
    )
    assert [(t.variant, t.percent, t.version_uri) for t in by_id.traffic] == [
        (canary.current, 100.0, canary.current_uri)
    ]
    for wrong in ("ranker-prod", f"projects/{PROJECT_NUMBER}/locations/europe-west4/endpoints/1"):
        with pytest.raises(RegistryRejected):
            await adapter.endpoint_traffic(wrong)


async def test_a_slow_deployment_is_waited_on_across_passes_and_never_sent_twice(
    vertex_fake: VertexServer, canary: VertexCanary
) -> None:
    registry = RegistrySettings(
        id=REGISTRY, kind="vertex", team="ads", options=vertex_fake.options(deploy_wait_seconds=30)
    )
    settings = load_settings(registry, environ={})
    api = VertexApi(REGISTRY, settings)
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # the poll's pauses, on the test's clock
        waits.append(seconds)
        now[0] += seconds

    traffic = VertexTraffic(REGISTRY, settings, api, sleep=sleep, clock=lambda: now[0])
    v2 = ModelVersion(registry_id=REGISTRY, model_name=canary.model, version="2")
    fake = vertex_fake.fake
    try:
        fake.deploy_polls = 3
        endpoint = await traffic.deploy_candidate(canary.endpoint_id, v2)
        assert waits == [1.0, 2.0, 4.0]  # backing off between operations.get calls
        assert sorted((t.version_uri or "", t.percent) for t in endpoint.traffic) == [
            (canary.current_uri, 100.0),
            (canary.candidate_uri, 0.0),
        ]

        v3 = await asyncio.to_thread(
            vertex_fake.upload, canary.model, artifact_uri="gs://m/3", new_version=True
        )
        fake.deploy_polls = 1000
        for _ in range(2):  # still running: each pass gives up after deploy_wait_seconds
            with pytest.raises(RegistryUnavailable, match="still running after 30 s"):
                await traffic.deploy_candidate(canary.endpoint_id, replace(v2, version=v3))
        assert len(fake.endpoints[canary.endpoint_id].deployed) == 2  # not there until done
        for name in fake.polls_left:
            fake.polls_left[name] = 0  # the deployment completes
        endpoint = await traffic.deploy_candidate(canary.endpoint_id, replace(v2, version=v3))
        assert (
            sorted(t.version_uri or "" for t in endpoint.traffic)[-1]
            == f"mg://{REGISTRY}/{canary.model}/{v3}"
        )
        sent = [r for r in fake.requests if r.path.endswith(f"/{canary.endpoint_id}:deployModel")]
        assert len(sent) == 2  # one per version: the slow one was waited on, not sent again
    finally:
        await traffic.aclose()
        await api.aclose()


@pytest.mark.parametrize("extra_options", [{"deploy_wait_seconds": 0.2}])
async def test_a_rollout_waits_passes_for_its_candidate_to_deploy(
    gw: Gateway, vertex_fake: VertexServer, canary: VertexCanary
) -> None:
    vertex_fake.fake.deploy_polls = 2
    rollout_id = await approve_and_start(gw, canary, steps=[10, 100], step_seconds=60)
    passes = 0
    while (await gw.rollouts.get(rollout_id)).status is RolloutStatus.PENDING_APPROVAL and passes < 20:
        await gw.rollouts.tick()
        passes += 1
    assert (await gw.rollouts.get(rollout_id)).status is RolloutStatus.RUNNING
    assert passes > 1
    assert split(vertex_fake, canary) == {"1": 90, "2": 10}
    sent = [r for r in vertex_fake.fake.requests if r.path.endswith(f"/{canary.endpoint_id}:deployModel")]
    assert len(sent) == 1


async def test_a_monitoring_refusal_names_cloud_monitoring(vertex_fake: VertexServer) -> None:
    options = vertex_fake.options(project="someone-elses-project", monitoring_endpoint=vertex_fake.base_url)
    settings = load_settings(RegistrySettings(id=REGISTRY, kind="vertex", options=options), environ={})
    api = VertexApi(REGISTRY, settings)
    traffic = VertexTraffic(REGISTRY, settings, api)
    end = datetime.now(UTC)
    try:
        with pytest.raises(RegistryForbidden) as refused:
            await traffic.error_rate("1234", "5678", end - timedelta(minutes=5), end)
    finally:
        await traffic.aclose()
        await api.aclose()
    assert "Cloud Monitoring answered 403 PERMISSION_DENIED" in refused.value.message
    assert refused.value.registry_id == REGISTRY


START = """mutation($i: RolloutInput!) { startRollout(input: $i) {
  id status promotion { id } endpoint { name traffic { variant percent version { uri } } } } }"""
APPROVE = "mutation($id: ID!) { approvePromotion(requestId: $id) { id status } }"
ROLLOUTS = "query { rollouts { id status currentPercent endpoint { traffic { percent version { uri } } } } }"


async def test_a_rollout_by_endpoint_id_through_graphql(
    gw: Gateway, vertex_fake: VertexServer, canary: VertexCanary
) -> None:
    async with served_app(gw, {p.name: p for p in (ALICE, BOB)}) as c:
        plan = {"uri": canary.candidate_uri, "endpoint": canary.endpoint_id, "steps": [30, 100]}
        started = data_of(await gql(c, START, {"i": plan}))["startRollout"]
        assert started["status"] == "PENDING_APPROVAL"
        assert started["endpoint"]["traffic"] == [
            {"variant": canary.current, "percent": 100.0, "version": {"uri": canary.current_uri}}
        ]
        c.headers["x-test-principal"] = "bob"
        data_of(await gql(c, APPROVE, {"id": started["promotion"]["id"]}))
        await gw.rollouts.tick()
        listed = data_of(await gql(c, ROLLOUTS))["rollouts"]
        now = next(r for r in listed if r["id"] == started["id"])
    assert now["status"] == "RUNNING" and now["currentPercent"] == 30.0
    assert sorted((t["version"]["uri"], t["percent"]) for t in now["endpoint"]["traffic"]) == [
        (canary.current_uri, 70.0),
        (canary.candidate_uri, 30.0),
    ]


def test_percentages_are_whole_and_sum_to_100() -> None:
    shares = [TrafficShare(12.5, None, "c"), TrafficShare(43.75, None, "a"), TrafficShare(43.75, None, "b")]
    assert whole_percentages(shares) == {"c": 12, "a": 44, "b": 44}
    assert sum(whole_percentages([TrafficShare(100 / 3, None, str(i)) for i in range(3)]).values()) == 100
    assert whole_percentages([TrafficShare(0.0, None, "c"), TrafficShare(100.0, None, "a")]) == {
        "c": 0,
        "a": 100,
    }
