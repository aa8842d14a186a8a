"""The issue's scenario end to end, through GraphQL, against a real MLflow server
(``tests/servers/mlflow.py``) and a real moto server (``tests/servers/sagemaker.py``):

* MLflow: a run with the dataset input ``s3://acme-data/tx/2026/`` and a base
  model version registered from it (populated with MLflow's own client);
* SageMaker (moto, boto3): a package whose CustomerMetadataProperties declare
  ``lineage.training_data = s3a://acme-data/tx/2026`` (another spelling);
* native: a version registered through GraphQL, fine-tuned from
  ``models:/<base>/1`` (the MLflow reference) and trained on the same data.

After syncing the three registries, ``impact`` of the dataset lists every version
trained on it, and ``lineage`` of the native version reaches the MLflow parent
and the dataset. The database is SQLite here: store and walks run on both
databases in ``test_store.py``; this test is about the registries.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

pytest.importorskip("mlflow")
boto3 = pytest.importorskip("boto3")

from adapters.base import run_blocking  # noqa: E402
from gateway.config import RegistrySettings  # noqa: E402
from gateway.runtime import Gateway  # noqa: E402
from gateway.server import create_app  # noqa: E402
from tests.adapters.contract import unique_name  # noqa: E402
from tests.servers.mlflow import LoggedDataset, MlflowTeam  # noqa: E402
from tests.support import data_of, gql, make_settings  # noqa: E402

# A region no other test uses: moto keeps one backend per region, so this test's
# SageMaker registry holds only what it creates here.
REGION = "eu-west-3"
DATASET = "s3://acme-data/tx/2026"
REGISTER = (
    "mutation($input: RegisterVersionInput!) { registerModelVersion(input: $input) { uri parent { uri } } }"
)


@pytest.fixture
async def client_and_gateway(
    tmp_path: Path, mlflow_url: str, moto_sagemaker_url: str, aws_env: None
) -> AsyncIterator[tuple[httpx.AsyncClient, Gateway]]:
    settings = make_settings(f"sqlite:///{tmp_path}/modelgate.db", tmp_path)
    settings = dataclasses.replace(
        settings,
        registries=(
            *settings.registries,
            RegistrySettings(id="fraud-mlflow", kind="mlflow", team="fraud", options={"url": mlflow_url}),
            RegistrySettings(
                id="ads-sagemaker",
                kind="sagemaker",
                team="ads",
                options={"region": REGION, "endpoint_url": moto_sagemaker_url},
            ),
        ),
    )
    gateway = await Gateway.open(settings)
    app = create_app(settings, gateway=gateway, background_sync=False)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client,
    ):
        yield client, gateway
    await gateway.aclose()


def populate_mlflow(url: str) -> str:
    """The fraud team's base model: trained on the dataset, registered as version 1."""
    team = MlflowTeam(url)
    run_id = team.train(
        params={"max_depth": "6"},
        metrics={"auc": 0.91},
        datasets=[LoggedDataset("transactions-2026", f"{DATASET}/", "training")],
    )
    name = unique_name("fraud-base")
    assert team.register(name, "s3://acme-models/fraud-base/1", run_id=run_id) == "1"
    return name


