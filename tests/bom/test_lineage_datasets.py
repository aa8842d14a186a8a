"""Datasets a registry keeps only in its lineage API (SageMaker, Vertex) reach the
BOM: from the stored lineage edges, else the registry's lineage, through the
lineage's visibility gate."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from adapters.base import load_factories
from gateway.auth.principal import Principal
from gateway.domain import LineageEdge, LineageNode, Relation, Stage
from gateway.lineage.graph import version_node
from gateway.runtime import Gateway
from tests.adapters.contract import unique_name
from tests.bom.validation import cyclonedx_errors, spdx_errors
from tests.fakes.sagemaker_lineage import SageMakerLineage, run_in_thread
from tests.lineage.test_graphql import LineageFactory, LineageRegistry
from tests.support import make_settings, served_app

WHO = {
    "olga": Principal("olga", teams=frozenset({"platform"})),
    "sam": Principal("sam", teams=frozenset({"secret"})),
}
TRAIN = "s3://lineage-only/train"
HOLDOUT = "s3://lineage-only/holdout"
SECRET = "s3://secret-only/train"


def dataset_edges(registry: LineageRegistry, model: str, *targets: tuple[str, Relation]) -> str:
    """A production version that names no dataset; its registry's lineage does."""
    registry.put(model)
    version = dataclasses.replace(registry.versions[model]["1"], stage=Stage.PRODUCTION)
    registry.versions[model]["1"] = version
    me = version_node(version)
    registry.known[version.uri] = [
        LineageEdge(me, LineageNode(uri, "dataset", uri.rstrip("/").rsplit("/", 1)[-1]), relation)
        for uri, relation in targets
    ]
    return version.uri


@pytest.fixture
async def served(
    database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Gateway, dict[str, LineageRegistry], httpx.AsyncClient]]:
    factory = LineageFactory()
    settings = make_settings(
        database_url,
        tmp_path,
        registries=[
            {"id": "platform", "kind": "native", "team": "platform"},
            {"id": "alpha", "kind": "memory", "team": "platform"},
            {"id": "vault", "kind": "memory", "team": "secret", "restricted": True},
        ],
    )
    gw = await Gateway.open(settings, factories={**load_factories(), "memory": factory})
    registries = factory.made
    try:
        async with served_app(gw, WHO) as client:
            yield gw, registries, client
    finally:
        await gw.aclose()


async def test_a_version_without_recorded_datasets_takes_them_from_lineage(served: tuple) -> None:
    gw, registries, client = served
    uri = dataset_edges(
        registries["alpha"], "scorer", (TRAIN, Relation.TRAINED_ON), (HOLDOUT, Relation.VALIDATED_ON)
    )
    await gw.sync.sync_all(full=True)
    document = (await client.get("/bom/alpha/scorer/1")).json()
    assert cyclonedx_errors(document) == []
    card = document["metadata"]["component"]["modelCard"]
    refs = {d["ref"] for d in card["modelParameters"]["datasets"]}
    data = {c["bom-ref"]: c for c in document["components"] if c["type"] == "data"}
    assert refs <= set(data)
    assert {c["name"] for c in data.values()} >= {"train", "holdout"}
    spdx = (await client.get("/bom/alpha/scorer/1", params={"format": "spdx"})).json()
    assert spdx_errors(spdx) == []
    relations = {
        (r["relationshipType"], tuple(r["to"]))
        for r in spdx["@graph"]
        if r["type"] == "Relationship" and r["from"] == uri
    }
    kinds = {kind for kind, _ in relations}
    assert {"trainedOn", "testedOn"} <= kinds

    # Stored once asked: the store answers the next BOM without the registry.
    await gw.lineage.remote.drain()
    calls = registries["alpha"].calls["lineage"]
    await gw.lineage.remote.cache.backend.delete(f"lineage:{uri}")  # not the cache's copy either
    again = (await client.get("/bom/alpha/scorer/1")).json()
    assert again["metadata"]["component"]["modelCard"]["modelParameters"]["datasets"]
    assert registries["alpha"].calls["lineage"] == calls


