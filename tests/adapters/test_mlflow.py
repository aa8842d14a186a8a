"""The MLflow adapter against a real MLflow 3.x server (``tests/servers/mlflow.py``):
the shared adapter contract, then what only MLflow does — run lineage, aliases and
legacy stages, alias write-through, incremental sync, paging past 1,000 models."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("mlflow")  # a test dependency: it starts the real server
from mlflow.exceptions import MlflowException
from mlflow.webhooks.delivery import _generate_hmac_signature  # MLflow's own signer

from adapters.base import RetryPolicy, iterate_pages
from adapters.mlflow import MlflowAdapter, MlflowOptions
from adapters.mlflow import factory as mlflow_factory
from adapters.mlflow.options import Credentials
from adapters.mlflow.registry import FIRST_MODEL_PAGE
from adapters.protocol import PromotionContext
from gateway.config import RegistrySettings
from gateway.domain import DatasetRef, ModelVersion, Relation, Stage
from gateway.errors import NotFound
from tests.adapters.contract import (
    HYPERPARAMETERS,
    LINEAGE,
    METRICS,
    MODEL_DESCRIPTION,
    MODEL_TAGS,
    VERSION_DESCRIPTION,
    VERSION_TAGS,
    AdapterContract,
    SeedModel,
    unique_name,
)
from tests.conftest import run_in_thread
from tests.servers.mlflow import LoggedDataset, MlflowTeam

REGISTRY = "mlflow-test"
FAST_RETRY = RetryPolicy(attempts=3, deadline_seconds=5.0, initial_wait=0.05, max_wait=0.2)
BULK_MODELS = 1_050  # more than MLflow's largest page (1,000)
CONTRACT_PAGE_SIZE = 2
WEBHOOK_SECRET = "whsec-contract-" + uuid.uuid4().hex


def make_adapter(url: str, credentials: Credentials | None = None, **options: Any) -> MlflowAdapter:
    return MlflowAdapter(REGISTRY, MlflowOptions(url=url, **options), credentials, retry=FAST_RETRY)


@pytest.fixture(scope="session")
def team(mlflow_url: str) -> MlflowTeam:
    return MlflowTeam(mlflow_url)


@pytest.fixture
async def adapter(mlflow_url: str) -> AsyncIterator[MlflowAdapter]:
    a = make_adapter(mlflow_url)
    yield a
    await a.aclose()


async def all_versions(adapter: MlflowAdapter, name: str) -> dict[str, ModelVersion]:
    return {v.version: v async for v in iterate_pages(lambda t: adapter.list_versions(name, t))}


# --- the shared contract -------------------------------------------------------


class MlflowSubject:
    capabilities = {
        VERSION_DESCRIPTION,
        VERSION_TAGS,
        METRICS,
        HYPERPARAMETERS,
        MODEL_TAGS,
        MODEL_DESCRIPTION,
        LINEAGE,
    }
    writable_stages = {Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED}
    page_size = CONTRACT_PAGE_SIZE

    factory = mlflow_factory

    def __init__(self, adapter: MlflowAdapter, team: MlflowTeam, url: str):
        self.adapter = adapter
        self.team = team
        self.settings = RegistrySettings(id=REGISTRY, kind="mlflow", options={"url": url})

    def reference_to(self, version: ModelVersion) -> str:
        return f"models:/{version.model_name}/{version.version}"

    def webhook_delivery(self, model_name: str) -> tuple[dict[str, str], bytes]:
        """As MLflow's delivery code signs a ``model_version.created`` event."""
        data = {"name": model_name, "version": "1", "source": "s3://b/m", "tags": {}, "description": None}
        event = {"entity": "model_version", "action": "created", "timestamp": "2026-11-26T09:00:00+00:00"}
        body = json.dumps({**event, "data": data})
        delivery_id, timestamp = str(uuid.uuid4()), str(int(time.time()))
        signature = _generate_hmac_signature(WEBHOOK_SECRET, delivery_id, timestamp, body)
        headers = {
            "X-MLflow-Delivery-Id": delivery_id,
            "X-MLflow-Timestamp": timestamp,
            "X-MLflow-Signature": signature,
        }
        return headers, body.encode()

    async def seed(self, models: list[SeedModel]) -> None:
        for m in models:
            self.team.client.create_registered_model(m.name, tags=m.tags, description=m.description)
            for v in m.versions:
                datasets = [LoggedDataset(f"train-{i}", uri, "training") for i, uri in enumerate(v.datasets)]
                run_id = self.team.train(params=v.params, metrics=v.metrics, datasets=datasets)
                self.team.register(
                    m.name, v.artifact_uri, run_id=run_id, description=v.description, tags=v.tags
                )

    async def touch(self, model_name: str) -> None:
        self.team.register(model_name, "s3://contract-bucket/touched")


