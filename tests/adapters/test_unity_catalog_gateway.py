"""Unity Catalog through the whole gateway (entry point, config, sync, GraphQL,
promotions), and MLflow's own ``uc:`` registry URI registering against the fake."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from adapters.unity_catalog import UnityCatalogRegistry
from gateway.auth.principal import Principal
from tests.adapters.contract import unique_name
from tests.adapters.test_unity_catalog import databricks_sdk, make_adapter
from tests.servers.unity_catalog import CATALOG, SCHEMAS, UnityCatalogServer
from tests.support import data_of, gql, make_settings, served_gateway

POLICIES = """
policies: []
promotions:
  - to: STAGING
    approvals: [TEAM_LEAD]
"""
ALICE = Principal("alice", frozenset({"TEAM_LEAD"}), frozenset({"ml"}))
BOB = Principal("bob", frozenset({"TEAM_LEAD"}), frozenset({"ml"}))
VERSION_QUERY = "query($uri: String!) { modelVersion(uri: $uri) { stage nativeStage artifactUri } }"
REQUEST = 'mutation($uri: String!) { requestPromotion(uri: $uri, targetStage: STAGING, reason: "try") { id status } }'
APPROVE = (
    "mutation($id: ID!) { approvePromotion(requestId: $id) { status error version { stage nativeStage } } }"
)


async def test_gateway_federates_unity_catalog_registries(
    uc_databricks: UnityCatalogServer,
    uc_oss: UnityCatalogServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Databricks catalog (aliases written through) and an OSS one (read-only:
    the approved promotion FAILS with the registry's reason) in one gateway."""
    short = unique_name("gateway")
    managed = await uc_databricks.register(short, [{"source": f"s3://b/{short}/{i}"} for i in range(2)])
    sdk = databricks_sdk(uc_databricks)
    await asyncio.to_thread(sdk.registered_models.set_alias, managed, "champion", 1)
    oss = await uc_oss.register(short, [{"source": f"s3://b/{short}/oss", "run_id": "r1"}])
    token_file = tmp_path / "uc-token"
    token_file.write_text(uc_databricks.token)
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES)
    registries: list[dict[str, Any]] = [
        {
            "id": "uc",
            "kind": "unity_catalog",
            "team": "ml",
            "url": uc_databricks.base_url,
            "catalog": CATALOG,
            "flavor": "databricks",
            "token_file": str(token_file),
        },
        {
            "id": "ucoss",
            "kind": "unity_catalog",
            "team": "ml",
            "url": uc_oss.base_url,
            "catalog": CATALOG,
            "schema": SCHEMAS[0],
            "token_env": "MG_TEST_UC_TOKEN",
        },
    ]
    settings = make_settings(
        f"sqlite:///{tmp_path}/mg.db", tmp_path, registries=registries, governance={"policies": str(policies)}
    )
    monkeypatch.setenv("MG_TEST_UC_TOKEN", uc_oss.token)  # the gateway reads token_env from its environment
    async with served_gateway(settings, {"alice": ALICE, "bob": BOB}, sync=["uc", "ucoss"]) as (
        _,
        client,
    ):
        found = data_of(
            await gql(
                client,
                "query($q: String!) { models(query: $q) { edges { node { uri registry { id kind } } } } }",
                {"q": short},
            )
        )
        nodes = [e["node"] for e in found["models"]["edges"]]
        assert {"uri": f"mg://uc/{managed}", "registry": {"id": "uc", "kind": "UNITY_CATALOG"}} in nodes
        assert {"uri": f"mg://ucoss/{oss}", "registry": {"id": "ucoss", "kind": "UNITY_CATALOG"}} in nodes
        champion = data_of(await gql(client, VERSION_QUERY, {"uri": f"mg://uc/{managed}/1"}))["modelVersion"]
        assert champion == {
            "stage": "PRODUCTION",
            "nativeStage": "champion",
            "artifactUri": f"s3://b/{short}/0",
        }
        ready = data_of(await gql(client, VERSION_QUERY, {"uri": f"mg://ucoss/{oss}/1"}))["modelVersion"]
        assert ready["stage"] == "DRAFT" and ready["nativeStage"].startswith("READY (OSS: no aliases")

        outcomes = {}
        for uri in (f"mg://uc/{managed}/2", f"mg://ucoss/{oss}/1"):
            client.headers["x-test-principal"] = "alice"
            requested = data_of(await gql(client, REQUEST, {"uri": uri}))["requestPromotion"]
            assert requested["status"] == "PENDING"
            client.headers["x-test-principal"] = "bob"
            outcomes[uri] = data_of(await gql(client, APPROVE, {"id": requested["id"]}))["approvePromotion"]
        applied = outcomes[f"mg://uc/{managed}/2"]
        assert applied["status"] == "APPLIED" and applied["version"]["stage"] == "STAGING"
        assert applied["version"]["nativeStage"] == "challenger"
        seen = await asyncio.to_thread(sdk.registered_models.get, managed, include_aliases=True)
        assert {(a.alias_name, a.version_num) for a in seen.aliases} == {("champion", 1), ("challenger", 2)}
        failed = outcomes[f"mg://ucoss/{oss}/1"]
        assert failed["status"] == "FAILED" and "read-only" in failed["error"]
        assert failed["version"]["stage"] == "DRAFT"