async def test_lineage_datasets_follow_the_catalogue_visibility(served: tuple) -> None:
    gw, registries, client = served
    dataset_edges(registries["alpha"], "scorer", (TRAIN, Relation.TRAINED_ON))
    dataset_edges(registries["vault"], "classified", (SECRET, Relation.TRAINED_ON))
    await gw.sync.sync_all(full=True)
    outsider = await client.get("/bom")
    assert outsider.status_code == 200
    assert TRAIN in outsider.text and SECRET not in outsider.text
    assert (await client.get("/bom/vault/classified/1")).status_code == 404
    insider = await client.get("/bom/vault/classified/1", headers={"x-test-principal": "sam"})
    assert insider.status_code == 200 and SECRET in insider.text


@pytest.fixture(scope="module")
def lineage_front(moto_sagemaker_url: str) -> Iterator[str]:
    """moto behind the lineage API it lacks (``tests/fakes/sagemaker_lineage.py``)."""
    front = SageMakerLineage(moto_sagemaker_url)
    serving = run_in_thread(front)
    yield next(serving)
    assert front.violations == [], "the lineage front answered outside the service model"
    serving.close()


def seed_sagemaker(url: str, group: str, datasets: list[str]) -> None:
    """A package whose datasets SageMaker holds only as lineage: a DataSet artifact
    per URI, ContributedTo the package's artifact, as a team records them."""
    sm = boto3.client("sagemaker", region_name="us-east-1", endpoint_url=url)
    sm.create_model_package_group(ModelPackageGroupName=group)
    arn = sm.create_model_package(
        ModelPackageGroupName=group,
        InferenceSpecification={
            "Containers": [
                {"Image": "1.dkr.ecr.us-east-1.amazonaws.com/x:1", "ModelDataUrl": "s3://m/x.tgz"}
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelApprovalStatus="Approved",
    )["ModelPackageArn"]
    (package,) = sm.list_artifacts(SourceUri=arn)["ArtifactSummaries"]
    for uri in datasets:
        dataset = sm.create_artifact(ArtifactType="DataSet", Source={"SourceUri": uri})
        sm.add_association(
            SourceArn=dataset["ArtifactArn"],
            DestinationArn=package["ArtifactArn"],
            AssociationType="ContributedTo",
        )


async def test_a_sagemaker_packages_bom_carries_its_lineage_datasets(
    lineage_front: str, aws_env: None, database_url: str, tmp_path: Path
) -> None:
    group = unique_name("bom-lineage")
    await asyncio.to_thread(seed_sagemaker, lineage_front, group, ["s3://acme/churn/train-2026-03"])
    settings = make_settings(
        database_url,
        tmp_path,
        registries=[
            {
                "id": "ads-sagemaker",
                "kind": "sagemaker",
                "team": "ads",
                "region": "us-east-1",
                "endpoint_url": lineage_front,
            }
        ],
    )
    gw = await Gateway.open(settings)
    try:
        await gw.sync.sync_all(full=True)
        version = await gw.index.get_version(f"mg://ads-sagemaker/{group}/1")
        assert version is not None and not version.training_data  # only lineage knows them
        async with served_app(gw, {"ada": Principal("ada", teams=frozenset({"ads"}))}) as client:
            document = (await client.get(f"/bom/ads-sagemaker/{group}/1")).json()
        assert cyclonedx_errors(document) == []
        data = [c for c in document["components"] if c["type"] == "data"]
        (dataset,) = data
        assert dataset["data"][0]["contents"] == {"url": "s3://acme/churn/train-2026-03"}
        assert {"name": "modelgate:dataset:role", "value": "training"} in dataset["properties"]
        assert document["metadata"]["component"]["modelCard"]["modelParameters"]["datasets"]
    finally:
        await gw.aclose()