class TestMlflowContract(AdapterContract):
    @pytest.fixture
    async def subject(self, mlflow_url: str, team: MlflowTeam) -> AsyncIterator[MlflowSubject]:
        # Small pages, so that the contract's listings cross page boundaries.
        paged = make_adapter(
            mlflow_url,
            Credentials(webhook_secret=WEBHOOK_SECRET),
            page_size=CONTRACT_PAGE_SIZE,
            version_page_size=CONTRACT_PAGE_SIZE,
        )
        yield MlflowSubject(paged, team, mlflow_url)
        await paged.aclose()


# --- what a version carries -----------------------------------------------------


@pytest.fixture(scope="module")
def trained(team: MlflowTeam) -> dict[str, str]:
    """A fraud team's model: a run with params, metrics and three datasets, a
    LoggedModel, and a version registered from it, tagged and aliased."""
    name = unique_name("fraud")
    run_id = team.train(
        params={"max_depth": "6", "learning_rate": "0.1"},
        metrics={"auc": 0.93, "f1": 0.71},
        datasets=[
            LoggedDataset("transactions-2026q3", "s3://fraud-data/tx/2026q3.parquet", "training"),
            LoggedDataset("transactions-holdout", "https://data.example.com/holdout.csv", "validation"),
            LoggedDataset("transactions-eval", "s3://fraud-data/tx/eval.parquet", "evaluation"),
        ],
        tags={
            "mlflow.source.git.repoURL": "https://git.example.com/fraud/train",
            "mlflow.source.git.commit": "9f2c1e7",
            "mlflow.user": "ana",
        },
    )
    model_id = team.log_model(run_id, name="fraud-xgb")
    team.client.create_registered_model(name, tags={"domain": "payments"}, description="Card fraud scoring")
    version = team.register(
        name, f"models:/{model_id}", run_id=run_id, description="first cut", tags={"reviewed": "yes"}
    )
    team.client.set_registered_model_alias(name, "champion", version)
    team.client.set_registered_model_alias(name, "blue", version)  # not a stage alias
    return {"name": name, "version": version, "run_id": run_id, "model_id": model_id}


async def test_version_carries_run_datasets_params_and_metrics(
    adapter: MlflowAdapter, trained: dict[str, str], team: MlflowTeam
) -> None:
    v = await adapter.get_version(trained["name"], trained["version"])
    assert v is not None
    assert v.uri == f"mg://{REGISTRY}/{trained['name']}/{trained['version']}"
    assert v.artifact_uri == f"models:/{trained['model_id']}"
    assert v.description == "first cut"
    assert v.tags == {"reviewed": "yes"}
    assert v.hyperparameters == {"max_depth": "6", "learning_rate": "0.1"}
    assert v.metrics == pytest.approx({"auc": 0.93, "f1": 0.71})
    by_uri = {d.uri: d for d in v.training_data}
    assert set(by_uri) == {
        "s3://fraud-data/tx/2026q3.parquet",
        "https://data.example.com/holdout.csv",
        "s3://fraud-data/tx/eval.parquet",
    }
    train = by_uri["s3://fraud-data/tx/2026q3.parquet"]
    assert (train.name, train.role) == ("transactions-2026q3", "training")
    assert train.digest and len(train.digest) >= 8  # MLflow's dataset digest, verbatim
    assert by_uri["https://data.example.com/holdout.csv"].role == "validation"
    assert v.training_code is not None
    assert (v.training_code.repository, v.training_code.commit) == (
        "https://git.example.com/fraud/train",
        "9f2c1e7",
    )
    assert v.stage is Stage.PRODUCTION and v.native_stage == "champion"
    assert v.aliases == ("blue", "champion")
    assert v.native["run_id"] == trained["run_id"]
    assert v.native["logged_model_id"] == trained["model_id"]
    assert v.native["current_stage"] == "None"
    mv = team.client.get_model_version(trained["name"], trained["version"])
    assert v.created_at == datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=UTC)
    assert v.created_at is not None and v.created_at.tzinfo is UTC


