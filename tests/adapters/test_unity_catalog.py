"""The Unity Catalog adapter against the spec-validated fake (``tests/fakes/unity_catalog``).

The OSS server is Java and does not run here. The fake serves the published
OpenAPI file's model registry from memory and validates every request and
response against it with openapi-core (``uc_oss`` / ``uc_databricks`` fail a
test on any violation). Registries are seeded as a team would: with the real
``unitycatalog-client`` (the async SDK generated from the same spec); in
Databricks mode aliases are set with Databricks' own SDK (``databricks-sdk``,
``registered_models.set_alias``), and the same SDK reads back what modelgate wrote.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.base import RetryPolicy, iterate_pages
from adapters.protocol import PromotionContext
from adapters.unity_catalog import UnityCatalogRegistry, factory, load_settings
from gateway.config import ConfigError, RegistrySettings
from gateway.domain import Relation, Stage
from gateway.errors import RegistryAuthError, RegistryForbidden, RegistryRejected, RegistryUnavailable
from tests.adapters.contract import (
    MODEL_DESCRIPTION,
    VERSION_DESCRIPTION,
    AdapterContract,
    SeedModel,
    unique_name,
)
from tests.servers.unity_catalog import CATALOG, SCHEMAS, UnityCatalogServer

REGISTRY = "uc"
FAST_RETRY = RetryPolicy(attempts=4, deadline_seconds=5.0, initial_wait=0.01, max_wait=0.05)
PAGE = 3


def make_adapter(
    server: UnityCatalogServer, *, environ: dict[str, str] | None = None, **options: Any
) -> UnityCatalogRegistry:
    registry = RegistrySettings(
        id=REGISTRY, kind="unity_catalog", team="ml", options=server.options(**options), key="registries[2]"
    )
    settings = load_settings(registry, environ=server.environ if environ is None else environ)
    return UnityCatalogRegistry(REGISTRY, settings, team="ml", retry=FAST_RETRY)


def databricks_sdk(server: UnityCatalogServer) -> Any:
    """Databricks' own SDK, pointed at the fake's Databricks mode (a personal access token)."""
    from databricks.sdk import WorkspaceClient

    return WorkspaceClient(host=server.base_url, token=server.token, auth_type="pat")


@pytest.fixture
async def oss(uc_oss: UnityCatalogServer) -> AsyncIterator[UnityCatalogRegistry]:
    await uc_oss.ensure_namespace()
    adapter = make_adapter(uc_oss, page_size=PAGE)
    yield adapter
    await adapter.aclose()


@pytest.fixture
async def databricks(uc_databricks: UnityCatalogServer) -> AsyncIterator[UnityCatalogRegistry]:
    await uc_databricks.ensure_namespace()
    adapter = make_adapter(uc_databricks, page_size=PAGE)
    yield adapter
    await adapter.aclose()


class UnityCatalogSubject:
    """Unity Catalog names are three-level: the subject registers each seeded model
    in the catalog's first schema and hands the seed back its full name."""

    capabilities = {MODEL_DESCRIPTION, VERSION_DESCRIPTION}
    page_size = PAGE

    def __init__(self, adapter: UnityCatalogRegistry, server: UnityCatalogServer, writable: set[Stage]):
        self.adapter = adapter
        self.server = server
        self.writable_stages = writable

    async def seed(self, models: list[SeedModel]) -> None:
        for m in models:
            versions = [{"source": v.artifact_uri, "comment": v.description} for v in m.versions]
            m.name = await self.server.register(m.name, versions, comment=m.description)

    async def touch(self, model_name: str) -> None:
        short = model_name.split(".")[-1]
        await self.server.register(short, [{"source": f"s3://uc-touch/{short}/model"}])


class TestUnityCatalogOssContract(AdapterContract):
    @pytest.fixture
    def subject(self, oss: UnityCatalogRegistry, uc_oss: UnityCatalogServer) -> UnityCatalogSubject:
        return UnityCatalogSubject(oss, uc_oss, set())


class TestUnityCatalogDatabricksContract(AdapterContract):
    @pytest.fixture
    def subject(
        self, databricks: UnityCatalogRegistry, uc_databricks: UnityCatalogServer
    ) -> UnityCatalogSubject:
        return UnityCatalogSubject(databricks, uc_databricks, {Stage.STAGING, Stage.PRODUCTION})


# --- reads -------------------------------------------------------------------


