"""The Vertex AI adapter against the schema-checked fake (``tests/fakes/vertex.py``).

There is no Vertex emulator. The fake serves the REST v1 methods the adapter
uses plus ``models:upload``, and Google's token endpoint; every response it
sends is checked against the discovery document (``vertex_fake`` fails a test
whose responses do not match). The subject seeds the registry as a team would,
with **Google's own client**: google-api-python-client built from the discovery
document plus google-auth's service-account credentials, calling
``models:upload`` and polling the long-running operation, and recording training
data in ML Metadata (``artifacts.create``, ``executions.create``,
``executions.addExecutionEvents``). Deployments have no served API in the fake
and are set through its test-only ``deploy`` (``add_training_run`` is a shortcut
for lineage shapes the SDK path does not need, such as parent models).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from adapters.base import RetryPolicy, iterate_pages
from adapters.protocol import PromotionContext
from adapters.vertex import VertexRegistry, factory, load_settings
from gateway.config import RegistrySettings
from gateway.domain import ModelVersion, Relation, Stage
from gateway.errors import RegistryForbidden, RegistryRejected, RegistryUnavailable
from gateway.runtime import Gateway
from gateway.server import create_app
from tests.adapters.contract import (
    LINEAGE,
    MODEL_DESCRIPTION,
    MODEL_TAGS,
    VERSION_DESCRIPTION,
    VERSION_TAGS,
    AdapterContract,
    SeedModel,
    unique_name,
)
from tests.servers.vertex import PROJECT_NUMBER, VertexServer
from tests.support import data_of, gql, make_settings

REGISTRY = "vision-vertex"
FAST_RETRY = RetryPolicy(attempts=4, deadline_seconds=5.0, initial_wait=0.01, max_wait=0.05)


def make_adapter(
    server: VertexServer,
    registry_id: str = REGISTRY,
    clock: Callable[[], float] = time.monotonic,
    **options: Any,
) -> VertexRegistry:
    registry = RegistrySettings(
        id=registry_id, kind="vertex", team="vision", options=server.options(**options), key="registries[2]"
    )
    settings = load_settings(registry, environ={})
    return VertexRegistry(registry_id, settings, team="vision", retry=FAST_RETRY, clock=clock)


@pytest.fixture
async def adapter(vertex_fake: VertexServer) -> AsyncIterator[VertexRegistry]:
    vertex = make_adapter(vertex_fake)
    yield vertex
    await vertex.aclose()


async def upload(server: VertexServer, model_id: str, n: int = 1, **fields: Any) -> list[str]:
    """``n`` versions of a new model through Google's client; their version ids."""
    ids = []
    for i in range(n):
        ids.append(
            await asyncio.to_thread(
                server.upload,
                model_id,
                artifact_uri=f"gs://vision-models/{model_id}/{i + 1}",
                new_version=i > 0,
                **fields,
            )
        )
    return ids


def writes(server: VertexServer, since: int) -> list[tuple[str, str]]:
    """The API writes sent since request number ``since`` (token requests aside)."""
    return [
        (r.method, r.path)
        for r in server.fake.requests[since:]
        if r.method in ("POST", "PATCH") and r.path.startswith("/v1/")
    ]


CONTRACT_PAGE_SIZE = 2