async def test_listing_and_detail_agree(adapter: MlflowAdapter, trained: dict[str, str]) -> None:
    """Searches carry no aliases: the listing must take them from the registered model."""
    listed = (await all_versions(adapter, trained["name"]))[trained["version"]]
    detail = await adapter.get_version(trained["name"], trained["version"])
    assert detail is not None
    assert listed == detail
    everywhere = [
        v async for v in iterate_pages(adapter.list_all_versions) if v.model_name == trained["name"]
    ]
    assert everywhere == [detail]


async def test_a_brief_listing_filled_in_is_the_full_listing(
    adapter: MlflowAdapter, trained: dict[str, str]
) -> None:
    """The two-pass full sync: the listing without run details or model files, then
    ``fill_details``, gives exactly what the one-pass listing gives."""
    full = [v async for v in iterate_pages(adapter.list_all_versions)]
    brief = [v async for v in iterate_pages(adapter.list_all_versions_brief)]
    assert [v.uri for v in brief] == [v.uri for v in full]
    mine = next(v for v in brief if v.model_name == trained["name"])
    assert mine.stage is Stage.PRODUCTION and mine.aliases == ("blue", "champion")
    assert mine.tags == {"reviewed": "yes"}
    assert (mine.hyperparameters, mine.metrics, mine.training_data) == ({}, {}, ())
    assert "run" not in mine.native  # not "the run is gone": not read yet
    assert all(v.partial for v in brief) and not any(v.partial for v in full)  # reads complete them
    assert adapter.fills_details
    assert await adapter.fill_details(brief) == full
    assert await adapter.fill_details([mine]) == [v for v in full if v.uri == mine.uri]  # read again


async def test_model_carries_tags_description_and_aliases(
    adapter: MlflowAdapter, trained: dict[str, str]
) -> None:
    model = await adapter.get_model(trained["name"])
    assert model is not None
    assert model.description == "Card fraud scoring"
    assert model.tags == {"domain": "payments"}
    assert model.native["aliases"] == {"champion": trained["version"], "blue": trained["version"]}
    assert model.created_at is not None and model.updated_at is not None
    assert model.updated_at >= model.created_at


async def test_lineage_from_run_inputs_and_logged_model(
    adapter: MlflowAdapter, trained: dict[str, str]
) -> None:
    v = await adapter.get_version(trained["name"], trained["version"])
    assert v is not None
    edges = await adapter.lineage(v)
    assert all(e.source.uri == v.uri for e in edges)
    found = {(e.relation, e.target.uri, e.target.kind) for e in edges}
    assert found == {
        (Relation.TRAINED_ON, "s3://fraud-data/tx/2026q3.parquet", "dataset"),
        (Relation.VALIDATED_ON, "https://data.example.com/holdout.csv", "dataset"),
        (Relation.VALIDATED_ON, "s3://fraud-data/tx/eval.parquet", "dataset"),
        (Relation.PRODUCED_BY, f"mlflow-run://{REGISTRY}/{trained['run_id']}", "run"),
        (Relation.PRODUCED_BY, "git+https://git.example.com/fraud/train@9f2c1e7", "code"),
        (Relation.SAME_AS, f"mlflow-logged-model://{REGISTRY}/{trained['model_id']}", "logged_model"),
    }
    logged = next(e.target for e in edges if e.relation is Relation.SAME_AS)
    assert logged.label == "fraud-xgb"
    # A version the adapter did not read itself (e.g. from the index) is read first.
    bare = ModelVersion(registry_id=REGISTRY, model_name=trained["name"], version=trained["version"])
    assert {(e.relation, e.target.uri) for e in await adapter.lineage(bare)} == {(r, u) for r, u, _ in found}


async def test_dataset_without_location_gets_a_stable_uri(adapter: MlflowAdapter, team: MlflowTeam) -> None:
    """A dataset whose source JSON names no location (e.g. built in code) still links."""
    from mlflow.data.code_dataset_source import CodeDatasetSource

    name = unique_name("codeds")
    run_id = team.train(datasets=[])
    import pandas as pd
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.entities import DatasetInput, InputTag

    dataset = from_pandas(
        pd.DataFrame({"x": [1]}), source=CodeDatasetSource({"notebook": "n1"}), name="synthetic"
    )
    team.client.log_inputs(
        run_id,
        datasets=[DatasetInput(dataset._to_mlflow_entity(), [InputTag("mlflow.data.context", "training")])],
    )
    version = team.register(name, "s3://b/codeds", run_id=run_id)
    v = await adapter.get_version(name, version)
    assert v is not None
    (ds,) = v.training_data
    assert ds == DatasetRef(
        uri=f"mlflow-dataset://{REGISTRY}/synthetic@{dataset.digest}",
        name="synthetic",
        digest=dataset.digest,
        role="training",
    )


