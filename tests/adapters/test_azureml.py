"""The Azure ML adapter against the spec-checked fake (``tests/fakes/azureml``).

There is no Azure ML emulator. The fake serves the ARM model operations and
Entra ID's token endpoint, and checks every request and response against the
REST spec (``azureml_fake`` fails a test that broke it). The subjects seed the
registry as a team would, with **Microsoft's own clients**: azure-identity's
``ClientSecretCredential`` plus azure-ai-ml's ``MLClient`` for a workspace, and
azure-ai-ml's generated ARM client for an Azure ML registry (``MLClient`` writes
to a registry only through Azure's discovery service and blob uploads). Where
azure-ai-ml is not installed (it is not in the test extra: see pyproject), the
same ARM requests go through azure-core's pipeline with azure-identity's token
policy (``tests/servers/azureml.py``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from adapters.azureml import AzureMLRegistry, load_settings
from adapters.base import RetryPolicy, iterate_pages
from adapters.protocol import PromotionContext
from gateway.auth.principal import Principal
from gateway.config import RegistrySettings
from gateway.domain import Relation, Stage
from gateway.errors import RegistryError, RegistryForbidden, RegistryUnavailable
from gateway.runtime import Gateway
from gateway.server import create_app
from tests.adapters.contract import (
    MODEL_DESCRIPTION,
    MODEL_TAGS,
    VERSION_DESCRIPTION,
    VERSION_TAGS,
    AdapterContract,
    SeedModel,
    unique_name,
)
from tests.servers.azureml import RESOURCE_GROUP, SUBSCRIPTION_ID, WORKSPACE, AzureMLServer
from tests.support import data_of, gql, make_settings

REGISTRY = "azure-risk"
FAST_RETRY = RetryPolicy(attempts=4, deadline_seconds=5.0, initial_wait=0.01, max_wait=0.05)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def make_adapter(server: AzureMLServer, *, registry: bool = False, **options: Any) -> AzureMLRegistry:
    settings = RegistrySettings(
        id=REGISTRY,
        kind="azureml",
        team="risk",
        options=server.options(registry=registry, **options),
        key="registries[3]",
    )
    return AzureMLRegistry(REGISTRY, load_settings(settings, server.environ), team="risk", retry=FAST_RETRY)


# Small pages, so that the contract's listings cross pages. No LINEAGE: a model asset
# names its training job (``jobName``), not the data; the job's inputs are not read.
CONTRACT_PAGE_SIZE = 2


class WorkspaceSubject:
    """A workspace seeded with ``MLClient.models.create_or_update``. The SDK creates
    containers implicitly (no description or tags of their own)."""

    capabilities = {VERSION_DESCRIPTION, VERSION_TAGS}
    writable_stages = {Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED}
    page_size = CONTRACT_PAGE_SIZE  # set in the contract's fixture

    def __init__(self, adapter: AzureMLRegistry, server: AzureMLServer):
        self.adapter = adapter
        self.server = server

    async def seed(self, models: list[SeedModel]) -> None:
        for m in models:
            for i, v in enumerate(m.versions):
                await asyncio.to_thread(
                    self.server.create_workspace_version,
                    m.name,
                    str(i + 1),
                    path=v.artifact_uri,
                    description=v.description,
                    tags={**m.tags, **v.tags},
                )

    async def touch(self, model_name: str) -> None:
        await asyncio.to_thread(self.server.create_workspace_version, model_name, "99")


class RegistrySubject:
    """An Azure ML registry seeded through the generated ARM client, containers first."""

    capabilities = {MODEL_DESCRIPTION, MODEL_TAGS, VERSION_DESCRIPTION, VERSION_TAGS}
    writable_stages = {Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED}
    page_size = CONTRACT_PAGE_SIZE  # set in the contract's fixture

    def __init__(self, adapter: AzureMLRegistry, server: AzureMLServer):
        self.adapter = adapter
        self.server = server

    async def seed(self, models: list[SeedModel]) -> None:
        for m in models:
            for i, v in enumerate(m.versions):
                container = {"description": m.description, "tags": m.tags} if i == 0 else None
                await asyncio.to_thread(
                    self.server.create_registry_version,
                    m.name,
                    str(i + 1),
                    container=container,
                    model_uri=v.artifact_uri,
                    description=v.description,
                    tags=v.tags,
                )

    async def touch(self, model_name: str) -> None:
        await asyncio.to_thread(
            self.server.create_registry_version, model_name, "99", model_uri="s3://azureml-tests/touched"
        )


class TestAzureMLWorkspaceContract(AdapterContract):
    @pytest.fixture
    async def subject(self, azureml_fake: AzureMLServer) -> Any:
        adapter = make_adapter(azureml_fake, page_size=CONTRACT_PAGE_SIZE)
        yield WorkspaceSubject(adapter, azureml_fake)
        await adapter.aclose()


class TestAzureMLRegistryContract(AdapterContract):
    @pytest.fixture
    async def subject(self, azureml_fake: AzureMLServer) -> Any:
        # A registry's container listing takes no page size: the service picks it
        # (the fake's ``page_size``); version listings take ``$top`` (the option).
        azureml_fake.fake.page_size = CONTRACT_PAGE_SIZE
        adapter = make_adapter(azureml_fake, registry=True, page_size=CONTRACT_PAGE_SIZE)
        yield RegistrySubject(adapter, azureml_fake)
        await adapter.aclose()
        azureml_fake.fake.reset_switches()


@pytest.fixture
async def adapter(azureml_fake: AzureMLServer) -> Any:
    workspace = make_adapter(azureml_fake)
    yield workspace
    await workspace.aclose()


def arm_calls(server: AzureMLServer, since: int, method: str | None = None) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in server.fake.requests[since:] if method is None or m == method]


# --- reads -------------------------------------------------------------------


async def test_version_carries_every_azure_ml_field(
    adapter: AzureMLRegistry, azureml_fake: AzureMLServer
) -> None:
    name = unique_name("fields")
    await asyncio.to_thread(
        azureml_fake.create_workspace_version,
        name,
        "1",
        path=f"https://riskstore.blob.core.windows.net/models/{name}/",
        type="mlflow_model",
        description="scores card payments",
        tags={"team": "risk"},
        properties={"mlflow.modelSourceUri": "runs:/abc/model"},
        flavors={"python_function": {"loader_module": "mlflow.sklearn"}},
        stage="Staging",
    )
    version = await adapter.get_version(name, "1")
    assert version is not None
    assert version.uri == f"mg://{REGISTRY}/{name}/1"
    assert version.artifact_uri == f"https://riskstore.blob.core.windows.net/models/{name}/"
    assert version.stage is Stage.STAGING and version.native_stage == "Staging"
    assert version.description == "scores card payments" and version.tags == {"team": "risk"}
    assert version.native["modelType"] == "mlflow_model"
    assert version.native["flavors"] == {"python_function": {"data": {"loader_module": "mlflow.sklearn"}}}
    assert version.native["properties"]["mlflow.modelSourceUri"] == "runs:/abc/model"
    assert version.native["isArchived"] is False
    assert version.native["id"].endswith(f"/workspaces/{WORKSPACE}/models/{name}/versions/1")
    assert version.created_at is not None and version.updated_at is not None
    assert version.created_at <= version.updated_at and version.created_by == "modelgate-tests"
    model = await adapter.get_model(name)
    assert model is not None and model.native["latestVersion"] == "1"
    assert await adapter.get_version(name, "7") is None
    assert await adapter.get_version("../../other", "1") is None


async def test_job_name_is_a_lineage_edge_to_the_training_job(
    adapter: AzureMLRegistry, azureml_fake: AzureMLServer
) -> None:
    name = unique_name("lineage")
    stored = await asyncio.to_thread(
        azureml_fake.create_workspace_version, name, "1", job_name="keen_fox_2x9"
    )
    assert stored["jobName"] == "keen_fox_2x9"
    (version,) = [v async for v in iterate_pages(lambda t: adapter.list_versions(name, t))]
    edges = await adapter.lineage(version)
    job = (
        f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{RESOURCE_GROUP}"
        f"/providers/Microsoft.MachineLearningServices/workspaces/{WORKSPACE}/jobs/keen_fox_2x9"
    )
    assert [(e.relation, e.target.uri, e.target.label) for e in edges] == [
        (Relation.PRODUCED_BY, job, "keen_fox_2x9")
    ]


async def test_paging_follows_next_links(azureml_fake: AzureMLServer) -> None:
    adapter = make_adapter(azureml_fake, page_size=2)
    try:
        name = unique_name("paged")
        for v in range(1, 6):
            await asyncio.to_thread(azureml_fake.create_workspace_version, name, str(v))
        first = await adapter.list_versions(name)
        assert len(first.items) == 2 and first.next_token
        versions = [v async for v in iterate_pages(lambda t: adapter.list_versions(name, t))]
        assert [v.version for v in versions] == ["1", "2", "3", "4", "5"]
        models = [m.name async for m in iterate_pages(adapter.list_models)]
        assert name in models and len(models) == len(set(models))
        skips = [
            q for m, p, q in azureml_fake.fake.requests if p.endswith(f"/{name}/versions") and "$skip" in q
        ]
        assert len(skips) >= 2
        assert all(q["listViewType"] == ["All"] and q["$top"] == ["2"] for q in skips)
    finally:
        await adapter.aclose()


async def test_an_archived_workspace_version_is_listed_as_archived(
    adapter: AzureMLRegistry, azureml_fake: AzureMLServer
) -> None:
    name = unique_name("archived")
    for v in ("1", "2"):
        await asyncio.to_thread(azureml_fake.create_workspace_version, name, v, stage="Production")
    await asyncio.to_thread(azureml_fake.archive_workspace_version, name, "1")
    versions = {v.version: v async for v in iterate_pages(lambda t: adapter.list_versions(name, t))}
    assert versions["1"].stage is Stage.ARCHIVED
    # azure-ai-ml's archive() round-trips the version through its entity, which drops ``stage``.
    stored = azureml_fake.fake.version(WORKSPACE, name, "1") or {}
    assert versions["1"].native_stage == (stored.get("stage") or "Archived")
    assert versions["2"].stage is Stage.PRODUCTION
    default = await asyncio.to_thread(azureml_fake.active_workspace_versions, name)
    assert default == ["2"]  # what Azure hides unless asked for All


async def test_registry_archived_versions_are_found_despite_the_backend(azureml_fake: AzureMLServer) -> None:
    """The registry ignores ``listViewType`` (azure-sdk-for-python#48675): the adapter
    finds archived versions by probing the gaps below ``latestVersion``."""
    adapter = make_adapter(azureml_fake, registry=True)
    try:
        name = unique_name("regarchive")
        for v in ("1", "2", "3"):
            await asyncio.to_thread(
                azureml_fake.create_registry_version, name, v, model_uri=f"s3://azureml-tests/{name}/{v}"
            )
        await asyncio.to_thread(azureml_fake.archive_registry_version, name, "2")
        mark = len(azureml_fake.fake.requests)
        versions = [v async for v in iterate_pages(lambda t: adapter.list_versions(name, t))]
        assert sorted(v.version for v in versions) == ["1", "2", "3"]
        assert {v.version: v.stage for v in versions}["2"] is Stage.ARCHIVED
        calls = arm_calls(azureml_fake, mark)
        assert calls[-1] == ("GET", f"{adapter.settings.scope_path}/models/{name}/versions/2")
        listing = [q for m, p, q in azureml_fake.fake.requests[mark:] if p.endswith("/versions")]
        assert listing[0]["listViewType"] == ["All"]  # asked for, and ignored
        azureml_fake.fake.registry_ignores_list_view = False  # a fixed backend: nothing to probe
        mark = len(azureml_fake.fake.requests)
        again = [v async for v in iterate_pages(lambda t: adapter.list_versions(name, t))]
        assert sorted(v.version for v in again) == ["1", "2", "3"]
        assert not [p for m, p, _ in azureml_fake.fake.requests[mark:] if p.endswith("/versions/2")]
    finally:
        await adapter.aclose()


# --- stages ------------------------------------------------------------------


async def test_promotion_puts_the_version_back_with_every_field(
    adapter: AzureMLRegistry, azureml_fake: AzureMLServer
) -> None:
    name = unique_name("promote")
    await asyncio.to_thread(
        azureml_fake.create_workspace_version,
        name,
        "1",
        description="candidate",
        tags={"owner": "risk"},
        properties={"auc": "0.91"},
        stage="Development",
    )
    before = azureml_fake.fake.version(WORKSPACE, name, "1")
    version = await adapter.get_version(name, "1")
    assert version is not None and version.stage is Stage.DRAFT and version.native_stage == "Development"
    mark = len(azureml_fake.fake.requests)
    promoted = await adapter.set_stage(version, Stage.PRODUCTION, PromotionContext("alice"))
    assert promoted.stage is Stage.PRODUCTION and promoted.native_stage == "Production"
    assert arm_calls(azureml_fake, mark, "PUT") == [
        ("PUT", f"{adapter.settings.scope_path}/models/{name}/versions/1")
    ]
    after = azureml_fake.fake.version(WORKSPACE, name, "1")
    assert before is not None and after is not None
    assert {k: v for k, v in after.items() if k != "stage"} == {
        k: v for k, v in before.items() if k != "stage"
    }
    seen = await asyncio.to_thread(azureml_fake.workspace_version, name, "1")  # Microsoft's client sees it
    assert seen == {"stage": "Production", "tags": {"owner": "risk"}, "description": "candidate"}

    archived = await adapter.set_stage(promoted, Stage.ARCHIVED, PromotionContext("alice"))
    assert archived.stage is Stage.ARCHIVED and archived.native_stage == "Production"
    assert (azureml_fake.fake.version(WORKSPACE, name, "1") or {})["isArchived"] is True
    restored = await adapter.set_stage(archived, Stage.STAGING, PromotionContext("alice"))
    assert restored.stage is Stage.STAGING
    assert (azureml_fake.fake.version(WORKSPACE, name, "1") or {})["isArchived"] is False
    draft = await adapter.set_stage(restored, Stage.DRAFT, PromotionContext("alice"))
    assert draft.stage is Stage.DRAFT and draft.native_stage == "Development"


async def test_stage_words_are_configurable(azureml_fake: AzureMLServer) -> None:
    adapter = make_adapter(azureml_fake, production_stages=["Prod", "Live"], staging_stages=["QA"])
    try:
        name = unique_name("words")
        await asyncio.to_thread(azureml_fake.create_workspace_version, name, "1", stage="live")
        await asyncio.to_thread(azureml_fake.create_workspace_version, name, "2", stage="Production")
        one, two = [await adapter.get_version(name, v) for v in ("1", "2")]
        assert one is not None and one.stage is Stage.PRODUCTION and one.native_stage == "live"
        assert two is not None and two.stage is Stage.DRAFT  # not a configured word here
        qa = await adapter.set_stage(two, Stage.STAGING, PromotionContext("bob"))
        assert (
            qa.native_stage == "QA"
            and (azureml_fake.fake.version(WORKSPACE, name, "2") or {})["stage"] == "QA"
        )
    finally:
        await adapter.aclose()


async def test_registry_write_through_runs_the_long_running_put(azureml_fake: AzureMLServer) -> None:
    adapter = make_adapter(azureml_fake, registry=True)
    try:
        name = unique_name("regstage")
        await asyncio.to_thread(
            azureml_fake.create_registry_version,
            name,
            "1",
            model_uri="s3://azureml-tests/r/1",
            tags={"a": "b"},
        )
        version = await adapter.get_version(name, "1")
        assert version is not None
        written = await adapter.set_stage(version, Stage.PRODUCTION, PromotionContext("carol"))
        assert written.stage is Stage.PRODUCTION
        seen = await asyncio.to_thread(azureml_fake.registry_version, name, "1")
        assert seen == {"stage": "Production", "tags": {"a": "b"}}
    finally:
        await adapter.aclose()


# --- errors ------------------------------------------------------------------


async def test_reads_retry_throttling_and_errors_map_to_the_taxonomy(
    adapter: AzureMLRegistry, azureml_fake: AzureMLServer
) -> None:
    azureml_fake.fake.fail_next = [(503, "ServiceUnavailable"), (429, "TooManyRequests")]
    assert isinstance((await adapter.list_models()).items, list)
    azureml_fake.fake.fail_next = [(503, "ServiceUnavailable")] * 10
    with pytest.raises(RegistryUnavailable) as unavailable:
        await adapter.list_models()
    assert unavailable.value.extensions["registryCode"] == "ServiceUnavailable"
    assert unavailable.value.extensions["retryAfterSeconds"] == 1.0
    azureml_fake.fake.fail_next = [(403, "AuthorizationFailed")]
    with pytest.raises(RegistryForbidden) as forbidden:
        await adapter.list_models()
    assert REGISTRY in forbidden.value.message and "AuthorizationFailed" in forbidden.value.message


async def test_writes_are_never_retried(adapter: AzureMLRegistry, azureml_fake: AzureMLServer) -> None:
    name = unique_name("noretry")
    await asyncio.to_thread(azureml_fake.create_workspace_version, name, "1")
    version = await adapter.get_version(name, "1")
    assert version is not None
    mark = len(azureml_fake.fake.requests)
    original_put = adapter._api.put_version

    async def failing_put(*args: Any, **kwargs: Any) -> Any:
        azureml_fake.fake.fail_next = [(503, "ServiceUnavailable")]
        return await original_put(*args, **kwargs)

    adapter._api.put_version = failing_put  # type: ignore[method-assign]
    with pytest.raises(RegistryUnavailable):
        await adapter.set_stage(version, Stage.PRODUCTION, PromotionContext("dave"))
    assert len(arm_calls(azureml_fake, mark, "PUT")) == 1


async def test_a_next_link_to_another_host_is_refused(azureml_fake: AzureMLServer) -> None:
    adapter = make_adapter(azureml_fake)
    try:
        from adapters.base import encode_token

        stolen = encode_token({"next": f"https://evil.example{adapter.settings.scope_path}/models?$skip=x"})
        with pytest.raises(RegistryError, match="refusing a nextLink"):
            await adapter.list_models(stolen)
    finally:
        await adapter.aclose()


# --- through the gateway ------------------------------------------------------

POLICIES = """
policies: []
promotions:
  - to: STAGING
    approvals: [TEAM_LEAD]
"""


async def test_gateway_federates_a_workspace_and_writes_an_approved_promotion(
    azureml_fake: AzureMLServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Config entry point, sync, search, a promotion approved and written through,
    seen by azure-ai-ml."""
    name = unique_name("gateway")
    await asyncio.to_thread(azureml_fake.create_workspace_version, name, "1", tags={"team": "risk"})
    monkeypatch.setenv("AZURE_TEST_SECRET", azureml_fake.client_secret)
    policy_file = tmp_path / "policies.yaml"
    policy_file.write_text(POLICIES)
    registry = {"id": REGISTRY, "kind": "azureml", "team": "risk", **azureml_fake.options()}
    settings = make_settings(
        f"sqlite:///{tmp_path}/mg.db",
        tmp_path,
        registries=[registry],
        governance={"policies": str(policy_file)},
    )
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
                "query($q: String!) { models(query: $q) { edges { node { uri registry { id } } } } }",
                {"q": name},
            )
            uris = [e["node"]["uri"] for e in data_of(body)["models"]["edges"]]
            assert uris == [f"mg://{REGISTRY}/{name}"]
        alice = Principal("alice", frozenset({"TEAM_LEAD"}), frozenset({"risk"}))
        bob = Principal("bob", frozenset({"TEAM_LEAD"}), frozenset({"risk"}))
        request = await gateway.governance.promotions.request(
            alice, f"mg://{REGISTRY}/{name}/1", Stage.STAGING
        )
        assert request.status == "PENDING"
        applied = await gateway.governance.promotions.approve(bob, request.id)
        assert applied.status == "APPLIED"
        seen = await asyncio.to_thread(azureml_fake.workspace_version, name, "1")
        assert seen["stage"] == "Staging"
    finally:
        await gateway.aclose()


async def test_revoked_credentials_make_the_registry_unhealthy_not_the_gateway(
    azureml_fake: AzureMLServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_TEST_SECRET", azureml_fake.client_secret)
    registry = {"id": REGISTRY, "kind": "azureml", "team": "risk", **azureml_fake.options()}
    settings = make_settings(f"sqlite:///{tmp_path}/mg.db", tmp_path, registries=[registry])
    gateway = await Gateway.open(settings)
    try:
        assert (await gateway.sync.sync_registry(REGISTRY, full=True)).error is None
        azureml_fake.fake.disable_client(azureml_fake.options()["client_id"])
        result = await gateway.sync.sync_registry(REGISTRY, full=True)
        assert result.error and "cannot authenticate" in result.error
        app = create_app(gateway.settings, gateway=gateway, background_sync=False)
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client,
        ):
            body = await gql(client, "{ registries { id healthy lastError } }")
            registries = {r["id"]: r for r in data_of(body)["registries"]}
            assert registries[REGISTRY]["healthy"] is False
            assert "cannot authenticate" in registries[REGISTRY]["lastError"]
            assert "AADSTS7000222" in registries[REGISTRY]["lastError"]
    finally:
        await gateway.aclose()