class VertexSubject:
    capabilities = {MODEL_DESCRIPTION, MODEL_TAGS, VERSION_DESCRIPTION, VERSION_TAGS, LINEAGE}
    writable_stages = {Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED}
    page_size = CONTRACT_PAGE_SIZE

    factory = factory

    def __init__(self, adapter: VertexRegistry, server: VertexServer):
        self.adapter = adapter
        self.server = server
        self.settings = RegistrySettings(id=adapter.registry_id, kind="vertex", options=server.options())

    def reference_to(self, version: ModelVersion) -> str:
        """The version's resource name, as Vertex's SDK and pipelines spell it."""
        where = f"projects/{self.server.project}/locations/{self.server.location}"
        return f"{where}/models/{version.model_name}@{version.version}"

    async def seed(self, models: list[SeedModel]) -> None:
        for m in models:
            for i, v in enumerate(m.versions):
                version_id = await asyncio.to_thread(
                    self.server.upload,
                    m.name,
                    display_name=f"{m.name} (contract suite)",
                    description=m.description,
                    version_description=v.description,
                    artifact_uri=v.artifact_uri,
                    labels={**m.tags, **v.tags},  # Vertex labels live on versions
                    new_version=i > 0,
                )
                if v.datasets:  # training data goes into ML Metadata, as the Vertex SDK puts it
                    await asyncio.to_thread(
                        self.server.record_training,
                        m.name,
                        version_id,
                        run=f"train-{m.name}-{version_id}",
                        datasets=v.datasets,
                    )

    async def touch(self, model_name: str) -> None:
        await asyncio.to_thread(
            self.server.upload, model_name, artifact_uri="gs://vision-models/touched", new_version=True
        )

    async def serve(self, version: ModelVersion) -> str:
        """``endpoints.deployModel`` of the version to a new endpoint: its resource name."""
        endpoint_id = str(secrets.randbelow(10**12) + 10**12)  # Vertex endpoint IDs are numbers
        deploy = self.server.fake.deploy
        return await asyncio.to_thread(deploy, version.model_name, version.version, endpoint_id)


class TestVertexContract(AdapterContract):
    @pytest.fixture
    async def subject(self, vertex_fake: VertexServer) -> AsyncIterator[VertexSubject]:
        # Small pages (the page_size option), so that the contract's listings cross pages.
        # Cloud Monitoring is served by the same fake (error rates).
        paged = make_adapter(
            vertex_fake, page_size=CONTRACT_PAGE_SIZE, monitoring_endpoint=vertex_fake.base_url
        )
        yield VertexSubject(paged, vertex_fake)
        await paged.aclose()


# --- reads -------------------------------------------------------------------


async def test_version_carries_every_vertex_field(adapter: VertexRegistry, vertex_fake: VertexServer) -> None:
    name = unique_name("fields")
    await upload(
        vertex_fake, name, 2, display_name="Fraud scorer", description="scores", labels={"team": "risk"}
    )
    endpoint = vertex_fake.fake.deploy(name, "1", "4242")

    model = await adapter.get_model(name)
    assert model is not None
    assert model.uri == f"mg://{REGISTRY}/{name}"  # the model ID, not the display name
    assert model.tags["vertex.displayName"] == "Fraud scorer"
    assert model.tags["team"] == "risk" and model.description == "scores"

    first = await adapter.get_version(name, "1")
    assert first is not None
    assert first.aliases == ("default",) and first.stage is Stage.DRAFT  # default is not a stage
    assert (
        first.deployments[0].endpoint
        == endpoint
        == f"projects/{PROJECT_NUMBER}/locations/us-central1/endpoints/4242"
    )
    assert first.environment and first.environment.startswith("us-docker.pkg.dev/")
    assert first.artifact_uri == f"gs://vision-models/{name}/1"
    assert (
        first.created_at is not None and first.updated_at is not None and first.created_at <= first.updated_at
    )
    for key in ("name", "etag", "metadataArtifact", "modelSourceInfo", "labels", "deployedModels"):
        assert key in first.native
    assert first.native["modelSourceInfo"] == {"sourceType": "CUSTOM"}
    assert await adapter.get_version(name, "default") is None  # aliases are not version ids
    assert await adapter.get_version("../../other", "1") is None


async def test_paging_follows_vertex_tokens(vertex_fake: VertexServer) -> None:
    adapter = make_adapter(vertex_fake, page_size=2)
    try:
        name = unique_name("paged")
        ids = await upload(vertex_fake, name, 5)
        first = await adapter.list_versions(name)
        assert len(first.items) == 2 and first.next_token
        versions = [v async for v in iterate_pages(lambda t: adapter.list_versions(name, t))]
        assert [v.version for v in versions] == ids == ["1", "2", "3", "4", "5"]
        models = [m.name async for m in iterate_pages(adapter.list_models)]
        assert name in models and len(models) == len(set(models))
        tokens = [
            r.query.get("pageToken") for r in vertex_fake.fake.requests if r.path.endswith(":listVersions")
        ]
        assert sum(1 for t in tokens if t) >= 2
    finally:
        await adapter.aclose()