async def test_copied_version_derives_from_its_source(adapter: MlflowAdapter, team: MlflowTeam) -> None:
    source_name, copy_name = unique_name("src"), unique_name("copy")
    team.register(source_name, "s3://b/src/1")
    copied = team.client.copy_model_version(f"models:/{source_name}/1", copy_name)
    v = await adapter.get_version(copy_name, str(copied.version))
    assert v is not None and v.parent == f"mg://{REGISTRY}/{source_name}/1"
    edges = await adapter.lineage(v)
    assert (Relation.DERIVED_FROM, f"mg://{REGISTRY}/{source_name}/1") in {
        (e.relation, e.target.uri) for e in edges
    }


async def test_missing_run_does_not_break_a_version(adapter: MlflowAdapter, team: MlflowTeam) -> None:
    name = unique_name("norun")
    run_id = team.train(params={"a": "1"})
    version = team.register(name, "s3://b/norun", run_id=run_id)
    team.client.delete_run(run_id)  # soft delete: MLflow still serves it
    v = await adapter.get_version(name, version)
    assert v is not None and v.hyperparameters == {"a": "1"}
    assert v.native["run"]["lifecycle_stage"] == "deleted"


async def test_prompts_are_not_models(adapter: MlflowAdapter, team: MlflowTeam) -> None:
    """MLflow stores prompts as registered models; its searches hide them, so do we."""
    name = unique_name("prompt")
    team.client.register_prompt(name, template="Classify {{text}}")
    assert await adapter.get_model(name) is None
    assert name not in {m.name async for m in iterate_pages(adapter.list_models)}


@pytest.mark.parametrize("stem", ["it's", 'say "hi"', "both'\""])
async def test_model_names_with_quotes(adapter: MlflowAdapter, team: MlflowTeam, stem: str) -> None:
    name = f"{unique_name('q')}-{stem}"
    other = name.replace("'", "x").replace('"', "x")  # what a loose match could confuse it with
    team.register(name, "s3://b/q/1")
    team.register(other, "s3://b/other/1")
    versions = await all_versions(adapter, name)
    assert [v.artifact_uri for v in versions.values()] == ["s3://b/q/1"]


# --- stages and aliases -----------------------------------------------------------


@pytest.fixture(scope="module")
def staged(team: MlflowTeam) -> str:
    """Versions in every state a team leaves them: aliases, the archive tag, legacy stages."""
    name = unique_name("staged")
    for i in range(1, 7):
        team.register(name, f"s3://b/staged/{i}")
    c = team.client
    c.set_registered_model_alias(name, "champion", "1")
    c.set_registered_model_alias(name, "challenger", "2")
    c.set_model_version_tag(name, "3", "modelgate.stage", "archived")
    c.transition_model_version_stage(name, "4", "Archived")
    c.transition_model_version_stage(name, "6", "Production")
    return name


async def test_aliases_mode_maps_aliases_tag_and_legacy_stages(adapter: MlflowAdapter, staged: str) -> None:
    versions = await all_versions(adapter, staged)
    got = {n: (v.stage, v.native_stage) for n, v in versions.items()}
    assert got == {
        "1": (Stage.PRODUCTION, "champion"),
        "2": (Stage.STAGING, "challenger"),
        "3": (Stage.ARCHIVED, "modelgate.stage=archived"),
        "4": (Stage.ARCHIVED, "Archived"),
        "5": (Stage.DRAFT, None),
        "6": (Stage.PRODUCTION, "Production"),  # the legacy stage counts too
    }
    assert versions["6"].native["current_stage"] == "Production"  # every native value kept


async def test_stages_mode_reads_legacy_stages(mlflow_url: str, staged: str) -> None:
    legacy = make_adapter(mlflow_url, stage_mapping="stages")
    try:
        versions = await all_versions(legacy, staged)
    finally:
        await legacy.aclose()
    assert {n: (v.stage, v.native_stage) for n, v in versions.items()} == {
        "1": (Stage.DRAFT, "None"),
        "2": (Stage.DRAFT, "None"),
        "3": (Stage.DRAFT, "None"),
        "4": (Stage.ARCHIVED, "Archived"),
        "5": (Stage.DRAFT, "None"),
        "6": (Stage.PRODUCTION, "Production"),
    }
    assert versions["1"].aliases == ("champion",)  # aliases are still reported


