"""The Kubeflow Model Registry adapter against the spec-validated fake (``tests/fakes/kubeflow``).

There is no server that builds here (it is Go over MySQL). The fake serves the
published OpenAPI spec's resources from memory and validates every request and
response against the spec with openapi-core; ``kubeflow_fake`` fails a test on
any violation. Registries are seeded as a data scientist would, with the real
``model-registry`` Python client (``register_model``, ``update``), and
InferenceServices through that client's generated API, as KServe's controller
writes them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

import adapters.kubeflow.options as kubeflow_options
from adapters.base import BearerTokenAuth, RetryPolicy, iterate_pages
from adapters.kubeflow import KubeflowRegistry, factory, load_settings
from adapters.kubeflow.mapping import stage_of
from adapters.protocol import PromotionContext
from gateway.auth.principal import Principal
from gateway.config import ConfigError, RegistrySettings, SecretSource
from gateway.domain import ModelVersion, Relation, Stage
from gateway.errors import (
    RegistryAuthError,
    RegistryForbidden,
    RegistryNotFound,
    RegistryUnavailable,
)
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
from tests.servers.kubeflow import KubeflowServer
from tests.support import data_of, gql, make_settings, request_and_approve, served_gateway

REGISTRY = "kf"
FAST_RETRY = RetryPolicy(attempts=4, deadline_seconds=5.0, initial_wait=0.01, max_wait=0.05)


def make_adapter(
    server: KubeflowServer, *, environ: dict[str, str] | None = None, **options: Any
) -> KubeflowRegistry:
    registry = RegistrySettings(
        id=REGISTRY, kind="kubeflow", team="ml", options=server.options(**options), key="registries[3]"
    )
    settings = load_settings(registry, environ=server.environ if environ is None else environ)
    return KubeflowRegistry(REGISTRY, settings, team="ml", retry=FAST_RETRY)


@pytest.fixture
async def adapter(kubeflow_fake: KubeflowServer) -> AsyncIterator[KubeflowRegistry]:
    kubeflow = make_adapter(kubeflow_fake)
    yield kubeflow
    await kubeflow.aclose()


def register(
    server: KubeflowServer,
    name: str,
    version: str,
    *,
    uri: str | None = None,
    metadata: dict[str, Any] | None = None,
    **fields: Any,
) -> Any:
    """``ModelRegistry.register_model``: the model (if new), a version and its model artifact."""
    return server.client.register_model(
        name,
        uri or f"s3://kf-models/{name}/{version}/model.onnx",
        model_format_name="onnx",
        model_format_version="1",
        version=version,
        metadata=metadata or {},
        **fields,
    )


def api_paths(server: KubeflowServer, since: int, method: str | None = None) -> list[str]:
    return [
        r.path
        for r in server.fake.requests[since:]
        if r.generation and (method is None or r.method == method)
    ]


class KubeflowSubject:
    capabilities = {
        MODEL_DESCRIPTION,
        MODEL_TAGS,
        VERSION_DESCRIPTION,
        VERSION_TAGS,
        METRICS,
        HYPERPARAMETERS,
        LINEAGE,
    }
    writable_stages = {Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED}
    page_size = 2  # the adapter's page_size option in the contract's fixture

    factory = factory

    def __init__(self, adapter: KubeflowRegistry, server: KubeflowServer):
        self.adapter = adapter
        self.server = server
        self.settings = RegistrySettings(id=REGISTRY, kind="kubeflow", options=server.options())

    def reference_to(self, version: ModelVersion) -> str:
        """The storage URI a KServe InferenceService names the version by, with the registry's host."""
        host = urlsplit(self.server.base_url).netloc
        return f"model-registry://{host}/{quote(version.model_name)}/{quote(version.version)}"

    def _seed(self, models: list[SeedModel]) -> None:
        client = self.server.client
        for m in models:
            for i, v in enumerate(m.versions):
                metadata: dict[str, Any] = {**v.tags, **v.metrics}
                metadata.update({f"param.{k}": value for k, value in v.params.items()})
                register(
                    self.server,
                    m.name,
                    f"v{i + 1}",
                    uri=v.artifact_uri,
                    version_description=v.description,
                    metadata=metadata,
                )
                if v.datasets:  # training data as DataSet artifacts of the version
                    self._log_datasets(m.name, f"v{i + 1}", v.datasets)
            model = client.get_registered_model(m.name)
            model.description = m.description
            model.custom_properties = dict(m.tags)
            client.update(model)

    def _log_datasets(self, name: str, version: str, uris: list[str]) -> None:
        from model_registry.types import DataSet

        mv = self.server.client.get_model_version(name, version)
        for n, uri in enumerate(uris):
            dataset = DataSet(name=f"train-{n}", uri=uri)
            self.server.runner.run(self.server.client._api.upsert_model_version_artifact(dataset, mv.id))

    async def seed(self, models: list[SeedModel]) -> None:
        await asyncio.to_thread(self._seed, models)

    async def touch(self, model_name: str) -> None:
        await asyncio.to_thread(register, self.server, model_name, unique_name("touch"))

    async def serve(self, version: ModelVersion) -> str:
        """An InferenceService naming the version, as KServe's controller records it."""
        client = self.server.client
        model = await asyncio.to_thread(client.get_registered_model, version.model_name)
        mv = await asyncio.to_thread(client.get_model_version, version.model_name, version.version)
        name = f"{version.model_name}-isvc"
        await asyncio.to_thread(self.server.deploy, model.id, mv.id, name)
        return name


