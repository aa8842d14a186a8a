"""``adapters.sagemaker.lineage``: the edges SageMaker's own lineage API records for
a model package, read from moto behind the lineage front that serves the API moto
lacks (``tests/fakes/sagemaker_lineage.py``), seeded with boto3 as a team does."""

from __future__ import annotations

import asyncio
from typing import Any

import boto3
import pytest

from adapters.sagemaker.lineage import api_edges, gather_bounded
from gateway.domain import ModelVersion, Relation
from tests.adapters.contract import unique_name
from tests.adapters.test_sagemaker import REGION, inference_spec, lineage_front, make_adapter  # noqa: F401
from tests.fakes.sagemaker_lineage import SageMakerLineage


@pytest.fixture
def front(lineage_front: tuple[SageMakerLineage, str], aws_env: None) -> tuple[Any, Any]:  # noqa: F811
    _, url = lineage_front
    return boto3.client("sagemaker", region_name=REGION, endpoint_url=url), make_adapter(url).calls


def new_package(sm: Any) -> tuple[str, str, str]:
    """A fresh group's first package: (group, package ARN, the lineage artifact SageMaker made for it)."""
    group = unique_name("lineage")
    sm.create_model_package_group(ModelPackageGroupName=group)
    arn = sm.create_model_package(
        ModelPackageGroupName=group, InferenceSpecification=inference_spec(f"s3://m/{group}/model.tar.gz")
    )["ModelPackageArn"]
    (artifact,) = sm.list_artifacts(SourceUri=arn)["ArtifactSummaries"]
    return group, arn, artifact["ArtifactArn"]


async def test_gather_bounded_keeps_order_and_its_limit() -> None:
    running, most = 0, 0

    async def call(i: int) -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0)
        running -= 1
        return i

    assert await gather_bounded(2, [call(i) for i in range(6)]) == list(range(6))
    assert most == 2


async def test_a_version_without_a_package_arn_has_no_api_edges(front: tuple[Any, Any]) -> None:
    _, calls = front
    assert await api_edges(calls, ModelVersion("sm", "m", "1"), max_depth=3, concurrency=2) == []


async def test_training_data_and_derivations_become_edges(front: tuple[Any, Any]) -> None:
    sm, calls = front
    base_group, base_arn, base_artifact = new_package(sm)
    group, arn, artifact = new_package(sm)
    for uri in ("s3://data/churn/2026-01/", "s3://data/churn/2026-02/"):
        dataset = sm.create_artifact(ArtifactType="DataSet", Source={"SourceUri": uri})
        sm.add_association(
            SourceArn=dataset["ArtifactArn"], DestinationArn=artifact, AssociationType="ContributedTo"
        )
    sm.add_association(SourceArn=artifact, DestinationArn=base_artifact, AssociationType="DerivedFrom")

    version = ModelVersion("sm", group, "1", native={"arn": arn})
    edges = await api_edges(calls, version, max_depth=3, concurrency=2)
    found = {(e.source.uri, e.relation, e.target.uri) for e in edges}
    assert (version.uri, Relation.TRAINED_ON, "s3://data/churn/2026-01/") in found
    assert (version.uri, Relation.TRAINED_ON, "s3://data/churn/2026-02/") in found
    assert (version.uri, Relation.DERIVED_FROM, base_arn) in found
    (derived,) = [e for e in edges if e.relation is Relation.DERIVED_FROM]
    assert derived.target.kind == "model_version"

    base = ModelVersion("sm", base_group, "1", native={"arn": base_arn})
    from_base = await api_edges(calls, base, max_depth=3, concurrency=2)
    derivations = [(e.source.uri, e.target.uri) for e in from_base if e.relation is Relation.DERIVED_FROM]
    assert derivations == [(arn, base.uri)]  # the other package was derived from this one