async def test_alias_names_are_configurable(mlflow_url: str, staged: str, team: MlflowTeam) -> None:
    team.client.set_registered_model_alias(staged, "live", "5")
    custom = make_adapter(mlflow_url, production_aliases=["live"], staging_aliases=["canary"])
    try:
        versions = await all_versions(custom, staged)
    finally:
        await custom.aclose()
        team.client.delete_registered_model_alias(staged, "live")
    assert (versions["5"].stage, versions["5"].native_stage) == (Stage.PRODUCTION, "live")
    assert versions["1"].stage is Stage.DRAFT  # "champion" means nothing here
    assert versions["1"].aliases == ("champion",)


async def test_promotion_moves_the_alias_in_mlflow(adapter: MlflowAdapter, team: MlflowTeam) -> None:
    name = unique_name("promote")
    for i in (1, 2):
        team.register(name, f"s3://b/promote/{i}")
    c = team.client
    c.set_registered_model_alias(name, "production", "1")
    c.set_registered_model_alias(name, "staging", "2")
    c.set_registered_model_alias(name, "blue", "2")
    v2 = await adapter.get_version(name, "2")
    assert v2 is not None and v2.stage is Stage.STAGING

    promoted = await adapter.set_stage(v2, Stage.PRODUCTION, PromotionContext("alice"))
    assert (promoted.stage, promoted.native_stage) == (Stage.PRODUCTION, "production")
    assert c.get_model_version_by_alias(name, "production").version == "2"  # moved off v1 by MLflow
    assert set(c.get_model_version(name, "2").aliases) == {"production", "blue"}  # staging dropped
    v1 = await adapter.get_version(name, "1")
    assert v1 is not None and v1.stage is Stage.DRAFT

    archived = await adapter.set_stage(promoted, Stage.ARCHIVED, PromotionContext("alice"))
    assert (archived.stage, archived.native_stage) == (Stage.ARCHIVED, "modelgate.stage=archived")
    with pytest.raises(MlflowException):
        c.get_model_version_by_alias(name, "production")
    assert c.get_model_version(name, "2").tags["modelgate.stage"] == "archived"
    assert archived.aliases == ("blue",)  # aliases modelgate does not map are left alone

    drafted = await adapter.set_stage(archived, Stage.DRAFT, PromotionContext("alice"))
    assert drafted.stage is Stage.DRAFT
    assert "modelgate.stage" not in c.get_model_version(name, "2").tags


async def test_unarchiving_a_legacy_archived_version(adapter: MlflowAdapter, team: MlflowTeam) -> None:
    name = unique_name("legacyarch")
    team.register(name, "s3://b/legacyarch/1")
    team.client.transition_model_version_stage(name, "1", "Archived")
    v = await adapter.get_version(name, "1")
    assert v is not None and v.stage is Stage.ARCHIVED
    drafted = await adapter.set_stage(v, Stage.DRAFT, PromotionContext("bob"))
    assert drafted.stage is Stage.DRAFT
    assert team.client.get_model_version(name, "1").current_stage == "None"


async def test_stages_mode_transitions_the_legacy_stage(mlflow_url: str, team: MlflowTeam) -> None:
    name = unique_name("legacy")
    for i in (1, 2):
        team.register(name, f"s3://b/legacy/{i}")
    team.client.transition_model_version_stage(name, "1", "Production")
    legacy = make_adapter(mlflow_url, stage_mapping="stages", archive_existing_versions=True)
    try:
        v2 = await legacy.get_version(name, "2")
        assert v2 is not None
        staged = await legacy.set_stage(v2, Stage.STAGING, PromotionContext("carol"))
        assert (staged.stage, staged.native_stage) == (Stage.STAGING, "Staging")
        promoted = await legacy.set_stage(staged, Stage.PRODUCTION, PromotionContext("carol"))
        assert (promoted.stage, promoted.native_stage) == (Stage.PRODUCTION, "Production")
        assert (
            team.client.get_model_version(name, "1").current_stage == "Archived"
        )  # archive_existing_versions
        assert (
            await legacy.set_stage(promoted, Stage.DRAFT, PromotionContext("carol"))
        ).native_stage == "None"
    finally:
        await legacy.aclose()