async def test_model_filter_scopes_the_listing(vertex_fake: VertexServer) -> None:
    team = unique_name("team")
    mine, other = unique_name("mine"), unique_name("other")
    await upload(vertex_fake, mine, labels={"owner": team})
    await upload(vertex_fake, other, labels={"owner": "someone-else"})
    adapter = make_adapter(vertex_fake, model_filter=f'labels.owner="{team}"')
    try:
        assert [m.name async for m in iterate_pages(adapter.list_models)] == [mine]
    finally:
        await adapter.aclose()


# --- stages ------------------------------------------------------------------


async def test_promotion_moves_the_alias_in_one_write(
    adapter: VertexRegistry, vertex_fake: VertexServer
) -> None:
    """Vertex moves an alias off the version that held it, so a promotion is one
    ``mergeVersionAliases`` call and the previous holder falls back to DRAFT."""
    name = unique_name("promote")
    await upload(vertex_fake, name, 2)
    v1, v2 = [await adapter.get_version(name, str(i)) for i in (1, 2)]
    assert v1 and v2
    await adapter.set_stage(v1, Stage.PRODUCTION, PromotionContext("alice"))
    await adapter.set_stage(v2, Stage.STAGING, PromotionContext("alice"))
    mark = len(vertex_fake.fake.requests)
    promoted = await adapter.set_stage(v2, Stage.PRODUCTION, PromotionContext("alice"))
    assert promoted.stage is Stage.PRODUCTION and promoted.native_stage == "production"
    assert "staging" not in promoted.aliases  # one stage alias per version
    assert writes(vertex_fake, mark) == [
        (
            "POST",
            f"/v1/projects/{vertex_fake.project}/locations/us-central1/models/{name}@2:mergeVersionAliases",
        )
    ]
    assert vertex_fake.fake.requests[mark + 1].body == {"versionAliases": ["production", "-staging"]}
    demoted = await adapter.get_version(name, "1")
    assert demoted is not None and demoted.stage is Stage.DRAFT and demoted.aliases == ("default",)
    again = len(vertex_fake.fake.requests)
    await adapter.set_stage(promoted, Stage.PRODUCTION, PromotionContext("alice"))
    assert writes(vertex_fake, again) == []  # already there: nothing to write


async def test_promotion_moves_every_production_alias_the_model_uses(vertex_fake: VertexServer) -> None:
    """With two production aliases on two versions (two PRODUCTION versions), a
    promotion moves both, leaving one production version."""
    name = unique_name("twoprod")
    await upload(vertex_fake, name, 3)
    adapter = make_adapter(vertex_fake, production_aliases=["production", "champion"])
    try:
        v1, v2, v3 = [await adapter.get_version(name, str(i)) for i in (1, 2, 3)]
        assert v1 and v2 and v3
        await adapter.set_stage(v1, Stage.PRODUCTION, PromotionContext("alice"))  # "production"
        models = vertex_fake.google.projects().locations().models()
        resource = f"projects/{vertex_fake.project}/locations/{vertex_fake.location}/models/{name}@3"
        await asyncio.to_thread(
            models.mergeVersionAliases(name=resource, body={"versionAliases": ["champion"]}).execute
        )
        promoted = await adapter.set_stage(v2, Stage.PRODUCTION, PromotionContext("alice"))
        assert set(promoted.aliases) >= {"production", "champion"}
        stages = {v.version: v.stage for v in (await adapter.list_versions(name)).items}
        assert stages == {"1": Stage.DRAFT, "2": Stage.PRODUCTION, "3": Stage.DRAFT}
    finally:
        await adapter.aclose()


