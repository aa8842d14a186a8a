"""The W&B Registry adapter against the schema-checked fake (``tests/fakes/wandb``).

W&B has no public server or schema. The fake answers the GraphQL documents the
real ``wandb`` SDK sends, validated against an SDL written from the SDK's own
documents; the real client (``wandb.Api``, through its wandb-core service) reads
and writes against it here, and the adapter reads what the SDK wrote.

Seeding: logging an artifact through ``wandb.init`` needs file uploads to object
storage and the run stream, which the fake does not serve; versions are planted
in the fake's store as ``run.log_artifact`` + ``link_artifact`` leave them
(``FakeStore.log_artifact`` / ``link``). Every alias and tag change the tests make
"as a data scientist" goes through the SDK (``artifact.aliases`` /
``artifact.tags`` + ``save()``: ``AddAliases``, ``DeleteAliases``, ``UpdateArtifact``).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from adapters.base import RetryPolicy, iterate_pages
from adapters.protocol import PromotionContext, WebhookRejected
from adapters.wandb import WandbRegistry, factory, load_settings
from gateway.auth.principal import Principal
from gateway.config import ConfigError, RegistrySettings
from gateway.domain import Relation, Stage
from gateway.errors import RegistryAuthError, RegistryForbidden, RegistryUnavailable
from gateway.runtime import Gateway
from gateway.server import create_app
from tests.adapters.contract import (
    HYPERPARAMETERS,
    LINEAGE,
    METRICS,
    MODEL_DESCRIPTION,
    VERSION_DESCRIPTION,
    AdapterContract,
    SeedModel,
    unique_name,
)
from tests.fakes.wandb.store import MembershipData
from tests.servers.wandb import ORG_ENTITY, WandbServer
from tests.support import data_of, gql, make_settings, request_and_approve, served_gateway

pytest.importorskip("wandb", reason="the wandb SDK drives the fake (pip install 'modelgate[wandb]')")

REGISTRY = "wb"
FAST_RETRY = RetryPolicy(attempts=4, deadline_seconds=5.0, initial_wait=0.01, max_wait=0.05)
PROJECT = "training"
CONTRACT_HOOK_TOKEN = secrets.token_urlsafe(16)


def make_adapter(
    server: WandbServer, *, environ: dict[str, str] | None = None, **options: Any
) -> WandbRegistry:
    registry = RegistrySettings(
        id=REGISTRY, kind="wandb", team="ml", options=server.options(**options), key="registries[2]"
    )
    settings = load_settings(registry, environ=server.environ if environ is None else environ)
    return WandbRegistry(REGISTRY, settings, team="ml", retry=FAST_RETRY)


@pytest.fixture
async def adapter(wandb_fake: WandbServer) -> AsyncIterator[WandbRegistry]:
    wb = make_adapter(wandb_fake, registry="model")
    yield wb
    await wb.aclose()


def log_and_link(
    server: WandbServer,
    collection: str,
    *,
    registry: str = "model",
    aliases: list[str] | None = None,
    uri: str | None = None,
    config: dict[str, Any] | None = None,
    summary: dict[str, Any] | None = None,
    datasets: list[str] | None = None,
    description: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> MembershipData:
    """What ``wandb.init`` + ``use_artifact`` (datasets) + ``log_artifact`` +
    ``link_artifact`` leave on the server."""
    store = server.store
    run = store.add_run(PROJECT, unique_name("run"), config or {}, summary or {})
    for i, dataset in enumerate(datasets or ()):
        used = store.log_artifact(
            PROJECT,
            f"{collection}-data{i}",
            "dataset",
            run=None,
            digest=secrets.token_hex(16),
            size=10,
            references=[dataset],
        )
        run.used.append(used)
    artifact = store.log_artifact(
        PROJECT,
        f"{collection}-src",
        "model",
        run=run,
        digest=secrets.token_hex(16),
        size=1234,
        metadata=metadata,
        description=description,
        references=[uri] if uri else None,
    )
    return store.link(artifact, registry, collection, aliases)


def sdk_version(server: WandbServer, collection: str, index: int, *, key: str | None = None) -> Any:
    """The version as ``wandb.Api`` finds it in the organisation's registries."""
    api = server.client(key) if key else server.api
    found = (
        api.registries(organization="acme", filter={"name": "model"})
        .collections(filter={"name": collection})
        .versions()
    )
    return next(v for v in found if v.version == f"v{index}")