async def test_version_carries_every_unity_catalog_field(
    oss: UnityCatalogRegistry, uc_oss: UnityCatalogServer
) -> None:
    name = unique_name("fields")
    full = await uc_oss.register(
        name,
        [{"source": "s3://ml-artifacts/1/abc/artifacts/model", "run_id": "abc123", "comment": "first"}],
        comment="a model",
    )
    await uc_oss.register(name, [{"source": "s3://ml-artifacts/1/def/artifacts/model"}], finalize=False)
    model = await oss.get_model(full)
    assert model is not None and model.name == full and model.description == "a model"
    assert model.uri == f"mg://{REGISTRY}/{CATALOG}.{SCHEMAS[0]}.{name}"
    assert model.native["storage_location"].startswith("file://") and model.native["owner"]
    first = await oss.get_version(full, "1")
    assert first is not None
    assert (first.stage, first.native_stage) == (Stage.DRAFT, "READY (OSS: no aliases, read-only lifecycle)")
    assert first.artifact_uri == "s3://ml-artifacts/1/abc/artifacts/model" and first.description == "first"
    assert first.native["run_id"] == "abc123" and first.native["status"] == "READY"
    assert first.uri == f"mg://{REGISTRY}/{full}/1" and first.aliases == ()
    pending = await oss.get_version(full, "2")
    assert pending is not None and pending.native_stage is not None
    assert pending.native_stage.startswith("PENDING_REGISTRATION")
    assert await oss.get_version(full, "two") is None
    other_catalog = f"elsewhere.{SCHEMAS[0]}.{name}"
    assert await oss.get_model(other_catalog) is None  # not this registry's catalog: no request either


async def test_a_catalog_lists_every_schema_and_a_schema_only_itself(uc_oss: UnityCatalogServer) -> None:
    here = await uc_oss.register(unique_name("inprod"), [{"source": "s3://b/p"}], schema=SCHEMAS[0])
    there = await uc_oss.register(unique_name("inresearch"), [{"source": "s3://b/r"}], schema=SCHEMAS[1])
    whole = make_adapter(uc_oss, page_size=2)
    narrow = make_adapter(uc_oss, schema=SCHEMAS[1])
    try:
        everything = [m.name async for m in iterate_pages(whole.list_models)]
        assert {here, there} <= set(everything) and len(everything) == len(set(everything))
        only = [m.name async for m in iterate_pages(narrow.list_models)]
        assert there in only and all(n.startswith(f"{CATALOG}.{SCHEMAS[1]}.") for n in only)
        assert await narrow.get_model(here) is None
        assert (await narrow.health()).ok
    finally:
        await whole.aclose()
        await narrow.aclose()


# --- stages ------------------------------------------------------------------


async def test_oss_has_a_read_only_lifecycle(oss: UnityCatalogRegistry, uc_oss: UnityCatalogServer) -> None:
    full = await uc_oss.register(unique_name("readonly"), [{"source": "s3://b/m"}])
    version = await oss.get_version(full, "1")
    assert version is not None
    mark = len(uc_oss.fake.requests)
    with pytest.raises(RegistryRejected) as refused:
        await oss.set_stage(version, Stage.PRODUCTION, PromotionContext("ann"))
    assert "read-only" in refused.value.message and "no aliases" in refused.value.message
    assert uc_oss.fake.requests[mark:] == []  # nothing was sent


async def test_databricks_aliases_are_stages(
    databricks: UnityCatalogRegistry, uc_databricks: UnityCatalogServer
) -> None:
    full = await uc_databricks.register(unique_name("aliases"), [{"source": f"s3://b/{i}"} for i in range(3)])
    sdk = databricks_sdk(uc_databricks)
    await asyncio.to_thread(sdk.registered_models.set_alias, full, "Champion", 1)
    await asyncio.to_thread(sdk.registered_models.set_alias, full, "challenger", 2)
    await asyncio.to_thread(sdk.registered_models.set_alias, full, "latest", 3)
    listed = {
        v.version: v for v in [v async for v in iterate_pages(lambda t: databricks.list_versions(full, t))]
    }
    assert (listed["1"].stage, listed["1"].native_stage) == (Stage.PRODUCTION, "Champion")
    assert (listed["2"].stage, listed["2"].native_stage) == (Stage.STAGING, "challenger")
    assert (listed["3"].stage, listed["3"].native_stage, listed["3"].aliases) == (
        Stage.DRAFT,
        "READY",
        ("latest",),
    )
    one = await databricks.get_version(full, "1")
    assert one is not None and one.aliases == ("Champion",) and one.stage is Stage.PRODUCTION