async def test_metadata_follows_the_documented_conventions(
    adapter: VertexRegistry, vertex_fake: VertexServer
) -> None:
    name = unique_name("conventions")
    await upload(
        vertex_fake,
        name,
        1,
        metadata={
            "modelgate.semver": "3.0.1",
            "model_card.intendedUse": "Detecting damaged parcels on the sorting line",
            "model_card.limitations": "Daylight images only",
            "modelgate.code.repository": "https://git.example.com/vision/parcels",
            "modelgate.code.commit": "c0ffee1",
        },
    )
    version = await adapter.get_version(name, "1")
    assert version is not None
    assert version.semver == "3.0.1"
    assert version.model_card.intended_use == "Detecting damaged parcels on the sorting line"
    assert version.model_card.limitations == "Daylight images only"
    assert version.training_code is not None
    assert version.training_code.node_uri == "git+https://git.example.com/vision/parcels@c0ffee1"
    assert version.environment  # the serving container, as before


async def test_archive_uses_the_label_and_drops_stage_aliases(
    adapter: VertexRegistry, vertex_fake: VertexServer
) -> None:
    name = unique_name("archive")
    await upload(vertex_fake, name, 1, labels={"team": "risk"})
    version = await adapter.get_version(name, "1")
    assert version is not None
    await adapter.set_stage(version, Stage.STAGING, PromotionContext("bob"))
    archived = await adapter.set_stage(version, Stage.ARCHIVED, PromotionContext("bob"))
    assert archived.stage is Stage.ARCHIVED and archived.native_stage == "stage=archived"
    assert archived.tags == {"team": "risk", "stage": "archived"}  # other labels kept
    assert archived.aliases == ("default",)  # stage aliases gone, default untouched
    patch = next(r for r in reversed(vertex_fake.fake.requests) if r.method == "PATCH")
    assert patch.query == {"updateMask": "labels"} and patch.body["etag"]
    restored = await adapter.set_stage(archived, Stage.PRODUCTION, PromotionContext("bob"))
    assert restored.stage is Stage.PRODUCTION and "stage" not in restored.tags
    draft = await adapter.set_stage(restored, Stage.DRAFT, PromotionContext("bob"))
    assert draft.stage is Stage.DRAFT and draft.aliases == ("default",)


async def test_stage_mapping_is_configurable(vertex_fake: VertexServer) -> None:
    name = unique_name("mapping")
    await upload(vertex_fake, name, 3)
    models = vertex_fake.google.projects().locations().models()

    def resource(version: str) -> str:
        return f"projects/{vertex_fake.project}/locations/{vertex_fake.location}/models/{name}@{version}"

    def alias(version: str, *aliases: str) -> None:
        models.mergeVersionAliases(name=resource(version), body={"versionAliases": list(aliases)}).execute()

    def label(version: str, labels: dict[str, str]) -> None:
        models.patch(name=resource(version), updateMask="labels", body={"labels": labels}).execute()

    await asyncio.to_thread(alias, "1", "champion")
    await asyncio.to_thread(alias, "2", "challenger")
    adapter = make_adapter(
        vertex_fake,
        production_aliases=["champion", "production"],
        staging_aliases=["challenger"],
        archived_label="lifecycle=retired",
    )
    try:
        stages = {v.version: (v.stage, v.native_stage) for v in (await adapter.list_versions(name)).items}
        assert stages == {
            "1": (Stage.PRODUCTION, "champion"),
            "2": (Stage.STAGING, "challenger"),
            "3": (Stage.DRAFT, None),
        }
        v3 = await adapter.get_version(name, "3")
        assert v3 is not None
        archived = await adapter.set_stage(v3, Stage.ARCHIVED, PromotionContext("carol"))
        assert archived.tags.get("lifecycle") == "retired" and archived.native_stage == "lifecycle=retired"
        promoted = await adapter.set_stage(archived, Stage.PRODUCTION, PromotionContext("carol"))
        assert "champion" in promoted.aliases  # the first configured alias is written, and moved
        assert (await adapter.get_version(name, "1")).stage is Stage.DRAFT  # type: ignore[union-attr]
        # Someone labels the serving version retired in the console: serving resolves
        # the alias, so it is still PRODUCTION.
        await asyncio.to_thread(label, "3", {"lifecycle": "retired"})
        assert (await adapter.get_version(name, "3")).stage is Stage.PRODUCTION  # type: ignore[union-attr]
    finally:
        await adapter.aclose()