class WandbSubject:
    capabilities = {MODEL_DESCRIPTION, VERSION_DESCRIPTION, METRICS, HYPERPARAMETERS, LINEAGE}
    writable_stages = {Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED}
    page_size = 4

    def __init__(self, adapter: WandbRegistry, server: WandbServer):
        self.adapter = adapter
        self.server = server

    def webhook_delivery(self, model_name: str) -> tuple[dict[str, str], bytes]:
        """An automation's delivery about the collection, with the configured token."""
        body = {
            "event_type": "ADD_ARTIFACT_ALIAS",
            "artifact_collection_name": model_name,
            "project_name": "wandb-registry-model",
        }
        return {"Authorization": f"Bearer {CONTRACT_HOOK_TOKEN}"}, json.dumps(body).encode()

    async def seed(self, models: list[SeedModel]) -> None:
        for m in models:
            for v in m.versions:
                log_and_link(
                    self.server,
                    m.name,
                    uri=v.artifact_uri,
                    config=dict(v.params),
                    summary=dict(v.metrics),
                    datasets=v.datasets,
                    description=v.description,
                    metadata=dict(v.tags),
                )
            collection = self.server.store.collection(ORG_ENTITY, "wandb-registry-model", m.name)
            assert collection is not None
            collection.description = m.description

    async def touch(self, model_name: str) -> None:
        log_and_link(self.server, model_name)


class TestWandbContract(AdapterContract):
    @pytest.fixture
    async def subject(self, wandb_fake: WandbServer) -> AsyncIterator[WandbSubject]:
        wb = make_adapter(
            wandb_fake,
            registry="model",
            page_size=WandbSubject.page_size,
            webhook_token_env="WB_HOOK",
            environ={**wandb_fake.environ, "WB_HOOK": CONTRACT_HOOK_TOKEN},
        )
        yield WandbSubject(wb, wandb_fake)
        await wb.aclose()


# --- the SDK and the adapter on one server ------------------------------------------


async def test_the_sdk_reads_the_fake_and_the_adapter_reads_what_the_sdk_wrote(
    adapter: WandbRegistry, wandb_fake: WandbServer
) -> None:
    name = unique_name("sdk")
    log_and_link(
        wandb_fake,
        name,
        config={"lr": 0.01, "layers": [64, 32]},
        summary={"auc": 0.91, "_step": 10, "note": "text"},
        datasets=["s3://wb-data/train.parquet"],
        description="first",
        metadata={"modelgate.semver": "1.0.0", "framework": "xgboost"},
    )
    log_and_link(wandb_fake, name, aliases=["staging"])

    def with_sdk() -> tuple[Any, Any, list[str]]:
        v0 = sdk_version(wandb_fake, name, 0)
        run = v0.logged_by()
        used = [a.name for a in run.used_artifacts()]
        v0.aliases.append("production")  # AddAliases
        v0.tags.append("archived")  # UpdateArtifact tagsToAdd
        v0.save()
        v1 = sdk_version(wandb_fake, name, 1)
        v1.aliases.remove("staging")  # DeleteAliases
        v1.save()
        return v0, run, used

    v0, run, used = await asyncio.to_thread(with_sdk)
    assert run.config == {"lr": 0.01, "layers": [64, 32]} and run.summary["auc"] == 0.91
    assert used == [f"{name}-data0:v0"]
    assert v0.metadata["framework"] == "xgboost" and v0.description == "first"
    sent = set(wandb_fake.fake.operations())
    assert {"RegistryVersions", "ArtifactCreatedBy", "Run", "RunInputArtifacts"} <= sent
    assert {"AddAliases", "DeleteAliases", "UpdateArtifact", "ServerFeaturesQuery"} <= sent

    first = await adapter.get_version(name, "v0")
    assert first is not None and first.uri == f"mg://{REGISTRY}/{name}/v0"
    assert (first.stage, first.native_stage) == (Stage.ARCHIVED, "archived")  # the tag wins
    assert "production" in first.aliases and first.tags == {"archived": ""}
    assert first.hyperparameters == {"lr": "0.01", "layers": "[64, 32]"}
    assert first.metrics == {"auc": pytest.approx(0.91)}  # _step and text are not metrics
    assert first.semver == "1.0.0" and first.native["metadata"]["framework"] == "xgboost"
    assert (
        first.artifact_digest
        == wandb_fake.store.collection(ORG_ENTITY, "wandb-registry-model", name)
        .memberships[0]
        .artifact.digest
    )  # type: ignore[union-attr]
    assert first.artifact_uri == f"wandb-artifact:///{ORG_ENTITY}/wandb-registry-model/{name}:v0"
    assert first.created_by == "ds" and first.created_at is not None
    (dataset,) = first.training_data
    assert (
        dataset.uri == "s3://wb-data/train.parquet" and dataset.digest and dataset.name == f"{name}-data0:v0"
    )
    edges = await adapter.lineage(first)
    assert {(e.relation, e.target.uri) for e in edges} == {
        (Relation.TRAINED_ON, "s3://wb-data/train.parquet")
    }
    second = await adapter.get_version(name, "v1")
    assert second is not None and second.stage is Stage.DRAFT and second.native_stage is None
    assert set(second.aliases) == {"v1", "latest"}


