"""Serving read from a registry through the gateway: a SageMaker registry on
moto (server mode). A sync reads the endpoints; versions carry their traffic;
``Query.endpoints`` lists it; the built-in warnings follow where traffic goes;
a deployment report for such a registry is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from asgi_lifespan import LifespanManager

from gateway.runtime import Gateway
from gateway.server import create_app
from tests.adapters.contract import unique_name
from tests.adapters.test_sagemaker import inference_spec
from tests.adapters.test_sagemaker_serving import endpoint, model_from, package
from tests.support import data_of, gql, make_settings

REGION = "ca-central-1"  # a region of its own: its endpoints are these tests' alone
REGISTRY = "ads"


@pytest.fixture
def sm(moto_sagemaker_url: str, aws_env: None) -> Any:
    return boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_sagemaker_url)


@pytest.fixture
async def gw(moto_sagemaker_url: str, aws_env: None, tmp_path: Path) -> AsyncIterator[Gateway]:
    registries = [
        {
            "id": REGISTRY,
            "kind": "sagemaker",
            "team": "ads",
            "region": REGION,
            "endpoint_url": moto_sagemaker_url,
        }
    ]
    gateway = await Gateway.open(make_settings(f"sqlite:///{tmp_path}/m.db", tmp_path, registries=registries))
    try:
        yield gateway
    finally:
        await gateway.aclose()


@pytest.fixture
async def client(gw: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(gw.settings, gateway=gw, background_sync=False)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as c,
    ):
        yield c


VERSION = """query($uri: String!) { modelVersion(uri: $uri) {
  stage deployments { endpoint trafficPercent registry variant status }
  compliance { violations { policy } } } }"""


async def test_a_sync_reads_sagemaker_endpoints_into_the_catalogue(
    gw: Gateway, client: httpx.AsyncClient, sm: Any
) -> None:
    group = unique_name("Bids")
    sm.create_model_package_group(ModelPackageGroupName=group)
    live, canary = package(sm, group, "Approved"), package(sm, group, "PendingManualApproval")
    idle = sm.create_model_package(
        ModelPackageGroupName=group,
        InferenceSpecification=inference_spec("s3://m/idle"),
        ModelApprovalStatus="Approved",
    )["ModelPackageArn"]
    assert idle
    name = endpoint(sm, [("live", model_from(sm, live), 9.0), ("canary", model_from(sm, canary), 1.0)])
    arn = sm.describe_endpoint(EndpointName=name)["EndpointArn"]

    await gw.sync.sync_all(full=True)

    one, two, three = (f"mg://{REGISTRY}/{group}/{n}" for n in (1, 2, 3))
    first = data_of(await gql(client, VERSION, {"uri": one}))["modelVersion"]
    assert first["stage"] == "PRODUCTION"
    assert first["deployments"] == [
        {
            "endpoint": arn,
            "trafficPercent": 90.0,
            "registry": REGISTRY,
            "variant": "live",
            "status": "InService",
        }
    ]
    second = data_of(await gql(client, VERSION, {"uri": two}))["modelVersion"]
    assert [d["trafficPercent"] for d in second["deployments"]] == [10.0]
    assert "modelgate.serving-not-production" in {v["policy"] for v in second["compliance"]["violations"]}
    third = data_of(await gql(client, VERSION, {"uri": three}))["modelVersion"]
    assert third["deployments"] == []
    assert "modelgate.production-not-serving" in {v["policy"] for v in third["compliance"]["violations"]}
    assert "modelgate.production-not-serving" not in {v["policy"] for v in first["compliance"]["violations"]}

    listed = data_of(
        await gql(
            client, "{ endpoints { uri name registry { id } traffic { variant percent version { uri } } } }"
        )
    )
    mine = [e for e in listed["endpoints"] if e["uri"] == arn]
    assert mine == [
        {
            "uri": arn,
            "name": name,
            "registry": {"id": REGISTRY},
            "traffic": [
                {"variant": "live", "percent": 90.0, "version": {"uri": one}},
                {"variant": "canary", "percent": 10.0, "version": {"uri": two}},
            ],
        }
    ]

    # Traffic moves; the next sync re-indexes the versions it touches.
    sm.update_endpoint_weights_and_capacities(
        EndpointName=name,
        DesiredWeightsAndCapacities=[
            {"VariantName": "live", "DesiredWeight": 0.0},
            {"VariantName": "canary", "DesiredWeight": 1.0},
        ],
    )
    await gw.sync.sync_all()
    moved = data_of(await gql(client, VERSION, {"uri": two}))["modelVersion"]
    assert [d["trafficPercent"] for d in moved["deployments"]] == [100.0]
    gone = data_of(await gql(client, VERSION, {"uri": one}))["modelVersion"]
    assert [d["trafficPercent"] for d in gone["deployments"]] == [0.0]
    assert "modelgate.production-not-serving" in {v["policy"] for v in gone["compliance"]["violations"]}

    refused = await gql(
        client,
        "mutation($i: DeploymentInput!) { recordDeployment(input: $i) { uri } }",
        {"i": {"uri": one, "endpoint": "kserve/bids", "trafficPercent": 5}},
    )
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert refused["errors"][0]["extensions"]["field"] == "uri"
    assert "reads its serving state" in refused["errors"][0]["message"]


async def test_a_sync_reads_vertex_traffic_into_the_versions(vertex_fake: Any, tmp_path: Path) -> None:
    """The Vertex record names the endpoint (DeployedModelRef) without traffic; the
    endpoint listing's trafficSplit fills it in, one deployment per endpoint."""
    from tests.adapters.test_vertex import upload
    from tests.adapters.test_vertex_serving import endpoint_id

    model = unique_name("ranker")
    await upload(vertex_fake, model, 2)
    where = endpoint_id()
    uri = vertex_fake.fake.deploy(model, "1", where)
    second = {d.deployed_id: 75 for d in vertex_fake.fake.endpoints[where].deployed}
    vertex_fake.fake.deploy(model, "2", where, traffic_split={"0": 25, **second})
    registries = [{"id": "vision", "kind": "vertex", "team": "vision", **vertex_fake.options()}]
    gateway = await Gateway.open(make_settings(f"sqlite:///{tmp_path}/v.db", tmp_path, registries=registries))
    try:
        await gateway.sync.sync_all(full=True)
        one = await gateway.index.get_version(f"mg://vision/{model}/1")
        two = await gateway.index.get_version(f"mg://vision/{model}/2")
        assert one is not None and two is not None
        assert [(d.endpoint, d.traffic_percent, d.registry) for d in one.deployments] == [
            (uri, 75.0, "vision")
        ]
        assert [(d.endpoint, d.traffic_percent) for d in two.deployments] == [(uri, 25.0)]
        assert [e.uri for e in await gateway.serving.endpoints(["vision"]) if e.uri == uri] == [uri]
    finally:
        await gateway.aclose()


