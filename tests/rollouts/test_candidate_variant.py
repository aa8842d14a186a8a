"""A rollout whose candidate is not on the endpoint yet: the gateway adds it as
a variant with weight 0 (CreateModel, CreateEndpointConfig, UpdateEndpoint),
then shifts traffic as usual.

Servers: moto (server mode) for everything except ``UpdateEndpoint``, which
moto lacks; that one call is answered by ``tests.fakes.sagemaker_update_endpoint``,
a proxy in front of moto that validates it against botocore's service model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from gateway.rollouts.records import RolloutStatus
from gateway.runtime import Gateway
from tests.fakes.sagemaker_update_endpoint import UpdateEndpointFake, update_endpoint_proxy
from tests.rollouts.support import (
    ALICE,
    BOB,
    REGION,
    Canary,
    DateClock,
    create_canary,
    open_gateway,
    rollout_settings,
)


@pytest.fixture
def proxy(moto_sagemaker_url: str, aws_env: None) -> Iterator[tuple[str, UpdateEndpointFake]]:
    with update_endpoint_proxy(moto_sagemaker_url, REGION) as running:
        yield running


@pytest.fixture
def sm(moto_sagemaker_url: str, aws_env: None) -> Any:
    return boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_sagemaker_url)


@pytest.fixture
async def gw(
    tmp_path: Path, proxy: tuple[str, UpdateEndpointFake], clock: DateClock, canary: Canary
) -> AsyncIterator[Gateway]:
    url, _fake = proxy
    gateway = await open_gateway(rollout_settings(f"sqlite:///{tmp_path}/mg.db", tmp_path, url), clock)
    try:
        yield gateway
    finally:
        await gateway.aclose()


@pytest.fixture
def clock() -> DateClock:
    return DateClock()


@pytest.fixture
def canary(sm: Any) -> Canary:
    return create_canary(sm, candidate_variant=False)


def shares(sm: Any, endpoint: str) -> dict[str, float]:
    described = sm.describe_endpoint(EndpointName=endpoint)
    config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    initial = {v["VariantName"]: v["InitialVariantWeight"] for v in config["ProductionVariants"]}
    return {
        v["VariantName"]: float(v.get("CurrentWeight", v.get("DesiredWeight", initial[v["VariantName"]])))
        for v in described["ProductionVariants"]
    }


async def test_a_candidate_not_on_the_endpoint_is_added_then_rolled_out(
    gw: Gateway, sm: Any, canary: Canary, clock: DateClock, proxy: tuple[str, UpdateEndpointFake]
) -> None:
    _url, fake = proxy
    arn = sm.describe_endpoint(EndpointName=canary.endpoint)["EndpointArn"]
    rollout = await gw.rollouts.start(
        ALICE, canary.candidate_uri, canary.endpoint, steps=[50, 100], step_seconds=60
    )
    assert fake.calls == []  # nothing deployed before approval
    await gw.governance.promotions.approve(BOB, rollout.promotion_id or "")

    await gw.rollouts.tick()

    assert len(fake.calls) == 1 and fake.calls[0]["EndpointName"] == canary.endpoint
    now = shares(sm, canary.endpoint)
    (added,) = set(now) - {"current"}
    assert now == {"current": 50.0, added: 50.0}
    assert sm.describe_endpoint(EndpointName=canary.endpoint)["EndpointArn"] == arn
    endpoint = await gw.rollouts.endpoint_now(await gw.rollouts.get(rollout.id))
    assert {s.variant: s.version_uri for s in endpoint.traffic} == {
        "current": canary.current_uri,
        added: canary.candidate_uri,
    }
    for _ in range(2):
        clock.advance(61)
        await gw.rollouts.tick()
    done = await gw.rollouts.get(rollout.id)
    assert done.status is RolloutStatus.SUCCEEDED, done.outcome
    assert shares(sm, canary.endpoint) == {"current": 0.0, added: 100.0}
    assert len(fake.calls) == 1  # added once, not per step


def test_the_fake_refuses_what_aws_refuses(proxy: tuple[str, UpdateEndpointFake], aws_env: None) -> None:
    url, _fake = proxy
    client = boto3.client("sagemaker", region_name=REGION, endpoint_url=url)
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as missing:
        client.update_endpoint(EndpointName="no-such-endpoint", EndpointConfigName="no-such-config")
    assert missing.value.response["Error"]["Code"] == "ValidationException"