# --- lineage -----------------------------------------------------------------


async def test_lineage_from_ml_metadata(adapter: VertexRegistry, vertex_fake: VertexServer) -> None:
    base, tuned = unique_name("base"), unique_name("tuned")
    await upload(vertex_fake, base)
    await upload(vertex_fake, tuned)
    elsewhere = "projects/999/locations/europe-west4/models/foreign@7"
    run = vertex_fake.fake.add_training_run(
        tuned,
        "1",
        run="fine-tune-2026-11-26",
        datasets=[("gs://vision-data/train.jsonl", "train"), ("bq://acme.vision.labels", "labels")],
        parents=[f"projects/{PROJECT_NUMBER}/locations/us-central1/models/{base}@1", elsewhere],
    )
    vertex_fake.fake.deploy(tuned, "1", "77")
    version = await adapter.get_version(tuned, "1")
    assert version is not None
    edges = await adapter.lineage(version)
    found = {(e.relation, e.target.uri) for e in edges}
    assert found == {
        (Relation.PRODUCED_BY, run),
        (Relation.TRAINED_ON, "gs://vision-data/train.jsonl"),
        (Relation.TRAINED_ON, "bq://acme.vision.labels"),
        (Relation.DERIVED_FROM, f"mg://{REGISTRY}/{base}/1"),
        (Relation.DERIVED_FROM, elsewhere),
        (Relation.DEPLOYED_TO, f"projects/{PROJECT_NUMBER}/locations/us-central1/endpoints/77"),
    }
    assert all(e.source.uri == version.uri for e in edges)
    labels = {e.target.uri: e.target.label for e in edges}
    assert labels["gs://vision-data/train.jsonl"] == "train" and labels[run] == "fine-tune-2026-11-26"
    lineage_call = next(
        r for r in reversed(vertex_fake.fake.requests) if "queryArtifactLineageSubgraph" in r.path
    )
    assert lineage_call.query == {"maxHops": "2"}


# --- incremental sync ---------------------------------------------------------


async def test_changes_since_by_default_asks_for_a_full_listing(
    adapter: VertexRegistry, vertex_fake: VertexServer
) -> None:
    mark = len(vertex_fake.fake.requests)
    change = await adapter.changes_since("2026-01-01T00:00:00+00:00")
    assert change.changed is None
    assert len(vertex_fake.fake.requests) == mark  # no request: nothing to learn


async def test_incremental_sync_lists_by_update_time(vertex_fake: VertexServer) -> None:
    adapter = make_adapter(vertex_fake, incremental_sync=True)
    try:
        name, quiet = unique_name("busy"), unique_name("quiet")
        await upload(vertex_fake, quiet)
        await upload(vertex_fake, name)
        start = await adapter.changes_since(None)
        assert start.changed is None and start.cursor
        await asyncio.to_thread(vertex_fake.upload, name, artifact_uri="gs://b/2", new_version=True)
        later = await adapter.changes_since(start.cursor)
        assert later.changed == [name]  # not the quiet model, which is older than the cursor
        orders = {r.query.get("orderBy") for r in vertex_fake.fake.requests if r.path.endswith("/models")}
        assert "update_time desc" in orders
        assert (await adapter.changes_since(later.cursor)).changed == [name]  # inclusive of the cursor
    finally:
        await adapter.aclose()


# --- errors ------------------------------------------------------------------