async def test_an_alias_moves_between_versions(adapter: WandbRegistry, wandb_fake: WandbServer) -> None:
    name = unique_name("move")
    for _ in range(2):
        log_and_link(wandb_fake, name)
    v0, v1 = (await adapter.list_versions(name)).items
    promoted = await adapter.set_stage(v0, Stage.PRODUCTION, PromotionContext("alice"))
    assert (promoted.stage, promoted.native_stage) == (Stage.PRODUCTION, "production")
    mark = len(wandb_fake.fake.requests)
    moved = await adapter.set_stage(v1, Stage.PRODUCTION, PromotionContext("alice"))
    assert moved.stage is Stage.PRODUCTION
    assert wandb_fake.fake.operations(mark).count("AddAliases") == 1
    before = await adapter.get_version(name, "v0")
    assert before is not None and before.stage is Stage.DRAFT  # W&B moved the alias off it
    seen = await asyncio.to_thread(sdk_version, wandb_fake, name, 1)
    assert "production" in seen.aliases  # the SDK sees it where modelgate put it
    staged = await adapter.set_stage(moved, Stage.STAGING, PromotionContext("alice"))
    assert staged.stage is Stage.STAGING and "production" not in staged.aliases
    archived = await adapter.set_stage(staged, Stage.ARCHIVED, PromotionContext("alice"))
    assert archived.stage is Stage.ARCHIVED and "staging" not in archived.aliases
    restored = await adapter.set_stage(archived, Stage.DRAFT, PromotionContext("alice"))
    assert restored.stage is Stage.DRAFT and restored.tags == {}


async def test_a_protected_alias_is_refused_with_the_registrys_message(
    adapter: WandbRegistry, wandb_fake: WandbServer
) -> None:
    name = unique_name("protected")
    log_and_link(wandb_fake, name)
    (version,) = (await adapter.list_versions(name)).items
    wandb_fake.fake.protected_aliases.add("production")
    mark = len(wandb_fake.fake.requests)
    with pytest.raises(RegistryForbidden) as refused:
        await adapter.set_stage(version, Stage.PRODUCTION, PromotionContext("bob"))
    assert refused.value.status == 403 and "'production' is protected" in refused.value.message
    assert wandb_fake.fake.operations(mark).count("AddAliases") == 1  # never retried
    admin = make_adapter(wandb_fake, registry="model", environ={"WANDB_KEY": wandb_fake.admin_key})
    try:
        assert (
            await admin.set_stage(version, Stage.PRODUCTION, PromotionContext("admin"))
        ).stage is Stage.PRODUCTION
    finally:
        await admin.aclose()


