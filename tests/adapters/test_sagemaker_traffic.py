"""``adapters.sagemaker.traffic``: canary traffic on a SageMaker endpoint against
**moto** in server mode, created with boto3 as a team deploys; error rates from
CloudWatch metrics moto keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from adapters.sagemaker import SageMakerRegistry
from adapters.sagemaker.traffic import SageMakerTraffic, endpoint_name
from gateway.domain import ModelVersion, TrafficShare
from gateway.errors import RegistryRejected
from tests.adapters.contract import unique_name
from tests.adapters.test_sagemaker import make_adapter
from tests.adapters.test_sagemaker_serving import endpoint, model_from, package

REGION = "ap-south-1"  # a region of this module's own: it looks only at its endpoints


@pytest.fixture
def sm(moto_sagemaker_url: str, aws_env: None) -> Any:
    return boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_sagemaker_url)


@pytest.fixture
def traffic(moto_sagemaker_url: str, aws_env: None) -> SageMakerTraffic:
    adapter: SageMakerRegistry = make_adapter(moto_sagemaker_url, region=REGION)
    return SageMakerTraffic(adapter.registry_id, adapter.options, adapter.calls)


def test_an_endpoint_is_named_by_its_arn_or_its_name() -> None:
    assert endpoint_name("arn:aws:sagemaker:eu-west-1:123456789012:endpoint/fraud") == "fraud"
    assert endpoint_name("fraud") == "fraud"


async def test_an_absent_endpoint_is_a_404_rejection(traffic: SageMakerTraffic) -> None:
    with pytest.raises(RegistryRejected) as absent:
        await traffic.endpoint_traffic("no-such-endpoint")
    assert "no-such-endpoint" in absent.value.message and absent.value.status == 404


async def test_a_split_is_written_and_read_back(traffic: SageMakerTraffic, sm: Any) -> None:
    group = unique_name("traffic")
    sm.create_model_package_group(ModelPackageGroupName=group)
    first, second = package(sm, group), package(sm, group)
    name = endpoint(sm, [("blue", model_from(sm, first), 1.0), ("green", model_from(sm, second), 1.0)])
    before = await traffic.endpoint_traffic(name)
    assert {s.variant: s.percent for s in before.traffic} == {
        "blue": pytest.approx(50),
        "green": pytest.approx(50),
    }
    split = await traffic.set_traffic(
        name, [TrafficShare(90, variant="blue"), TrafficShare(10, variant="green")]
    )
    assert {s.variant: s.percent for s in split.traffic} == {
        "blue": pytest.approx(90),
        "green": pytest.approx(10),
    }
    assert split == await traffic.endpoint_traffic(f"arn:aws:sagemaker:{REGION}:123456789012:endpoint/{name}")


async def test_a_candidate_without_a_package_arn_is_refused_before_any_call(
    traffic: SageMakerTraffic,
) -> None:
    # moto has no UpdateEndpoint: tests/rollouts/test_candidate_variant.py deploys one behind the fake that has it.
    with pytest.raises(RegistryRejected, match="no model package ARN"):
        await traffic.deploy_candidate("any-endpoint", ModelVersion("sm", "churn", "3"))


async def test_the_error_rate_is_5xx_over_invocations_or_none_without_traffic(
    traffic: SageMakerTraffic, moto_sagemaker_url: str
) -> None:
    name, variant = unique_name("errors"), "blue"
    end = datetime.now(UTC)
    start = end - timedelta(minutes=10)
    assert await traffic.error_rate(name, variant, start, end) is None
    cloudwatch = boto3.client("cloudwatch", region_name=REGION, endpoint_url=moto_sagemaker_url)
    dimensions = [{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": variant}]
    cloudwatch.put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": "Invocations",
                "Dimensions": dimensions,
                "Value": 200.0,
                "Timestamp": end - timedelta(minutes=5),
            },
            {
                "MetricName": "Invocation5XXErrors",
                "Dimensions": dimensions,
                "Value": 10.0,
                "Timestamp": end - timedelta(minutes=5),
            },
        ],
    )
    assert await traffic.error_rate(
        f"arn:aws:sagemaker:{REGION}:123456789012:endpoint/{name}", variant, start, end
    ) == pytest.approx(0.05)