async def test_mlflow_uc_registry_uri_registers_a_version_the_adapter_reads(
    uc_oss: UnityCatalogServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow's OSS Unity Catalog store (``registry_uri="uc:http://…"``) creates the
    model and version, copies the files to the version's ``file://`` storage
    location and finalizes it; the adapter then reads what MLflow wrote."""
    await uc_oss.ensure_namespace()
    monkeypatch.setenv("MLFLOW_UC_OSS_TOKEN", uc_oss.token)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "MLmodel").write_text("artifact_path: model\nflavors: {}\n")
    name = f"{CATALOG}.{SCHEMAS[0]}.{unique_name('mlflowuc').replace('-', '_')}"

    def register() -> Any:
        from mlflow import MlflowClient

        # The uc: registry keeps no runs, but MLflow opens a tracking store anyway.
        tracking = f"sqlite:///{tmp_path}/mlflow.db"
        client = MlflowClient(tracking_uri=tracking, registry_uri=f"uc:{uc_oss.base_url}")
        client.create_registered_model(name, description="registered by mlflow")
        return client.create_model_version(name, source=str(model_dir), run_id="0123abcd")

    created = await asyncio.to_thread(register)
    assert str(created.version) == "1" and created.status == "READY"
    adapter: UnityCatalogRegistry = make_adapter(uc_oss)
    try:
        model = await adapter.get_model(name)
        assert model is not None and model.description == "registered by mlflow"
        version = await adapter.get_version(name, "1")
        assert version is not None and version.native["status"] == "READY"
        assert version.artifact_uri == str(model_dir) and version.native["run_id"] == "0123abcd"
        stored = Path(version.native["storage_location"].removeprefix("file://"))
        assert (stored / "MLmodel").is_file()  # MLflow wrote the files where the server said
    finally:
        await adapter.aclose()


async def test_a_run_shared_with_mlflow_is_one_lineage_node(
    uc_oss: UnityCatalogServer, mlflow_url: str
) -> None:
    """A team trains in MLflow, registers the run's model there and in Unity
    Catalog: both adapters name the run with the one rule, so the nodes meet."""
    from adapters.mlflow.options import MlflowOptions
    from adapters.mlflow.registry import MlflowAdapter
    from gateway.domain import Relation
    from tests.servers.mlflow import MlflowTeam

    team = MlflowTeam(mlflow_url)
    name = unique_name("shared-run")
    run_id = await asyncio.to_thread(team.train, params={"seed": "1"})
    await asyncio.to_thread(team.register, name, f"s3://b/{name}/model", run_id=run_id)
    full = await uc_oss.register(name, [{"source": f"s3://b/{name}/model", "run_id": run_id}])
    mlflow = MlflowAdapter("mlflow", MlflowOptions(url=mlflow_url))
    uc = make_adapter(uc_oss, runs_registry="mlflow")
    try:
        in_mlflow, in_uc = await mlflow.get_version(name, "1"), await uc.get_version(full, "1")
        assert in_mlflow is not None and in_uc is not None
        runs = [
            {e.target.uri for e in await adapter.lineage(v) if e.relation is Relation.PRODUCED_BY}
            for adapter, v in ((mlflow, in_mlflow), (uc, in_uc))
        ]
        assert f"mlflow-run://mlflow/{run_id}" in runs[0] and runs[1] == {f"mlflow-run://mlflow/{run_id}"}
    finally:
        await mlflow.aclose()
        await uc.aclose()