async def test_set_stage_of_a_missing_version(adapter: MlflowAdapter) -> None:
    ghost = ModelVersion(registry_id=REGISTRY, model_name=unique_name("ghost"), version="1")
    with pytest.raises(NotFound, match="does not exist"):
        await adapter.set_stage(ghost, Stage.PRODUCTION, PromotionContext("dave"))


# --- incremental sync -------------------------------------------------------------


async def _raw_model_stamp(url: str, name: str) -> int:
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{url}/api/2.0/mlflow/registered-models/get", params={"name": name})
        return int(r.json()["registered_model"]["last_updated_timestamp"])


async def test_mlflow_does_not_stamp_alias_or_tag_changes(mlflow_url: str, team: MlflowTeam) -> None:
    """Pins the MLflow behaviour the incremental design rests on: if a future MLflow
    starts bumping ``last_updated_timestamp`` for these, the design can get simpler."""
    name = unique_name("stamps")
    team.register(name, "s3://b/stamps/1")
    before = await _raw_model_stamp(mlflow_url, name)
    await asyncio.sleep(0.05)
    team.client.set_registered_model_alias(name, "champion", "1")
    team.client.set_registered_model_tag(name, "k", "v")
    team.client.set_model_version_tag(name, "1", "k", "v")
    assert await _raw_model_stamp(mlflow_url, name) == before
    team.client.update_model_version(name, "1", description="changed")  # bumps the version only
    assert await _raw_model_stamp(mlflow_url, name) == before
    team.register(name, "s3://b/stamps/2")
    assert await _raw_model_stamp(mlflow_url, name) > before


async def test_changes_since_sees_aliases_tags_edits_and_deletions(
    adapter: MlflowAdapter, team: MlflowTeam
) -> None:
    names = {k: unique_name(k) for k in ("alias", "tag", "edit", "gone", "quiet")}
    for name in names.values():
        team.register(name, f"s3://b/{name}/1")
    start = await adapter.changes_since(None)
    assert start.changed is None  # the first pass lists everything
    assert (await adapter.changes_since(start.cursor)).changed is None  # ... until a listing completed
    listed = {m.name async for m in iterate_pages(adapter.list_models)}
    assert set(names.values()) <= listed
    quiet = await adapter.changes_since(start.cursor)
    assert quiet.changed is not None and not set(quiet.changed) & set(names.values())

    team.client.set_registered_model_alias(names["alias"], "champion", "1")
    team.client.set_registered_model_tag(names["tag"], "owner", "fraud")
    team.client.update_model_version(names["edit"], "1", description="retrained")
    team.client.delete_registered_model(names["gone"])
    changes = await adapter.changes_since(quiet.cursor)
    assert changes.changed is not None
    assert {names["alias"], names["tag"], names["edit"]} <= set(changes.changed)
    assert names["quiet"] not in changes.changed
    assert changes.deleted == [names["gone"]]

    again = await adapter.changes_since(changes.cursor)
    assert again.changed == [] and again.deleted == []  # nothing is reported twice
    older = await adapter.changes_since(quiet.cursor)  # a pass that failed is simply repeated
    assert older.changed is not None and names["alias"] in older.changed


async def test_changes_since_falls_back_to_a_full_listing(mlflow_url: str, adapter: MlflowAdapter) -> None:
    start = await adapter.changes_since(None)
    [m async for m in iterate_pages(adapter.list_models)]
    other = make_adapter(mlflow_url)  # another process: it never saw that listing
    stale = make_adapter(mlflow_url, full_resync_seconds=0.001)
    try:
        assert (await other.changes_since(start.cursor)).changed is None
        assert (await adapter.changes_since("not-a-cursor")).changed is None
        stale_start = await stale.changes_since(None)
        [m async for m in iterate_pages(stale.list_models)]
        await asyncio.sleep(0.01)
        assert (await stale.changes_since(stale_start.cursor)).changed is None
    finally:
        await other.aclose()
        await stale.aclose()


# --- paging and cost --------------------------------------------------------------