class TestKubeflowContract(AdapterContract):
    @pytest.fixture
    async def subject(self, kubeflow_fake: KubeflowServer) -> AsyncIterator[KubeflowSubject]:
        paged = make_adapter(kubeflow_fake, page_size=KubeflowSubject.page_size)
        yield KubeflowSubject(paged, kubeflow_fake)
        await paged.aclose()


# --- reads -------------------------------------------------------------------


def _struct(value: dict[str, Any]) -> dict[str, str]:
    encoded = base64.b64encode(json.dumps(value).encode()).decode()
    return {"metadataType": "MetadataStructValue", "struct_value": encoded}


async def test_version_carries_every_kubeflow_field(
    adapter: KubeflowRegistry, kubeflow_fake: KubeflowServer
) -> None:
    name = unique_name("fields")
    metadata = {
        "accuracy": 0.93,
        "epochs": 12,
        "param.learning_rate": "0.01",
        "owner-team": "risk",
        "gpu": True,
    }
    await asyncio.to_thread(
        register,
        kubeflow_fake,
        name,
        "1.0.0",
        metadata=metadata,
        author="alice",
        owner="risk-team",
        version_description="first cut",
    )

    def add_struct() -> None:
        from mr_openapi import MetadataValue, ModelVersionUpdate

        mv = kubeflow_fake.client.get_model_version(name, "1.0.0")

        async def patch(api: Any) -> Any:
            current = await api.get_model_version(mv.id)
            props = {k: v.to_dict() for k, v in (current.custom_properties or {}).items()}
            props["card"] = _struct({"intended_use": "scoring"})
            update = ModelVersionUpdate(
                custom_properties={k: MetadataValue.from_dict(v) for k, v in props.items()}
            )
            return await api.update_model_version(mv.id, update)

        kubeflow_fake.service_api(patch)

    await asyncio.to_thread(add_struct)

    model = await adapter.get_model(name)
    assert model is not None and model.native["owner"] == "risk-team"
    version = await adapter.get_version(name, "1.0.0")
    assert version is not None
    assert version.uri == f"mg://{REGISTRY}/{name}/1.0.0"
    assert version.metrics == {"accuracy": pytest.approx(0.93)}  # doubles are metrics
    assert version.hyperparameters == {"learning_rate": "0.01"}  # the param. prefix
    assert version.tags == {"epochs": "12", "owner-team": "risk", "gpu": "true"}  # ints, strings, bools
    assert "card" not in version.tags  # a struct has no scalar to show ...
    assert version.native["customProperties"]["card"]["metadataType"] == "MetadataStructValue"  # ... kept
    assert version.artifact_uri == f"s3://kf-models/{name}/1.0.0/model.onnx"
    assert version.native["framework"] == "onnx" and version.native["frameworkVersion"] == "1"
    assert version.created_by == "alice" and version.description == "first cut"
    assert version.stage is Stage.DRAFT and version.native_stage == "LIVE"
    assert version.created_at is not None and version.updated_at is not None
    assert version.created_at <= version.updated_at
    assert await adapter.get_version(name, "9.9.9") is None