def populate_sagemaker(url: str) -> str:
    """The ads team's package, declaring its training data in another spelling."""
    sm = boto3.client("sagemaker", region_name=REGION, endpoint_url=url)
    group = unique_name("ads-ranker")
    sm.create_model_package_group(ModelPackageGroupName=group)
    sm.create_model_package(
        ModelPackageGroupName=group,
        InferenceSpecification={
            "Containers": [
                {
                    "Image": "123456789012.dkr.ecr.eu-west-3.amazonaws.com/xgb:1",
                    "ModelDataUrl": "s3://ads/ranker.tar.gz",
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties={"lineage.training_data": "s3a://acme-data/tx/2026"},
    )
    return group


async def test_impact_and_lineage_across_mlflow_sagemaker_and_native(
    client_and_gateway: tuple[httpx.AsyncClient, Gateway], mlflow_url: str, moto_sagemaker_url: str
) -> None:
    client, gateway = client_and_gateway
    base = await run_blocking(populate_mlflow, mlflow_url)
    group = await run_blocking(populate_sagemaker, moto_sagemaker_url)

    registered = data_of(
        await gql(
            client,
            REGISTER,
            {
                "input": {
                    "registry": "platform",
                    "model": "fraud-tuned",
                    "artifactUri": "s3://acme-models/fraud-tuned/1",
                    "parent": f"models:/{base}/1",
                    "trainingData": [{"uri": "s3://acme-data/tx/2026", "name": "transactions-2026"}],
                }
            },
        )
    )["registerModelVersion"]
    tuned = registered["uri"]
    mlflow_base = f"mg://fraud-mlflow/{base}/1"
    sagemaker_package = f"mg://ads-sagemaker/{group}/1"

    # Sync all three. The MLflow server is shared by the whole session (other tests'
    # models live there too), so only this test's model is read from it.
    assert await gateway.sync.refresh_model("fraud-mlflow", base)
    # Not a full sync (the shared server holds every test's models): record it as
    # one, or every answer would report the registry as never synced.
    await gateway.index.record_sync("fraud-mlflow", healthy=True, synced=True)
    for registry in ("ads-sagemaker", "platform"):
        result = await gateway.sync.sync_registry(registry, full=True)
        assert result.error is None, result.error
    assert registered["parent"] is None  # not synced yet when registered...
    parent = data_of(
        await gql(client, "query($u: String!) { modelVersion(uri: $u) { parent { uri } } }", {"u": tuned})
    )
    assert parent["modelVersion"]["parent"] == {"uri": mlflow_base}  # ...resolved to the MLflow version

    # impact of the dataset, asked in a third spelling: everything trained on it.
    impact = data_of(
        await gql(
            client,
            """query($u: String!) { impact(uri: $u) { uri model { registry { kind } } }
                 impactAnalysis(uri: $u) { root versions { uri path relations } } }""",
            {"u": "S3A://acme-data//tx/2026/"},
        )
    )
    found = {v["uri"]: v["model"]["registry"]["kind"] for v in impact["impact"]}
    assert found == {tuned: "NATIVE", sagemaker_package: "SAGEMAKER", mlflow_base: "MLFLOW"}
    paths = {v["uri"]: (v["path"], v["relations"]) for v in impact["impactAnalysis"]["versions"]}
    assert impact["impactAnalysis"]["root"] == DATASET
    assert paths[sagemaker_package] == ([DATASET, sagemaker_package], ["TRAINED_ON"])
    assert paths[tuned] == ([DATASET, tuned], ["TRAINED_ON"])

    # lineage of the native version reaches the MLflow parent and the dataset.
    body = await gql(
        client,
        """query($u: String!) { lineage(uri: $u, direction: UPSTREAM, depth: 3) {
             nodes { uri kind registry } edges { source target relation evidence } truncated } }""",
        {"u": tuned},
    )
    assert "errors" not in body, body["errors"]
    graph = body["data"]["lineage"]
    nodes = {n["uri"]: n for n in graph["nodes"]}
    edges = {(e["source"], e["target"], e["relation"]): e["evidence"] for e in graph["edges"]}
    assert edges[(tuned, mlflow_base, "DERIVED_FROM")] == "record"
    assert edges[(tuned, DATASET, "TRAINED_ON")] == "record"
    assert (mlflow_base, DATASET, "TRAINED_ON") in edges  # the MLflow run's dataset input: the same node
    assert nodes[mlflow_base]["registry"] == "fraud-mlflow" and nodes[DATASET]["kind"] == "dataset"
    # What only MLflow's own lineage knows, merged at query time: the training run.
    runs = [n for n in graph["nodes"] if n["kind"] == "run" and n["registry"] == "fraud-mlflow"]
    assert len(runs) == 1 and edges[(mlflow_base, runs[0]["uri"], "PRODUCED_BY")] == "registry"
    assert graph["truncated"] is False