async def test_a_429_is_waited_out_and_a_write_is_not_retried(
    adapter: WandbRegistry, wandb_fake: WandbServer
) -> None:
    name = unique_name("limited")
    log_and_link(wandb_fake, name)
    wandb_fake.fake.fail_next(429, 429, retry_after="0.2")
    mark = len(wandb_fake.fake.requests)
    assert await adapter.get_model(name) is not None
    assert [r.status for r in wandb_fake.fake.requests[mark:]][:3] == [429, 429, 200]
    wandb_fake.fake.fail_next(*[429] * FAST_RETRY.attempts, retry_after="0")
    with pytest.raises(RegistryUnavailable) as limited:
        await adapter.list_models()
    assert limited.value.status == 429 and "rate limit" in limited.value.message
    (version,) = (await adapter.list_versions(name)).items
    wandb_fake.fake.fail_next(429, operation="AddAliases")
    mark = len(wandb_fake.fake.requests)
    with pytest.raises(RegistryUnavailable):
        await adapter.set_stage(version, Stage.STAGING, PromotionContext("eve"))
    assert wandb_fake.fake.operations(mark).count("AddAliases") == 1


async def test_paging_survives_empty_pages_and_missing_cursors(wandb_fake: WandbServer) -> None:
    adapter = make_adapter(wandb_fake, registry="model", page_size=2)
    try:
        name = unique_name("paged")
        for _ in range(5):
            log_and_link(wandb_fake, name)
        wandb_fake.store.quirks.empty_pages = 2  # wandb#5487: empty pages that claim more
        versions = [v.version async for v in iterate_pages(lambda t: adapter.list_versions(name, t))]
        assert versions == ["v0", "v1", "v2", "v3", "v4"]
        wandb_fake.store.quirks.drop_end_cursor = True  # wandb#6884: endCursor missing
        again = [v.version async for v in iterate_pages(lambda t: adapter.list_versions(name, t))]
        assert again == versions
        models = [m.name async for m in iterate_pages(adapter.list_models)]
        assert name in models and len(models) == len(set(models))
    finally:
        await adapter.aclose()


async def test_every_registry_is_read_with_prefixed_names(wandb_fake: WandbServer) -> None:
    name = unique_name("multi")
    log_and_link(wandb_fake, name, registry="model")
    log_and_link(wandb_fake, name, registry="fraud-team", aliases=["production"])
    adapter = make_adapter(wandb_fake)
    try:
        names = {m.name async for m in iterate_pages(adapter.list_models)}
        assert {f"model%2F{name}", f"fraud-team%2F{name}"} <= names
        version = await adapter.get_version(f"fraud-team%2F{name}", "v0")
        assert version is not None and version.stage is Stage.PRODUCTION
        assert version.uri == f"mg://{REGISTRY}/fraud-team%2F{name}/v0"
        assert await adapter.get_model(name) is None  # without its registry it names nothing
    finally:
        await adapter.aclose()


async def test_auth_failure_and_unknown_organization(wandb_fake: WandbServer) -> None:
    wrong = make_adapter(wandb_fake, environ={"WANDB_KEY": "0" * 40})
    elsewhere = make_adapter(wandb_fake, organization="nobody")
    try:
        with pytest.raises(RegistryAuthError) as refused:
            await wrong.list_models()
        assert refused.value.status == 401 and "not logged in" in refused.value.message
        assert "0" * 40 not in refused.value.message
        health = await wrong.health()
        assert not health.ok and "401" in (health.detail or "")
        assert not (await elsewhere.health()).ok
    finally:
        await wrong.aclose()
        await elsewhere.aclose()


async def test_automation_webhooks_are_checked_and_name_the_collection(wandb_fake: WandbServer) -> None:
    token = secrets.token_urlsafe(16)
    adapter = make_adapter(
        wandb_fake,
        registry="model",
        webhook_token_env="WB_HOOK",
        environ={**wandb_fake.environ, "WB_HOOK": token},
    )
    unconfigured = make_adapter(wandb_fake, registry="model")
    body = json.dumps(
        {
            "event_type": "ADD_ARTIFACT_ALIAS",
            "artifact_collection_name": "churn",
            "project_name": "wandb-registry-model",
        }
    ).encode()
    try:
        assert await adapter.handle_webhook({"Authorization": f"Bearer {token}"}, body) == ["churn"]
        with pytest.raises(WebhookRejected):
            await adapter.handle_webhook({"Authorization": "Bearer nope"}, body)
        with pytest.raises(WebhookRejected):
            await adapter.handle_webhook({}, body)
        with pytest.raises(WebhookRejected):
            await unconfigured.handle_webhook({"Authorization": f"Bearer {token}"}, body)
        other = body.replace(b"wandb-registry-model", b"wandb-registry-other")
        assert await adapter.handle_webhook({"Authorization": f"Bearer {token}"}, other) == []
    finally:
        await adapter.aclose()
        await unconfigured.aclose()