async def test_dataset_metric_and_parameter_artifacts(
    adapter: KubeflowRegistry, kubeflow_fake: KubeflowServer
) -> None:
    """The registry's own typed artifacts: datasets are training data (their ``role``
    property says which role) and lineage; metric and parameter artifacts win over
    custom properties of the same name."""
    from model_registry.types import DataSet, Parameter
    from model_registry.types.artifacts import ParameterType

    name = unique_name("artifacts")
    await asyncio.to_thread(
        register,
        kubeflow_fake,
        name,
        "v1",
        metadata={"auc": 0.5},
        model_source_kind="kfp",
        model_source_class="pipelinerun",
        model_source_group="fraud-ns",
        model_source_id="run-42",
        model_source_name="train fraud",
    )

    def log_artifacts() -> None:
        mv = kubeflow_fake.client.get_model_version(name, "v1")
        artifacts = [
            DataSet(name="train", uri="s3://kf-data/train.parquet", digest="sha256:abc"),
            DataSet(
                name="holdout", uri="s3://kf-data/holdout.parquet", custom_properties={"role": "validation"}
            ),
            Parameter(name="max_depth", value=6, parameter_type=ParameterType.NUMBER),
        ]
        for artifact in artifacts:
            kubeflow_fake.runner.run(kubeflow_fake.client._api.upsert_model_version_artifact(artifact, mv.id))

        # model_registry.types.Metric (0.3.18) always sets ``step``, as an int where
        # its own generated model wants a string, so it cannot be sent; the generated
        # API underneath can, without a step.
        async def log_metric(api: Any) -> Any:
            from mr_openapi import Artifact

            metric = {"artifactType": "metric", "name": "auc", "value": 0.91}
            return await api.upsert_model_version_artifact(mv.id, Artifact.from_dict(metric))

        kubeflow_fake.service_api(log_metric)

    await asyncio.to_thread(log_artifacts)
    version = await adapter.get_version(name, "v1")
    assert version is not None
    assert version.metrics == {"auc": pytest.approx(0.91)}  # the metric artifact, not the property
    assert version.hyperparameters == {"max_depth": "6"}
    assert {(d.uri, d.role, d.digest) for d in version.training_data} == {
        ("s3://kf-data/train.parquet", "training", "sha256:abc"),
        ("s3://kf-data/holdout.parquet", "validation", None),
    }
    assert version.artifact_uri == f"s3://kf-models/{name}/v1/model.onnx"  # still the model artifact
    lineage = await adapter.lineage(version)
    assert {(e.relation, e.target.uri) for e in lineage} == {
        (Relation.TRAINED_ON, "s3://kf-data/train.parquet"),
        (Relation.VALIDATED_ON, "s3://kf-data/holdout.parquet"),
        (Relation.PRODUCED_BY, "model-source://kfp/pipelinerun/fraud-ns/run-42"),
    }
    assert {e.target.label for e in lineage if e.relation is Relation.PRODUCED_BY} == {"train fraud"}


async def test_names_with_slashes_are_escaped_in_modelgate(
    adapter: KubeflowRegistry, kubeflow_fake: KubeflowServer
) -> None:
    """Hugging Face imports are named ``org/model``: ``mg://`` spells the slash ``%2F``."""
    org = unique_name("org")
    await asyncio.to_thread(register, kubeflow_fake, f"{org}/granite-100%", "1.0/rc1")
    name = f"{org}%2Fgranite-100%25"
    model = await adapter.get_model(name)
    assert model is not None and model.name == name and model.uri == f"mg://{REGISTRY}/{name}"
    (listed,) = (await adapter.list_versions(name)).items
    assert listed.version == "1.0%2Frc1" and listed.uri == f"mg://{REGISTRY}/{name}/1.0%2Frc1"
    promoted = await adapter.set_stage(listed, Stage.PRODUCTION, PromotionContext("fay"))
    assert promoted.stage is Stage.PRODUCTION
    seen = await asyncio.to_thread(kubeflow_fake.client.get_model_version, f"{org}/granite-100%", "1.0/rc1")
    assert seen.custom_properties["stage"] == "production"
    assert await adapter.get_model(f"{org}/granite-100%") is None  # only the escaped spelling is a name