@pytest.fixture(scope="session")
def bulk_models(mlflow_server: object, mlflow_url: str) -> list[str]:
    """1,050 registered models, created once through the REST API (fast: ~7 s)."""
    prefix = f"bulk-{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}-{i:05d}" for i in range(BULK_MODELS)]

    async def create() -> None:
        semaphore = asyncio.Semaphore(4)
        async with httpx.AsyncClient(base_url=f"{mlflow_url}/api/2.0/mlflow/", timeout=30) as client:

            async def one(name: str) -> None:
                async with semaphore:
                    r = await client.post(
                        "registered-models/create",
                        json={"name": name, "tags": [{"key": "bulk", "value": "1"}]},
                    )
                    r.raise_for_status()

            await asyncio.gather(*(one(n) for n in names))

    run_in_thread(create())
    return names


async def test_lists_more_than_a_thousand_models(adapter: MlflowAdapter, bulk_models: list[str]) -> None:
    pages = []
    token: str | None = None
    while True:
        page = await adapter.list_models(token)
        pages.append(page.items)
        token = page.next_token
        if not token:
            break
    names = [m.name for items in pages for m in items]
    # A short first page (the first models are indexed soon), then MLflow's largest.
    total = sum(len(items) for items in pages)
    assert len(pages) >= 2 and len(pages[0]) == FIRST_MODEL_PAGE
    assert len(pages[1]) == min(1000, total - FIRST_MODEL_PAGE)
    assert len(names) == len(set(names))
    assert set(bulk_models) <= set(names)
    assert names == sorted(names)  # name order: stable offsets while models change


async def test_small_pages_visit_every_model_once(mlflow_url: str, bulk_models: list[str]) -> None:
    small = make_adapter(mlflow_url, page_size=300)
    try:
        names = [m.name async for m in iterate_pages(small.list_models)]
    finally:
        await small.aclose()
    assert len(names) == len(set(names)) and set(bulk_models) <= set(names)


class CountingTransport(httpx.AsyncHTTPTransport):
    """The real transport, counting requests by API path."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, int] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/2.0/mlflow/")
        self.calls[path] = self.calls.get(path, 0) + 1
        return await super().handle_async_request(request)


@pytest.fixture(scope="module")
def trained_family(team: MlflowTeam) -> str:
    """One model, six versions: five runs, two versions sharing one run."""
    name = unique_name("family")
    runs = [team.train(params={"seed": str(i)}, metrics={"loss": 1.0 / (i + 1)}) for i in range(5)]
    for i, run_id in enumerate([*runs, runs[0]]):
        team.register(name, f"s3://b/family/{i + 1}", run_id=run_id)
    team.client.set_registered_model_alias(name, "champion", "6")
    return name


async def test_list_all_versions_pages_and_matches_per_model_listing(
    mlflow_url: str, adapter: MlflowAdapter, trained_family: str
) -> None:
    tiny = make_adapter(mlflow_url, version_page_size=4)
    try:
        pages = 0
        found: dict[str, ModelVersion] = {}
        token: str | None = None
        while True:
            page = await tiny.list_all_versions(token)
            pages += 1
            found.update((v.version, v) for v in page.items if v.model_name == trained_family)
            token = page.next_token
            if not token:
                break
    finally:
        await tiny.aclose()
    assert pages > 2
    assert found == await all_versions(adapter, trained_family)
    assert found["6"].stage is Stage.PRODUCTION and found["6"].hyperparameters == {"seed": "0"}


async def test_run_details_are_batched_and_read_once(mlflow_url: str, trained_family: str) -> None:
    transport = CountingTransport()
    counted = MlflowAdapter(REGISTRY, MlflowOptions(url=mlflow_url), transport=transport, retry=FAST_RETRY)
    try:
        versions = (await counted.list_versions(trained_family)).items
    finally:
        await counted.aclose()
    assert len(versions) == 6 and all(v.metrics for v in versions)
    assert transport.calls.get("runs/search") == 1  # five runs in one request
    assert transport.calls.get("runs/get", 0) == 0


async def test_run_details_can_be_switched_off(mlflow_url: str, trained_family: str) -> None:
    transport = CountingTransport()
    lean = MlflowAdapter(
        REGISTRY,
        MlflowOptions(url=mlflow_url, fetch_run_details=False),
        transport=transport,
        retry=FAST_RETRY,
    )
    try:
        versions = (await lean.list_versions(trained_family)).items
    finally:
        await lean.aclose()
    assert len(versions) == 6
    assert all(not v.metrics and not v.hyperparameters and v.native["run_id"] for v in versions)
    assert not any(path.startswith("runs/") for path in transport.calls)


@pytest.fixture(autouse=True, scope="module")
def _quiet_mlflow_logs() -> Iterator[None]:
    """MLflow's client prints a line per run; keep test output readable."""
    import logging

    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(level)