@pytest.mark.parametrize(
    ("options", "key", "words"),
    [
        ({"organization": "acme", "api_key_env": "K", "tpyo": 1}, "registries[1].tpyo", "unknown key"),
        ({"organization": "acme", "api_key": "abc"}, "registries[1].api_key", "never inline"),
        ({"organization": "acme"}, "registries[1].api_key_env", "is required"),
        ({"organization": "acme", "api_key_env": "MISSING"}, "registries[1].api_key_env", "not set"),
        (
            {"organization": "acme", "api_key_file": "/nonexistent/key"},
            "registries[1].api_key_file",
            "cannot read",
        ),
        (
            {"organization": "acme", "api_key_env": "K", "url": "api.wandb.ai"},
            "registries[1].url",
            "W&B API URL",
        ),
        (
            {"organization": "acme", "api_key_env": "K", "staging_aliases": ["production"]},
            "registries[1].staging_aliases",
            "also means PRODUCTION",
        ),
        (
            {"organization": "acme", "api_key_env": "K", "production_aliases": ["latest"]},
            "registries[1].production_aliases",
            "set by W&B",
        ),
        (
            {"organization": "acme", "api_key_env": "K", "archived_tag": "a/b"},
            "registries[1].archived_tag",
            "not a W&B tag",
        ),
        (
            {"organization": "acme", "api_key_env": "K", "page_size": 0},
            "registries[1].page_size",
            "between 1 and",
        ),
    ],
)
def test_options_are_checked_with_the_key_named(options: dict[str, Any], key: str, words: str) -> None:
    registry = RegistrySettings(id="wb", kind="wandb", options=options, key="registries[1]")
    with pytest.raises(ConfigError) as raised:
        load_settings(registry, environ={"K": "secret-key-value"})
    assert raised.value.key == key and words in str(raised.value)
    assert "secret-key-value" not in str(raised.value)


def test_the_key_comes_from_a_file(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("k" * 40 + "\n")
    registry = RegistrySettings(
        id="wb", kind="wandb", options={"organization": "acme", "api_key_file": str(key_file)}
    )
    settings = load_settings(registry, environ={})
    assert settings.api_key == "k" * 40 and "k" * 40 not in repr(settings)
    factory.validate(
        RegistrySettings(
            id="wb", kind="wandb", options={"organization": "acme", "api_key_file": str(key_file)}
        )
    )


# --- through the gateway ---------------------------------------------------------------

POLICIES = """
policies: []
promotions:
  - to: PRODUCTION
    approvals: [TEAM_LEAD]
"""
ALICE = Principal("alice", frozenset({"TEAM_LEAD"}), frozenset({"ml"}))
BOB = Principal("bob", frozenset({"TEAM_LEAD"}), frozenset({"ml"}))


async def test_gateway_federates_a_wandb_registry(wandb_fake: WandbServer, tmp_path: Path) -> None:
    """Entry point, config, sync, a query that finds the versions with their stage,
    and an approved promotion written through as an alias the SDK then sees."""
    name = unique_name("gateway")
    log_and_link(wandb_fake, name, aliases=["staging"], summary={"auc": 0.9})
    log_and_link(wandb_fake, name, summary={"auc": 0.94})
    key_file = tmp_path / "wandb-key"
    key_file.write_text(wandb_fake.key)
    hook_token = secrets.token_urlsafe(16)
    hook_file = tmp_path / "wandb-hook"
    hook_file.write_text(hook_token)
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES)
    registry = {
        "id": REGISTRY,
        "kind": "wandb",
        "team": "ml",
        "url": wandb_fake.base_url,
        "organization": "acme",
        "registry": "model",
        "api_key_file": str(key_file),
        "webhook_token_file": str(hook_file),
    }
    settings = make_settings(
        f"sqlite:///{tmp_path}/mg.db", tmp_path, registries=[registry], governance={"policies": str(policies)}
    )
    async with served_gateway(settings, {"alice": ALICE, "bob": BOB}, sync=[REGISTRY]) as (_, client):
        found = data_of(
            await gql(
                client,
                "query($uri: String!) { model(uri: $uri) { versions { edges { node { version stage nativeStage } } } } }",
                {"uri": f"mg://{REGISTRY}/{name}"},
            )
        )
        nodes = [e["node"] for e in found["model"]["versions"]["edges"]]
        assert {"version": "v0", "stage": "STAGING", "nativeStage": "staging"} in nodes
        assert {"version": "v1", "stage": "DRAFT", "nativeStage": None} in nodes
        approved = await request_and_approve(
            client, f"mg://{REGISTRY}/{name}/v1", "PRODUCTION", approver="bob", reason="better auc"
        )
        assert approved == {
            "status": "APPLIED",
            "version": {"stage": "PRODUCTION", "nativeStage": "production"},
        }
        seen = await asyncio.to_thread(sdk_version, wandb_fake, name, 1)
        assert "production" in seen.aliases