async def test_paging_past_one_page(kubeflow_fake: KubeflowServer) -> None:
    adapter = make_adapter(kubeflow_fake, page_size=2)
    try:
        name = unique_name("paged")
        for i in range(5):
            await asyncio.to_thread(register, kubeflow_fake, name, f"v{i + 1}")
        first = await adapter.list_versions(name)
        assert len(first.items) == 2 and first.next_token
        versions = [v async for v in iterate_pages(lambda t: adapter.list_versions(name, t))]
        assert [v.version for v in versions] == ["v1", "v2", "v3", "v4", "v5"]
        models = [m.name async for m in iterate_pages(adapter.list_models)]
        assert name in models and len(models) == len(set(models))
        # The bulk listing pages the same way (three pages: the session holds many versions).
        token, bulk = None, []
        for _ in range(3):
            page = await adapter.list_all_versions(token)
            assert len(page.items) <= 2
            bulk += [v.uri for v in page.items]
            token = page.next_token
        assert len(bulk) == len(set(bulk)) and 5 <= len(bulk) <= 6  # five exist at least
        tokens = [
            r.query.get("nextPageToken") for r in kubeflow_fake.fake.requests if r.path.endswith("/versions")
        ]
        assert sum(1 for t in tokens if t) >= 2
    finally:
        await adapter.aclose()


# --- stages ------------------------------------------------------------------


async def test_archived_version_from_state_and_written_back(
    adapter: KubeflowRegistry, kubeflow_fake: KubeflowServer
) -> None:
    name = unique_name("archive")
    await asyncio.to_thread(register, kubeflow_fake, name, "v1", metadata={"team": "risk"})
    await asyncio.to_thread(register, kubeflow_fake, name, "v2")

    def archive_with_client() -> None:  # as someone would in the Kubeflow UI or a notebook
        from model_registry.types import ModelVersionState

        mv = kubeflow_fake.client.get_model_version(name, "v1")
        mv.state = ModelVersionState.ARCHIVED
        kubeflow_fake.client.update(mv)

    await asyncio.to_thread(archive_with_client)
    v1 = await adapter.get_version(name, "v1")
    assert v1 is not None and v1.stage is Stage.ARCHIVED and v1.native_stage == "ARCHIVED"

    v2 = await adapter.get_version(name, "v2")
    assert v2 is not None
    mark = len(kubeflow_fake.fake.requests)
    archived = await adapter.set_stage(v2, Stage.ARCHIVED, PromotionContext("bob"))
    assert archived.stage is Stage.ARCHIVED
    (patch,) = [r for r in kubeflow_fake.fake.requests[mark:] if r.method == "PATCH"]
    assert patch.body["state"] == "ARCHIVED"
    assert patch.body["customProperties"]["stage"] == {
        "metadataType": "MetadataStringValue",
        "string_value": "archived",
    }
    seen = await asyncio.to_thread(kubeflow_fake.client.get_model_version, name, "v2")
    assert seen.state.value == "ARCHIVED" and seen.custom_properties["stage"] == "archived"

    restored = await adapter.set_stage(v1, Stage.STAGING, PromotionContext("bob"))
    assert restored.stage is Stage.STAGING and restored.native_stage == "staging"
    assert restored.tags["team"] == "risk"  # the whole property map was sent back
    seen = await asyncio.to_thread(kubeflow_fake.client.get_model_version, name, "v1")
    assert seen.state.value == "LIVE" and seen.custom_properties == {"team": "risk", "stage": "staging"}
    again = len(kubeflow_fake.fake.requests)
    await adapter.set_stage(restored, Stage.STAGING, PromotionContext("bob"))
    assert api_paths(kubeflow_fake, again, "PATCH") == []  # already there: nothing to write


async def test_an_archived_model_archives_its_versions_until_one_is_promoted(
    adapter: KubeflowRegistry, kubeflow_fake: KubeflowServer
) -> None:
    name = unique_name("retired")
    for version in ("v1", "v2"):
        await asyncio.to_thread(register, kubeflow_fake, name, version)

    def archive_model() -> None:  # what the Kubeflow UI's "Archive model" sends
        from model_registry.types import RegisteredModelState

        model = kubeflow_fake.client.get_registered_model(name)
        model.state = RegisteredModelState.ARCHIVED
        kubeflow_fake.client.update(model)

    await asyncio.to_thread(archive_model)
    listed = (await adapter.list_versions(name)).items
    assert {(v.version, v.stage, v.native["state"]) for v in listed} == {
        ("v1", Stage.ARCHIVED, "LIVE"),
        ("v2", Stage.ARCHIVED, "LIVE"),
    }
    v1 = next(v for v in listed if v.version == "v1")
    promoted = await adapter.set_stage(v1, Stage.STAGING, PromotionContext("gil"))
    assert promoted.stage is Stage.STAGING
    model = await asyncio.to_thread(kubeflow_fake.client.get_registered_model, name)
    assert model.state.value == "LIVE"  # restored with the version
    assert (await adapter.get_version(name, "v2")).stage is Stage.DRAFT  # type: ignore[union-attr]


