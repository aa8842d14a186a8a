"""SageMaker serving state against **moto** in server mode: endpoints, endpoint
configs, models created from model packages, variant weights, read through
the adapter's ``list_endpoints`` (``ServingReader``).

Everything is created with boto3 as a team would deploy: CreateModel with the
package ARN as ``ModelPackageName``, CreateEndpointConfig with weighted
production variants, CreateEndpoint, UpdateEndpointWeightsAndCapacities.
Endpoints belong to a region, not to a group, so these tests use a region of
their own and look only at the endpoints they created.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from adapters.protocol import ServingReader
from adapters.sagemaker import SageMakerRegistry
from adapters.sagemaker.serving import traffic_percents, variant_weight
from gateway.domain import Endpoint
from tests.adapters.contract import unique_name
from tests.adapters.test_sagemaker import inference_spec, make_adapter

REGION = "eu-north-1"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-serving"


@pytest.fixture
def sm(moto_sagemaker_url: str, aws_env: None) -> Any:
    return boto3.client("sagemaker", region_name=REGION, endpoint_url=moto_sagemaker_url)


@pytest.fixture
def adapter(moto_sagemaker_url: str, aws_env: None) -> SageMakerRegistry:
    return make_adapter(moto_sagemaker_url, region=REGION)


def package(sm: Any, group: str, status: str = "Approved") -> str:
    return str(
        sm.create_model_package(
            ModelPackageGroupName=group,
            InferenceSpecification=inference_spec(f"s3://models/{group}/model.tar.gz"),
            ModelApprovalStatus=status,
        )["ModelPackageArn"]
    )


def model_from(sm: Any, package_arn: str) -> str:
    name = unique_name("model")
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"ModelPackageName": package_arn})
    return name


def endpoint(sm: Any, variants: list[tuple[str, str, float | None]]) -> str:
    """An endpoint whose config has one production variant per (variant, model, weight)."""
    config = unique_name("config")
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": model,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                **({"InitialVariantWeight": weight} if weight is not None else {}),
            }
            for variant, model, weight in variants
        ],
    )
    name = unique_name("endpoint")
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    return name


async def read(adapter: SageMakerRegistry, name: str) -> Endpoint:
    found = [e for e in await adapter.list_endpoints() if e.name == name]
    assert len(found) == 1, [e.name for e in await adapter.list_endpoints()]
    return found[0]


def test_the_adapter_is_a_serving_reader(adapter: SageMakerRegistry) -> None:
    assert isinstance(adapter, ServingReader)


async def test_a_canary_endpoint_names_both_versions_and_their_shares(
    adapter: SageMakerRegistry, sm: Any
) -> None:
    """Two variants weighted 9:1 → 90 % and 10 %, each traced to its package
    version; the group's capitals survive though package ARNs lowercase them."""
    group = unique_name("Churn")
    sm.create_model_package_group(ModelPackageGroupName=group)
    first, second = package(sm, group), package(sm, group, "PendingManualApproval")
    assert f"/{group.lower()}/1" in first
    name = endpoint(sm, [("blue", model_from(sm, first), 9.0), ("green", model_from(sm, second), 1.0)])

    found = await read(adapter, name)

    assert found.uri == sm.describe_endpoint(EndpointName=name)["EndpointArn"]
    assert found.registry_id == "ads-sagemaker"
    assert found.status == "InService"
    assert found.updated_at is not None and found.updated_at.tzinfo is not None
    shares = {(t.variant, t.version_uri, round(t.percent, 6)) for t in found.traffic}
    assert shares == {
        ("blue", f"mg://ads-sagemaker/{group}/1", 90.0),
        ("green", f"mg://ads-sagemaker/{group}/2", 10.0),
    }


async def test_changed_weights_are_read_as_they_are_now(adapter: SageMakerRegistry, sm: Any) -> None:
    group = unique_name("fraud")
    sm.create_model_package_group(ModelPackageGroupName=group)
    old, new = model_from(sm, package(sm, group)), model_from(sm, package(sm, group))
    name = endpoint(sm, [("old", old, 1.0), ("new", new, 1.0)])
    assert {t.percent for t in (await read(adapter, name)).traffic} == {50.0}

    sm.update_endpoint_weights_and_capacities(
        EndpointName=name,
        DesiredWeightsAndCapacities=[
            {"VariantName": "old", "DesiredWeight": 0.0},
            {"VariantName": "new", "DesiredWeight": 3.0},
        ],
    )

    shares = {t.variant: t.percent for t in (await read(adapter, name)).traffic}
    assert shares == {"old": 0.0, "new": 100.0}


async def test_a_variant_not_built_from_a_package_keeps_its_name_without_a_version(
    adapter: SageMakerRegistry, sm: Any
) -> None:
    """A model made from an image and model data (no registry package) still
    serves; the endpoint lists it, unweighted variants count 1.0 each."""
    bare = unique_name("bare")
    sm.create_model(
        ModelName=bare,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": "123.dkr.ecr.eu-north-1.amazonaws.com/x:1", "ModelDataUrl": "s3://m/x"},
    )
    group = unique_name("mixed")
    sm.create_model_package_group(ModelPackageGroupName=group)
    name = endpoint(sm, [("bare", bare, None), ("registered", model_from(sm, package(sm, group)), None)])

    shares = {t.variant: (t.version_uri, t.percent) for t in (await read(adapter, name)).traffic}

    assert shares == {"bare": (None, 50.0), "registered": (f"mg://ads-sagemaker/{group}/1", 50.0)}


async def test_a_deleted_model_leaves_the_variant_without_a_version(
    adapter: SageMakerRegistry, sm: Any
) -> None:
    group = unique_name("gone")
    sm.create_model_package_group(ModelPackageGroupName=group)
    model = model_from(sm, package(sm, group))
    name = endpoint(sm, [("only", model, 1.0)])
    sm.delete_model(ModelName=model)

    (share,) = (await read(adapter, name)).traffic

    assert (share.variant, share.version_uri, share.percent) == ("only", None, 100.0)


def test_weights_follow_current_then_desired_then_configured() -> None:
    assert variant_weight({"CurrentWeight": 2.0, "DesiredWeight": 5.0}, {"InitialVariantWeight": 7.0}) == 2.0
    assert variant_weight({"DesiredWeight": 5.0}, {"InitialVariantWeight": 7.0}) == 5.0
    assert variant_weight({}, {"InitialVariantWeight": 7.0}) == 7.0
    assert variant_weight({}, None) == 1.0
    assert traffic_percents({"a": 0.0, "b": 0.0}) == {"a": 0.0, "b": 0.0}
    assert traffic_percents({"a": 1.0, "b": 3.0}) == {"a": 25.0, "b": 75.0}