async def test_an_incremental_sync_rereads_models_whose_traffic_moved(
    vertex_fake: Any, tmp_path: Path
) -> None:
    """A traffic shift leaves the models untouched (no change feed entry); the pass
    re-reads the models whose deployments changed all the same."""
    import asyncio

    from tests.adapters.test_vertex import upload
    from tests.adapters.test_vertex_serving import endpoint_id

    model = unique_name("shifted")
    await upload(vertex_fake, model, 2)
    where = endpoint_id()
    uri = vertex_fake.fake.deploy(model, "1", where)
    vertex_fake.fake.deploy(model, "2", where)  # takes nothing yet
    registries = [
        {
            "id": "vision",
            "kind": "vertex",
            "team": "vision",
            "incremental_sync": True,
            **vertex_fake.options(),
        }
    ]
    gateway = await Gateway.open(make_settings(f"sqlite:///{tmp_path}/i.db", tmp_path, registries=registries))
    try:
        await gateway.sync.sync_all(full=True)
        ids = {d.version_id: d.deployed_id for d in vertex_fake.fake.endpoints[where].deployed}
        await asyncio.to_thread(vertex_fake.set_traffic_split, uri, {ids["1"]: 40, ids["2"]: 60})

        (result,) = await gateway.sync.sync_all()

        assert result.full is False and result.error is None
        two = await gateway.index.get_version(f"mg://vision/{model}/2")
        assert two is not None and [d.traffic_percent for d in two.deployments] == [60.0]
        assert "modelgate.serving-not-production" in {
            v.policy for v in (await gateway.governance.stored_compliance([two.uri]))[two.uri].violations
        }
    finally:
        await gateway.aclose()