async def test_inference_services_mean_production_and_fill_deployments(
    adapter: KubeflowRegistry, kubeflow_fake: KubeflowServer
) -> None:
    name = unique_name("served")
    rm = await asyncio.to_thread(register, kubeflow_fake, name, "v1")
    for version in ("v2", "v3"):
        await asyncio.to_thread(register, kubeflow_fake, name, version)
    v1 = await asyncio.to_thread(kubeflow_fake.client.get_model_version, name, "v1")
    v2 = await asyncio.to_thread(kubeflow_fake.client.get_model_version, name, "v2")
    isvc = await asyncio.to_thread(kubeflow_fake.deploy, rm.id, v1.id, f"{name}-isvc", environment="fraud-ns")
    await asyncio.to_thread(kubeflow_fake.deploy, rm.id, v2.id, f"{name}-off", state="UNDEPLOYED")
    # No modelVersionId: the spec says it serves the latest version by creation.
    await asyncio.to_thread(kubeflow_fake.deploy, rm.id, None, f"{name}-latest")

    stages = {v.version: v for v in (await adapter.list_versions(name)).items}
    assert (stages["v1"].stage, stages["v1"].native_stage) == (Stage.PRODUCTION, "DEPLOYED")
    assert [d.endpoint for d in stages["v1"].deployments] == [f"fraud-ns/{name}-isvc"]
    assert stages["v1"].deployments[0].traffic_percent is None
    assert stages["v2"].stage is Stage.DRAFT and stages["v2"].deployments == ()  # UNDEPLOYED serves nothing
    assert stages["v3"].stage is Stage.PRODUCTION
    assert [d.endpoint for d in stages["v3"].deployments] == [f"team-serving/{name}-latest"]
    edges = await adapter.lineage(stages["v1"])
    assert (Relation.DEPLOYED_TO, f"fraud-ns/{name}-isvc") in {(e.relation, e.target.uri) for e in edges}

    # The property outranks a deployment: someone marked the served version staging.
    staged = await adapter.set_stage(stages["v1"], Stage.STAGING, PromotionContext("carol"))
    assert staged.stage is Stage.STAGING and staged.deployments  # still served, and shown so
    await asyncio.to_thread(kubeflow_fake.undeploy, isvc["id"])
    assert (await adapter.get_version(name, "v3")).stage is Stage.PRODUCTION  # type: ignore[union-attr]
    filters = {
        r.query.get("filterQuery")
        for r in kubeflow_fake.fake.requests
        if r.path.endswith("/inference_services")
    }
    assert f"registeredModelId = {rm.id}" in filters


async def test_stage_property_and_values_are_configurable(kubeflow_fake: KubeflowServer) -> None:
    name = unique_name("mapping")
    await asyncio.to_thread(register, kubeflow_fake, name, "v1", metadata={"lifecycle": "Champion"})
    await asyncio.to_thread(register, kubeflow_fake, name, "v2", metadata={"lifecycle": "challenger"})
    await asyncio.to_thread(register, kubeflow_fake, name, "v3", metadata={"stage": "production"})
    adapter = make_adapter(
        kubeflow_fake,
        stage_property="lifecycle",
        production_values=["champion", "production"],
        staging_values=["challenger"],
    )
    try:
        stages = {v.version: (v.stage, v.native_stage) for v in (await adapter.list_versions(name)).items}
        assert stages == {
            "v1": (Stage.PRODUCTION, "Champion"),  # matched without case, kept verbatim
            "v2": (Stage.STAGING, "challenger"),
            "v3": (Stage.DRAFT, "LIVE"),  # "stage" is not this registry's property
        }
        v3 = await adapter.get_version(name, "v3")
        assert v3 is not None
        promoted = await adapter.set_stage(v3, Stage.PRODUCTION, PromotionContext("dan"))
        assert promoted.tags["lifecycle"] == "champion" and promoted.tags["stage"] == "production"
    finally:
        await adapter.aclose()


# --- API generations ------------------------------------------------------------