async def test_databricks_write_through_moves_aliases(
    databricks: UnityCatalogRegistry, uc_databricks: UnityCatalogServer
) -> None:
    full = await uc_databricks.register(unique_name("promote"), [{"source": f"s3://b/{i}"} for i in range(2)])
    sdk = databricks_sdk(uc_databricks)
    await asyncio.to_thread(sdk.registered_models.set_alias, full, "champion", 1)
    v1, v2 = (await databricks.get_version(full, "1")), (await databricks.get_version(full, "2"))
    assert v1 is not None and v2 is not None
    promoted = await databricks.set_stage(v2, Stage.PRODUCTION, PromotionContext("ann"))
    assert (promoted.stage, promoted.native_stage) == (Stage.PRODUCTION, "champion")
    seen = await asyncio.to_thread(sdk.registered_models.get, full, include_aliases=True)
    assert {(a.alias_name, a.version_num) for a in seen.aliases} == {("champion", 2)}  # moved off v1
    demoted = await databricks.set_stage(promoted, Stage.STAGING, PromotionContext("ann"))
    assert (demoted.stage, demoted.native_stage) == (Stage.STAGING, "challenger")
    seen = await asyncio.to_thread(sdk.registered_models.get, full, include_aliases=True)
    assert {(a.alias_name, a.version_num) for a in seen.aliases} == {("challenger", 2)}
    draft = await databricks.set_stage(demoted, Stage.DRAFT, PromotionContext("ann"))
    assert draft.stage is Stage.DRAFT and draft.aliases == ()
    with pytest.raises(RegistryRejected) as archived:
        await databricks.set_stage(draft, Stage.ARCHIVED, PromotionContext("ann"))
    assert "no archived state" in archived.value.message

    uc_databricks.fake.fail_next(503, method="PUT")
    mark = len(uc_databricks.fake.requests)
    with pytest.raises(RegistryUnavailable):
        await databricks.set_stage(draft, Stage.PRODUCTION, PromotionContext("ann"))
    puts = [r for r in uc_databricks.fake.requests[mark:] if r.method == "PUT"]
    assert len(puts) == 1  # a write is never retried


async def test_aliases_are_configurable(uc_databricks: UnityCatalogServer) -> None:
    adapter = make_adapter(uc_databricks, production_aliases=["prod"], staging_aliases=["candidate"])
    full = await uc_databricks.register(unique_name("custom"), [{"source": "s3://b/c"}])
    try:
        sdk = databricks_sdk(uc_databricks)
        await asyncio.to_thread(sdk.registered_models.set_alias, full, "champion", 1)
        version = await adapter.get_version(full, "1")
        assert version is not None and version.stage is Stage.DRAFT  # champion means nothing here
        staged = await adapter.set_stage(version, Stage.STAGING, PromotionContext("cy"))
        assert staged.stage is Stage.STAGING and set(staged.aliases) == {"champion", "candidate"}
    finally:
        await adapter.aclose()


# --- lineage -----------------------------------------------------------------


async def test_lineage_names_the_mlflow_run_and_logged_model(uc_oss: UnityCatalogServer) -> None:
    adapter = make_adapter(uc_oss, runs_registry="mlflow")
    full = await uc_oss.register(
        unique_name("lineage"), [{"source": "models:/m-0f1e2d3c", "run_id": "9a8b7c"}, {"source": "s3://b/x"}]
    )
    try:
        first, second = await adapter.get_version(full, "1"), await adapter.get_version(full, "2")
        assert first is not None and second is not None
        edges = {(e.relation, e.target.uri, e.target.kind) for e in await adapter.lineage(first)}
        assert edges == {
            (Relation.PRODUCED_BY, "mlflow-run://mlflow/9a8b7c", "run"),
            (Relation.SAME_AS, "mlflow-logged-model://mlflow/m-0f1e2d3c", "logged_model"),
        }
        assert await adapter.lineage(second) == []
    finally:
        await adapter.aclose()


# --- errors and auth ---------------------------------------------------------


async def test_errors_map_to_the_shared_taxonomy(
    oss: UnityCatalogRegistry, uc_oss: UnityCatalogServer
) -> None:
    full = await uc_oss.register(unique_name("errors"), [{"source": "s3://b/e"}])
    uc_oss.fake.fail_next(503, 500)
    assert await oss.get_model(full) is not None  # retried through
    uc_oss.fake.fail_next(*[503] * FAST_RETRY.attempts)
    with pytest.raises(RegistryUnavailable) as unavailable:
        await oss.list_models()
    assert unavailable.value.registry_id == REGISTRY and "injected failure" in unavailable.value.message

    wrong = make_adapter(uc_oss, environ={"UC_TOKEN": "not-the-token"})
    forbidden_token = "a-token-without-rights"
    uc_oss.fake.forbidden_tokens.add(forbidden_token)
    forbidden = make_adapter(uc_oss, environ={"UC_TOKEN": forbidden_token})
    try:
        with pytest.raises(RegistryAuthError) as refused:
            await wrong.list_models()
        assert refused.value.status == 401 and "cannot authenticate" in refused.value.message
        assert refused.value.extensions["registryCode"] == "UNAUTHENTICATED"
        assert "not-the-token" not in refused.value.message
        health = await wrong.health()
        assert not health.ok and health.detail is not None and "cannot authenticate" in health.detail
        with pytest.raises(RegistryForbidden):
            await forbidden.get_model(full)
    finally:
        await wrong.aclose()
        await forbidden.aclose()
    missing = make_adapter(uc_oss, catalog="nosuchcatalog")
    try:
        health = await missing.health()
        assert not health.ok and health.detail is not None and "Catalog not found" in health.detail
    finally:
        await missing.aclose()