async def test_a_revoked_key_makes_the_registry_unavailable_not_the_gateway(
    wandb_fake: WandbServer, tmp_path: Path
) -> None:
    key = secrets.token_hex(20)
    wandb_fake.fake.keys.add(key)
    key_file = tmp_path / "wandb-key"
    key_file.write_text(key)
    registry = {
        "id": REGISTRY,
        "kind": "wandb",
        **wandb_fake.options(registry="model"),
        "api_key_file": str(key_file),
    }
    registry.pop("api_key_env")
    settings = make_settings(f"sqlite:///{tmp_path}/mg.db", tmp_path, registries=[registry])
    gateway = await Gateway.open(settings)
    try:
        log_and_link(wandb_fake, unique_name("revoked"))
        assert (await gateway.sync.sync_registry(REGISTRY, full=True)).error is None
        wandb_fake.fake.keys.discard(key)  # the key is revoked in W&B
        result = await gateway.sync.sync_registry(REGISTRY, full=True)
        assert result.error and "cannot authenticate" in result.error and key not in result.error
        app = create_app(gateway.settings, gateway=gateway, background_sync=False)
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client,
        ):
            body = await gql(client, "{ registries { id healthy state lastError } }")
            (mine,) = [r for r in data_of(body)["registries"] if r["id"] == REGISTRY]
            # The gateway's breaker counts a 401 as an answer, so the state is DEGRADED
            # ("answers again, but its last sync failed"), not HEALTHY.
            assert mine["healthy"] is False and mine["state"] != "HEALTHY"
            assert "cannot authenticate" in mine["lastError"] and "not logged in" in mine["lastError"]
    finally:
        wandb_fake.fake.keys.discard(key)
        await gateway.aclose()


def test_registry_artifact_paths_are_references() -> None:
    one = RegistrySettings(id="wb", kind="wandb", options={"organization": "acme", "registry": "model"})
    every = RegistrySettings(id="wb", kind="wandb", options={"organization": "acme"})
    parse = factory.parse_reference
    path = "wandb-artifact:///acme-org/wandb-registry-model/fraud-detector:v3"
    assert factory.is_reference(path) and not factory.is_reference("s3://bucket/model")
    match = parse(path, one)
    assert match is not None and (match.model_name, match.version, match.weak) == (
        "fraud-detector",
        "v3",
        True,
    )
    prefixed = parse(path, every)
    assert prefixed is not None and prefixed.model_name == "model%2Ffraud-detector"
    alias = parse("wandb-artifact:///acme-org/wandb-registry-model/fraud-detector:production", one)
    assert alias is not None and alias.version is None  # an alias names no fixed version
    assert parse("wandb-artifact:///acme-org/wandb-registry-other/fraud-detector:v3", one) is None
    assert parse("wandb-artifact:///acme-ml/training/fraud-src:v0", one) is None  # not a registry