async def test_api_generation_is_detected_or_configured(kubeflow_fake: KubeflowServer) -> None:
    name = unique_name("generation")
    await asyncio.to_thread(register, kubeflow_fake, name, "v1")
    assert {r.generation for r in kubeflow_fake.fake.requests if r.generation} >= {"v1"}  # the client's

    newer = make_adapter(kubeflow_fake)
    mark = len(kubeflow_fake.fake.requests)
    assert (await newer.get_model(name)) is not None
    assert {r.generation for r in kubeflow_fake.fake.requests[mark:]} == {"v1"}

    kubeflow_fake.fake.generations = {"v1alpha3"}  # an older server
    older = make_adapter(kubeflow_fake)
    pinned = make_adapter(kubeflow_fake, api_version="v1")
    try:
        mark = len(kubeflow_fake.fake.requests)
        assert (await older.get_version(name, "v1")) is not None
        sent = kubeflow_fake.fake.requests[mark:]
        assert (sent[0].path, sent[0].status) == ("/api/model_registry/v1/registered_models", 404)
        assert {r.generation for r in sent[1:]} == {"v1alpha3"}
        assert await older.api.api_version() == "v1alpha3"
        with pytest.raises(RegistryNotFound) as missing:
            await pinned.list_models()
        assert REGISTRY in str(missing.value.registry_id) and "404" in missing.value.message
        health = await pinned.health()
        assert not health.ok and "v1/registered_models" in (health.detail or "")
    finally:
        for a in (newer, older, pinned):
            await a.aclose()


# --- incremental sync ---------------------------------------------------------


async def test_changes_since_follows_last_update_time(
    adapter: KubeflowRegistry, kubeflow_fake: KubeflowServer
) -> None:
    busy, quiet, served = unique_name("busy"), unique_name("quiet"), unique_name("served")
    newest = unique_name("newest")  # holds the cursor's own instant: read again (inclusive)
    for name in (served, quiet, busy, newest):
        await asyncio.to_thread(register, kubeflow_fake, name, "v1")
    start = await adapter.changes_since(None)
    assert start.changed is None and start.cursor and start.cursor.isdigit()
    await asyncio.to_thread(register, kubeflow_fake, busy, "v2")  # a new version only
    rm = await asyncio.to_thread(kubeflow_fake.client.get_registered_model, served)
    await asyncio.to_thread(kubeflow_fake.deploy, rm.id, None, f"{served}-isvc")  # a deployment only
    later = await adapter.changes_since(start.cursor)
    assert later.changed is not None and set(later.changed) == {busy, served, newest}
    assert int(later.cursor or 0) > int(start.cursor)
    filters = [
        r.query for r in kubeflow_fake.fake.requests if r.query.get("filterQuery", "").startswith("last")
    ]
    assert all(q["orderBy"] == "LAST_UPDATE_TIME" for q in filters)


# --- errors and auth ----------------------------------------------------------


async def test_errors_map_to_the_shared_taxonomy(
    adapter: KubeflowRegistry, kubeflow_fake: KubeflowServer
) -> None:
    name = unique_name("errors")
    await asyncio.to_thread(register, kubeflow_fake, name, "v1")
    kubeflow_fake.fake.fail_next(503, 500)
    assert (await adapter.list_models()).items  # retried through
    kubeflow_fake.fake.fail_next(*[503] * FAST_RETRY.attempts)
    with pytest.raises(RegistryUnavailable) as unavailable:
        await adapter.list_models()
    assert unavailable.value.code == "REGISTRY_UNAVAILABLE" and unavailable.value.registry_id == REGISTRY
    kubeflow_fake.fake.fail_next(503, method="PATCH")
    version = await adapter.get_version(name, "v1")
    assert version is not None
    mark = len(kubeflow_fake.fake.requests)
    with pytest.raises(RegistryUnavailable):
        await adapter.set_stage(version, Stage.PRODUCTION, PromotionContext("eve"))
    assert len(api_paths(kubeflow_fake, mark, "PATCH")) == 1  # a write is never retried

    wrong = make_adapter(kubeflow_fake, environ={"KF_TOKEN": "not-the-token"})
    forbidden_token = "a-token-without-rights"
    kubeflow_fake.fake.forbidden_tokens.add(forbidden_token)
    forbidden = make_adapter(kubeflow_fake, environ={"KF_TOKEN": forbidden_token})
    try:
        with pytest.raises(RegistryAuthError) as refused:
            await wrong.list_models()
        assert refused.value.code == "REGISTRY_AUTH_FAILED" and refused.value.status == 401
        assert "missing or invalid bearer token" in refused.value.message  # the server's words
        with pytest.raises(RegistryForbidden) as denied:
            await forbidden.get_model(name)
        assert denied.value.status == 403 and "403" in denied.value.message
        assert not (await wrong.health()).ok
    finally:
        await wrong.aclose()
        await forbidden.aclose()