async def test_token_file_is_read_again_when_rotated(uc_oss: UnityCatalogServer, tmp_path: Path) -> None:
    token_file = tmp_path / "uc-token"
    token_file.write_text("stale")
    adapter = make_adapter(uc_oss, token_env=None, token_file=str(token_file))
    try:
        assert not (await adapter.health()).ok
        token_file.write_text(uc_oss.token + "\n")
        import os

        os.utime(token_file, (1, 1))  # a new mtime whatever the clock's resolution
        assert (await adapter.health()).ok
    finally:
        await adapter.aclose()


# --- options and references ----------------------------------------------------


@pytest.mark.parametrize(
    ("options", "key", "words"),
    [
        ({"url": "http://uc:8080"}, "registries[1].catalog", "is required"),
        ({"url": "http://uc:8080", "catalog": "ml", "catlog": "x"}, "registries[1].catlog", "unknown key"),
        ({"url": "http://uc:8080", "catalog": "ml", "token": "abc"}, "registries[1].token", "never inline"),
        ({"url": "uc:8080", "catalog": "ml"}, "registries[1].url", "http(s) URL"),
        ({"url": "http://uc:8080/api/2.1/unity-catalog", "catalog": "ml"}, "registries[1].url", "root URL"),
        ({"url": "http://uc:8080", "catalog": "ml.prod"}, "registries[1].catalog", "one name"),
        ({"url": "http://uc:8080", "catalog": "ml", "schema": "a/b"}, "registries[1].schema", "one name"),
        (
            {"url": "http://uc:8080", "catalog": "ml", "flavor": "managed"},
            "registries[1].flavor",
            "must be one of",
        ),
        (
            {"url": "http://uc:8080", "catalog": "ml", "token_env": "MISSING"},
            "registries[1].token_env",
            "not set",
        ),
        (
            {"url": "http://uc:8080", "catalog": "ml", "token_file": "/nonexistent/token"},
            "registries[1].token_file",
            "cannot read",
        ),
        (
            {"url": "http://uc:8080", "catalog": "ml", "page_size": 51},
            "registries[1].page_size",
            "between 1 and 50",
        ),
        (
            {"url": "http://uc:8080", "catalog": "ml", "staging_aliases": ["Champion"]},
            "registries[1].staging_aliases",
            "also means PRODUCTION",
        ),
        (
            {"url": "http://uc:8080", "catalog": "ml", "production_aliases": []},
            "registries[1].production_aliases",
            "at least one",
        ),
    ],
)
def test_options_are_checked_with_the_key_named(options: dict[str, Any], key: str, words: str) -> None:
    registry = RegistrySettings(id="uc", kind="unity_catalog", options=options, key="registries[1]")
    with pytest.raises(ConfigError) as raised:
        load_settings(registry, environ={})
    assert raised.value.key == key and words in str(raised.value)


def test_three_level_models_uris_are_references() -> None:
    registry = RegistrySettings(id="uc", kind="unity_catalog", options={"url": "http://uc", "catalog": "ml"})
    narrow = RegistrySettings(
        id="uc2", kind="unity_catalog", options={"url": "http://uc", "catalog": "ml", "schema": "prod"}
    )
    parse = factory.parse_reference
    assert factory.is_reference("models:/ml.prod.iris/3") and factory.is_reference(
        "models:/ml.prod.iris@champion"
    )
    assert not factory.is_reference("models:/iris/3") and not factory.is_reference("s3://ml.prod.iris/3")
    version = parse("models:/ml.prod.iris/3", registry)
    assert version is not None and (version.model_name, version.version, version.weak) == (
        "ml.prod.iris",
        "3",
        False,
    )
    model = parse("models:/ml.prod.iris", registry)
    assert model is not None and (model.model_name, model.version) == ("ml.prod.iris", None)
    assert parse("models:/other.prod.iris/3", registry) is None
    assert parse("models:/ml.research.iris/3", narrow) is None
    assert parse("models:/ml.prod.iris@champion", registry) is None  # moves with the alias
    assert parse("models:/ml.prod.iris/latest", registry) is None