async def test_reads_retry_throttling_and_unavailability(
    adapter: VertexRegistry, vertex_fake: VertexServer
) -> None:
    vertex_fake.fake.fail_next(503, 429)
    mark = len(vertex_fake.fake.requests)
    page = await adapter.list_models()
    assert page.items
    api_calls = [r.status for r in vertex_fake.fake.requests[mark:] if r.path.startswith("/v1/")]
    assert api_calls == [503, 429, 200]
    vertex_fake.fake.fail_next(*[503] * 10)
    with pytest.raises(RegistryUnavailable) as raised:
        await adapter.list_models()
    assert raised.value.code == "REGISTRY_UNAVAILABLE" and raised.value.registry_id == REGISTRY
    assert raised.value.extensions["registry_status"] == "UNAVAILABLE"


async def test_writes_are_never_retried(adapter: VertexRegistry, vertex_fake: VertexServer) -> None:
    name = unique_name("noretry")
    await upload(vertex_fake, name, 2)
    version = await adapter.get_version(name, "2")
    assert version is not None
    vertex_fake.fake.fail_next(503, method="POST")
    mark = len(vertex_fake.fake.requests)
    with pytest.raises(RegistryUnavailable):
        await adapter.set_stage(version, Stage.PRODUCTION, PromotionContext("dave"))
    assert len(writes(vertex_fake, mark)) == 1
    assert (
        await adapter.set_stage(version, Stage.PRODUCTION, PromotionContext("dave"))
    ).stage is Stage.PRODUCTION


async def test_google_errors_become_coded_registry_errors(vertex_fake: VertexServer) -> None:
    other_project = make_adapter(vertex_fake, project="someone-elses")
    bad_filter = make_adapter(vertex_fake, model_filter="labels.team ~ 'x'")
    try:
        with pytest.raises(RegistryForbidden) as forbidden:
            await other_project.list_models()
        assert forbidden.value.code == "REGISTRY_FORBIDDEN"
        assert "PERMISSION_DENIED" in forbidden.value.message and REGISTRY in forbidden.value.message
        health = await other_project.health()
        assert not health.ok and "PERMISSION_DENIED" in (health.detail or "")
        with pytest.raises(RegistryRejected) as rejected:
            await bad_filter.list_models()
        assert (
            rejected.value.status == 400
            and rejected.value.extensions["registry_status"] == "INVALID_ARGUMENT"
        )
    finally:
        await other_project.aclose()
        await bad_filter.aclose()


# --- through the gateway ------------------------------------------------------


async def test_gateway_syncs_and_serves_a_vertex_registry(vertex_fake: VertexServer, tmp_path: Path) -> None:
    """The adapter behind the real gateway: config entry point, sync engine, GraphQL."""
    name = unique_name("gateway")
    await upload(vertex_fake, name, 2, display_name="Gateway model", labels={"team": "vision"})
    promoted = make_adapter(vertex_fake)
    version = await promoted.get_version(name, "2")
    assert version is not None
    await promoted.set_stage(version, Stage.PRODUCTION, PromotionContext("e2e"))
    await promoted.aclose()
    registry = {"id": REGISTRY, "kind": "vertex", "team": "vision", **vertex_fake.options()}
    settings = make_settings(f"sqlite:///{tmp_path}/mg.db", tmp_path, registries=[registry])
    gateway = await Gateway.open(settings)
    try:
        result = await gateway.sync.sync_registry(REGISTRY, full=True)
        assert result.error is None and result.models >= 1
        app = create_app(gateway.settings, gateway=gateway, background_sync=False)
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client,
        ):
            body = await gql(
                client,
                "query($uri: String!) { modelVersion(uri: $uri) { version stage nativeStage aliases } }",
                {"uri": f"mg://{REGISTRY}/{name}/2"},
            )
        served = data_of(body)["modelVersion"]
        assert served == {
            "version": "2",
            "stage": "PRODUCTION",
            "nativeStage": "production",
            "aliases": ["production"],
        }
    finally:
        await gateway.aclose()