async def test_token_file_is_read_again_when_rotated(kubeflow_fake: KubeflowServer, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(kubeflow_fake.token + "\n")
    registry = RegistrySettings(
        id=REGISTRY,
        kind="kubeflow",
        options={"url": kubeflow_fake.base_url, "token_file": str(token_file)},
        key="registries[0]",
    )
    adapter = KubeflowRegistry(REGISTRY, load_settings(registry, environ={}), retry=FAST_RETRY)
    try:
        assert (await adapter.health()).ok
        rotated = "rotated-" + kubeflow_fake.token
        kubeflow_fake.fake.tokens.add(rotated)
        token_file.write_text(rotated)
        os.utime(token_file, (1, 1))  # a new mtime whatever the file system's resolution
        mark = len(kubeflow_fake.fake.requests)
        assert (await adapter.health()).ok
        assert adapter.api.auth.token() == rotated
        assert kubeflow_fake.fake.requests[mark].status == 200
    finally:
        kubeflow_fake.fake.tokens.discard("rotated-" + kubeflow_fake.token)
        await adapter.aclose()


# --- options and references -----------------------------------------------------


@pytest.mark.parametrize(
    ("options", "key", "words"),
    [
        ({"url": "http://mr:8080", "tokne_env": "X"}, "registries[1].tokne_env", "unknown key"),
        ({"url": "http://mr:8080", "token": "abc"}, "registries[1].token", "never inline"),
        ({"url": "mr:8080"}, "registries[1].url", "http(s) URL"),
        ({"url": "http://mr:8080/api/model_registry/v1"}, "registries[1].url", "root URL"),
        ({"url": "http://mr:8080", "api_version": "v2"}, "registries[1].api_version", "must be one of"),
        ({"url": "http://mr:8080", "token_env": "MISSING"}, "registries[1].token_env", "not set"),
        (
            {"url": "http://mr:8080", "token_file": "/nonexistent/token"},
            "registries[1].token_file",
            "cannot read",
        ),
        ({"url": "http://mr:8080", "page_size": 0}, "registries[1].page_size", "between 1 and"),
        (
            {"url": "http://mr:8080", "staging_values": ["production"]},
            "registries[1].staging_values",
            "also means PRODUCTION",
        ),
        ({"url": "http://mr:8080", "draft_values": []}, "registries[1].draft_values", "at least one"),
    ],
)
def test_options_are_checked_with_the_key_named(options: dict[str, Any], key: str, words: str) -> None:
    registry = RegistrySettings(id="kf", kind="kubeflow", options=options, key="registries[1]")
    with pytest.raises(ConfigError) as raised:
        load_settings(registry, environ={})
    assert raised.value.key == key and words in str(raised.value)


def test_model_registry_uris_are_references() -> None:
    registry = RegistrySettings(
        id="kf", kind="kubeflow", options={"url": "http://model-registry.kubeflow.svc:8080"}
    )
    parse = factory.parse_reference
    assert factory.is_reference("model-registry://iris/v1")
    assert not factory.is_reference("s3://bucket/iris") and not factory.is_reference("model-registry://")
    hosted = parse("model-registry://model-registry.kubeflow.svc:8080/iris/v1", registry)
    assert hosted is not None and (hosted.model_name, hosted.version, hosted.weak) == ("iris", "v1", False)
    model_only = parse("model-registry://model-registry.kubeflow.svc/iris", registry)
    assert model_only is not None and (model_only.model_name, model_only.version) == ("iris", None)
    bare = parse("model-registry://iris/v1?x=1", registry)
    assert bare is not None and (bare.model_name, bare.version, bare.weak) == ("iris", "v1", True)
    assert parse("model-registry://elsewhere.example:8080/iris/v1", registry) is None
    assert parse("model-registry://a/b/c/d", registry) is None


# --- through the gateway ------------------------------------------------------

POLICIES = """
policies: []
promotions:
  - to: STAGING
    approvals: [TEAM_LEAD]
"""
ALICE = Principal("alice", frozenset({"TEAM_LEAD"}), frozenset({"ml"}))
BOB = Principal("bob", frozenset({"TEAM_LEAD"}), frozenset({"ml"}))


async def test_gateway_federates_a_kubeflow_registry(kubeflow_fake: KubeflowServer, tmp_path: Path) -> None:
    """Entry point, config, sync, search, and a promotion written through to the
    registry once approved, as its own client then sees it."""
    name = unique_name("gateway")
    await asyncio.to_thread(register, kubeflow_fake, name, "v1", metadata={"auc": 0.91})
    await asyncio.to_thread(register, kubeflow_fake, name, "v2", metadata={"auc": 0.94})
    rm = await asyncio.to_thread(kubeflow_fake.client.get_registered_model, name)
    v1 = await asyncio.to_thread(kubeflow_fake.client.get_model_version, name, "v1")
    await asyncio.to_thread(kubeflow_fake.deploy, rm.id, v1.id, f"{name}-isvc", environment="ml-serving")
    token_file = tmp_path / "kf-token"
    token_file.write_text(kubeflow_fake.token)
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES)
    registry = {
        "id": REGISTRY,
        "kind": "kubeflow",
        "team": "ml",
        "url": kubeflow_fake.base_url,
        "token_file": str(token_file),
    }
    settings = make_settings(
        f"sqlite:///{tmp_path}/mg.db", tmp_path, registries=[registry], governance={"policies": str(policies)}
    )
    async with served_gateway(settings, {"alice": ALICE, "bob": BOB}, sync=[REGISTRY]) as (_, client):
        found = data_of(
            await gql(
                client,
                "query($q: String!) { models(query: $q) { edges { node { uri registry { id } } } } }",
                {"q": name},
            )
        )
        nodes = [e["node"] for e in found["models"]["edges"]]
        assert {"uri": f"mg://{REGISTRY}/{name}", "registry": {"id": REGISTRY}} in nodes
        served = data_of(
            await gql(
                client,
                "query($uri: String!) { modelVersion(uri: $uri) { stage nativeStage deployments { endpoint } } }",
                {"uri": f"mg://{REGISTRY}/{name}/v1"},
            )
        )["modelVersion"]
        assert served == {
            "stage": "PRODUCTION",
            "nativeStage": "DEPLOYED",
            "deployments": [{"endpoint": f"ml-serving/{name}-isvc"}],
        }
        uri = f"mg://{REGISTRY}/{name}/v2"
        approved = await request_and_approve(
            client,
            uri,
            "STAGING",
            approver="bob",
            reason="try",
            version_fields="stage nativeStage metrics { key value }",
        )
        assert approved["status"] == "APPLIED"
        assert approved["version"]["stage"] == "STAGING" and approved["version"]["nativeStage"] == "staging"
        assert approved["version"]["metrics"] == [{"key": "auc", "value": pytest.approx(0.94)}]
        seen = await asyncio.to_thread(kubeflow_fake.client.get_model_version, name, "v2")
        assert seen.custom_properties["stage"] == "staging"  # the registry's own client sees it
        other = await asyncio.to_thread(kubeflow_fake.client.get_model_version, name, "v1")
        assert "stage" not in other.custom_properties