# --- through the gateway's own sync engine -------------------------------------------


async def test_the_catalogue_syncs_fully_then_incrementally(
    mlflow_url: str, team: MlflowTeam, trained: dict[str, str], tmp_path: Path
) -> None:
    """The real SyncEngine over this adapter: a full pass indexes versions with run
    details and stages; an incremental pass sees an alias move and a deleted model."""
    from gateway.runtime import Gateway
    from tests.support import make_settings

    gone = unique_name("gone")
    team.register(gone, "s3://b/gone/1")
    settings = make_settings(
        f"sqlite:///{tmp_path}/index.db",
        tmp_path,
        registries=[{"id": REGISTRY, "kind": "mlflow", "team": "fraud", "url": mlflow_url}],
    )
    gw = await Gateway.open(settings)
    try:
        full = await gw.sync.sync_registry(REGISTRY, full=True)
        assert full.error is None and full.full
        uri = f"mg://{REGISTRY}/{trained['name']}/{trained['version']}"
        indexed = await gw.index.get_version(uri)
        assert indexed is not None
        assert (indexed.stage, indexed.team) == (Stage.PRODUCTION, "fraud")
        assert {d.role for d in indexed.training_data} == {"training", "validation", "evaluation"}
        assert indexed.metrics == pytest.approx({"auc": 0.93, "f1": 0.71})

        team.client.set_registered_model_alias(trained["name"], "challenger", trained["version"])
        team.client.delete_registered_model_alias(trained["name"], "champion")
        team.client.delete_registered_model(gone)
        incremental = await gw.sync.sync_registry(REGISTRY)
        assert incremental.error is None and not incremental.full
        assert incremental.removed == 1
        indexed = await gw.index.get_version(uri)
        assert indexed is not None and (indexed.stage, indexed.native_stage) == (Stage.STAGING, "challenger")
        assert await gw.index.get_model(f"mg://{REGISTRY}/{gone}") is None
    finally:
        team.client.set_registered_model_alias(trained["name"], "champion", trained["version"])
        team.client.delete_registered_model_alias(trained["name"], "challenger")
        await gw.aclose()


async def test_a_first_full_sync_lists_the_catalogue_then_fills_run_details(
    mlflow_url: str, trained: dict[str, str], trained_family: str, tmp_path: Path
) -> None:
    """Two passes over the real server, with pages small enough that the versions
    listing runs ahead of the model listing: it waits for the models' aliases
    instead of reading them model by model, and the filled versions are exactly
    what the adapter reads one by one."""
    from gateway.catalogue.index import CatalogueIndex, SearchFilter, SearchQuery
    from gateway.catalogue.sync import SyncEngine
    from gateway.config import RegistrySettings
    from gateway.store.database import Database

    transport = CountingTransport()
    counted = MlflowAdapter(
        REGISTRY,
        MlflowOptions(url=mlflow_url, page_size=7, version_page_size=5),
        transport=transport,
        retry=FAST_RETRY,
    )
    db = Database(f"sqlite:///{tmp_path}/index.db")
    await db.migrate()
    try:
        engine = SyncEngine(
            CatalogueIndex(db), {REGISTRY: counted}, {REGISTRY: RegistrySettings(id=REGISTRY, kind="mlflow")}
        )
        result = await engine.sync_registry(REGISTRY, full=True)
        assert result.error is None and result.details_error is None
        assert result.catalogued_seconds is not None and result.catalogued_seconds <= result.seconds
        assert not (await engine.index.registry_health())[REGISTRY].details_pending
        assert transport.calls.get("registered-models/get", 0) == 0  # aliases came from the listing
        assert transport.calls.get("runs/search", 0) >= 1
        for name, number in ((trained["name"], trained["version"]), (trained_family, "6")):
            indexed = await engine.index.get_version(f"mg://{REGISTRY}/{name}/{number}")
            assert indexed is not None
            assert indexed == await counted.get_version(name, number)
        page = await engine.index.search_versions(SearchQuery(None, SearchFilter(), 1, None, facets=()))
        assert page.total == len([v async for v in iterate_pages(counted.list_all_versions)])
    finally:
        await counted.aclose()
        await db.aclose()