def test_the_service_account_token_is_the_default_only_where_it_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = RegistrySettings(id="kf", kind="kubeflow", options={"url": "http://mr:8080"})
    monkeypatch.setattr(kubeflow_options, "SERVICE_ACCOUNT_TOKEN", str(tmp_path / "absent"))
    assert load_settings(registry, environ={}).token == SecretSource()  # outside a pod
    token = tmp_path / "token"
    token.write_text("pod-token\n")
    monkeypatch.setattr(kubeflow_options, "SERVICE_ACCOUNT_TOKEN", str(token))
    inside = load_settings(registry, environ={})
    assert inside.token.path == token
    assert BearerTokenAuth(inside.token).token() == "pod-token"


def test_state_is_the_truth_about_archiving() -> None:
    """A version archived in modelgate and then restored in the Kubeflow UI is LIVE
    with a stale ``stage=archived`` property: the registry's state wins, and a
    deployment then decides."""
    registry = RegistrySettings(id="kf", kind="kubeflow", options={"url": "http://mr:8080"})
    stages = load_settings(registry, environ={}).stages
    archived_property = {"stage": {"metadataType": "MetadataStringValue", "string_value": "archived"}}
    assert stage_of({"state": "ARCHIVED"}, stages, deployed=True) == (Stage.ARCHIVED, "ARCHIVED")
    assert stage_of({"state": "LIVE", "customProperties": archived_property}, stages, deployed=False) == (
        Stage.DRAFT,
        "LIVE",
    )
    assert stage_of({"state": "LIVE", "customProperties": archived_property}, stages, deployed=True) == (
        Stage.PRODUCTION,
        "DEPLOYED",
    )
    unknown = {"stage": {"metadataType": "MetadataStringValue", "string_value": "canary"}}
    assert stage_of({"state": "LIVE", "customProperties": unknown}, stages, deployed=False)[0] is Stage.DRAFT
