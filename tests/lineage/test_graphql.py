"""Lineage through GraphQL: lineage (any node, any spelling, every direction),
ModelVersion.lineage, impact and impactAnalysis, registry references as parents,
and registry lineage merged at query time (cached, bounded, failures reported)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from adapters.base import load_factories
from gateway.config import RegistrySettings
from gateway.domain import LineageEdge, LineageNode, ModelVersion, Relation
from gateway.lineage.graph import version_node
from gateway.runtime import Gateway
from gateway.server import create_app
from tests.fakes.memory_registry import MemoryFactory, MemoryRegistry
from tests.support import data_of, gql, make_settings

REGISTER = "mutation($input: RegisterVersionInput!) { registerModelVersion(input: $input) { uri } }"
LINEAGE = """query($u: String!, $d: LineageDirection, $depth: Int, $reg: Boolean) {
  lineage(uri: $u, direction: $d, depth: $depth, registryLineage: $reg) {
    nodes { uri kind registry } edges { source target relation evidence } truncated } }"""


class LineageRegistry(MemoryRegistry):
    """A registry whose own lineage API knows edges the version records do not."""

    def __init__(self, registry_id: str):
        super().__init__(registry_id)
        self.known: dict[str, list[LineageEdge]] = {}

    async def lineage(self, version: ModelVersion) -> list[LineageEdge]:
        await self._call("lineage")
        return self.known.get(version.uri, [])


def LineageFactory() -> MemoryFactory:
    return MemoryFactory(lambda r: LineageRegistry(r.id))


@pytest.fixture
async def setup(
    database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Gateway, LineageRegistry, httpx.AsyncClient]]:
    factory = LineageFactory()
    settings = make_settings(database_url, tmp_path)
    settings = dataclasses.replace(
        settings,
        registries=(
            *settings.registries,
            # Never called here: only there so that models:/ references have an owner.
            RegistrySettings(id="fraud-mlflow", kind="mlflow", options={"url": "http://127.0.0.1:9"}),
            RegistrySettings(id="alpha", kind="memory", team="a"),
        ),
    )
    gw = await Gateway.open(settings, factories={**load_factories(), "memory": factory})
    gw.lineage.remote.deadline = 0.5
    await gw.sync.sync_registry("platform", full=True)
    await gw.sync.sync_registry("research", full=True)
    # The placeholder MLflow registry holds nothing here; record it as synced so
    # that answers do not report it as never synced (tests/catalogue/test_registry_state).
    await gw.index.record_sync("fraud-mlflow", healthy=True, synced=True)
    app = create_app(settings, gateway=gw, background_sync=False)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield gw, factory.made["alpha"], client
    await gw.aclose()


async def register(client: httpx.AsyncClient, registry: str, model: str, **fields: Any) -> str:
    variables = {
        "input": {"registry": registry, "model": model, "artifactUri": f"s3://b/{registry}/{model}", **fields}
    }
    return str(data_of(await gql(client, REGISTER, variables))["registerModelVersion"]["uri"])


def edges(body: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(e["source"], e["target"], e["relation"]) for e in data_of(body)["lineage"]["edges"]}


async def test_registry_references_as_parents(setup: Any) -> None:
    gw, _, client = setup
    tuned = await register(client, "platform", "tuned", parent="models:/base/3")
    assert (await gw.index.get_version(tuned)).parent == "mg://fraud-mlflow/base/3"  # resolved
    # A SageMaker package of a region no registry covers: kept as given, an external node.
    arn = "arn:aws:sagemaker:us-west-2:123456789012:model-package/teacher/1"
    other = await register(client, "platform", "other", parent=arn)
    assert (await gw.index.get_version(other)).parent == arn
    body = await gql(client, LINEAGE, {"u": other, "d": "UPSTREAM"})
    assert (other, arn, "DERIVED_FROM") in edges(body)
    bad = await gql(
        client,
        REGISTER,
        {"input": {"registry": "platform", "model": "x", "artifactUri": "s3://b/x", "parent": "the-base"}},
    )
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "registry reference" in bad["errors"][0]["message"]


async def test_lineage_impact_and_paths(setup: Any) -> None:
    _, _, client = setup
    base = await register(client, "research", "base", trainingData=[{"uri": "s3://acme/tx/2026/"}])
    tuned = await register(
        client,
        "platform",
        "tuned",
        parent=base,
        trainingData=[{"uri": "s3a://acme/tx/2026", "role": "training"}],
    )
    child = await register(client, "platform", "child", parent=tuned)
    await register(client, "platform", "unrelated", trainingData=[{"uri": "s3://acme/other"}])

    # The dataset in yet another spelling: normalised before the walk.
    down = await gql(client, LINEAGE, {"u": "S3N://ACME/tx//2026/", "d": "DOWNSTREAM", "depth": 2})
    assert edges(down) == {
        (base, "s3://acme/tx/2026", "TRAINED_ON"),
        (tuned, "s3://acme/tx/2026", "TRAINED_ON"),
        (tuned, base, "DERIVED_FROM"),
        (child, tuned, "DERIVED_FROM"),
    }

    # Nothing is upstream of a dataset; the node still says what it is.
    up = data_of(await gql(client, LINEAGE, {"u": "s3://acme/tx/2026", "d": "UPSTREAM"}))["lineage"]
    assert up["nodes"] == [{"uri": "s3://acme/tx/2026", "kind": "dataset", "registry": None}]
    assert up["edges"] == []

    q = """query($u: String!) { impact(uri: $u) { uri }
      impactAnalysis(uri: $u) { root truncated versions { uri depth path relations version { uri stage } } } }"""
    data = data_of(await gql(client, q, {"u": "s3a://acme/tx/2026/"}))
    uris = [v["uri"] for v in data["impact"]]
    assert set(uris[:2]) == {base, tuned} and uris[2:] == [child]  # nearest first
    analysis = data["impactAnalysis"]
    assert analysis["root"] == "s3://acme/tx/2026" and analysis["truncated"] is False
    by_uri = {v["uri"]: v for v in analysis["versions"]}
    # The shortest path: child was fine-tuned from tuned, which trained on the dataset itself.
    assert by_uri[child]["path"] == ["s3://acme/tx/2026", tuned, child]
    assert by_uri[child]["relations"] == ["TRAINED_ON", "DERIVED_FROM"] and by_uri[child]["depth"] == 2
    assert by_uri[child]["version"] == {"uri": child, "stage": "DRAFT"}

    # impact of a model: what was fine-tuned from any of its versions.
    of_model = data_of(
        await gql(client, "query($u: String!) { impact(uri: $u) { uri } }", {"u": "mg://research/base"})
    )
    assert [v["uri"] for v in of_model["impact"]] == [tuned, child]
    nothing = data_of(await gql(client, 'query { impact(uri: "s3://nobody/uses/this") { uri } }'))
    assert nothing["impact"] == []

    # ModelVersion.lineage honours its direction.
    q = """query($u: String!, $d: LineageDirection) { modelVersion(uri: $u) {
      lineage(direction: $d, depth: 1) { edges { source target relation } } } }"""
    up = data_of(await gql(client, q, {"u": tuned, "d": "UPSTREAM"}))["modelVersion"]["lineage"]["edges"]
    assert {(e["target"], e["relation"]) for e in up} == {
        ("s3://acme/tx/2026", "TRAINED_ON"),
        (base, "DERIVED_FROM"),
    }
    below = data_of(await gql(client, q, {"u": tuned, "d": "DOWNSTREAM"}))["modelVersion"]["lineage"]["edges"]
    assert {(e["source"], e["relation"]) for e in below} == {(child, "DERIVED_FROM")}


@pytest.mark.parametrize(
    ("query", "code", "fragment"),
    [
        ('{ lineage(uri: "mg://platform/none/1") { truncated } }', "NOT_FOUND", "no version"),
        ('{ lineage(uri: "s3://nobody/knows") { truncated } }', "NOT_FOUND", "no lineage node"),
        ('{ lineage(uri: "mg://platform") { truncated } }', "BAD_USER_INPUT", "malformed"),
        (
            '{ lineage(uri: "s3://x", depth: 11) { truncated } }',
            "BAD_USER_INPUT",
            "depth must be between 0 and 10",
        ),
        ('{ lineage(uri: "s3://x", maxNodes: 0) { truncated } }', "BAD_USER_INPUT", "maxNodes"),
        ('{ impact(uri: "s3://x", depth: 0) { uri } }', "BAD_USER_INPUT", "depth must be between 1"),
        ('{ impact(uri: "s3://x", first: 0) { uri } }', "BAD_USER_INPUT", "first must be between 1"),
    ],
)
async def test_bad_lineage_questions_get_coded_errors(
    setup: Any, query: str, code: str, fragment: str
) -> None:
    _, _, client = setup
    body = await gql(client, query)
    (error,) = body["errors"]
    assert error["extensions"]["code"] == code
    assert fragment in error["message"]


async def test_registry_lineage_is_merged_cached_stored_and_its_failures_reported(setup: Any) -> None:
    gw, alpha, client = setup
    alpha.put("scorer", versions=2)
    await gw.sync.sync_all(full=True)
    v1 = alpha.versions["scorer"]["1"]
    me = version_node(v1)
    alpha.known[v1.uri] = [
        LineageEdge(me, LineageNode("s3a://remote/set/", "dataset", "set"), Relation.TRAINED_ON),
        LineageEdge(me, LineageNode("models:/base/1", "model_version"), Relation.DERIVED_FROM),
    ]
    body = await gql(client, LINEAGE, {"u": v1.uri, "d": "UPSTREAM"})
    assert edges(body) == {
        (v1.uri, "s3://remote/set", "TRAINED_ON"),
        (v1.uri, "mg://fraud-mlflow/base/1", "DERIVED_FROM"),
    }
    assert {e["evidence"] for e in data_of(body)["lineage"]["edges"]} == {"registry"}
    assert alpha.calls["lineage"] == 1
    await gql(client, LINEAGE, {"u": v1.uri, "d": "UPSTREAM"})
    assert alpha.calls["lineage"] == 1  # answered from the cache
    without = await gql(client, LINEAGE, {"u": v1.uri, "d": "UPSTREAM", "reg": False})
    await gw.lineage.aclose()  # the background write of what the registry said
    assert alpha.calls["lineage"] == 1 and "errors" not in without

    # Stored on demand: impact, which walks the store only, now knows it.
    hits = data_of(await gql(client, '{ impact(uri: "s3://remote/set") { uri } }'))["impact"]
    assert [h["uri"] for h in hits] == [v1.uri]

    alpha.failing = True
    v2 = "mg://alpha/scorer/2"
    failed = await gql(client, LINEAGE, {"u": v2, "d": "BOTH"})
    assert failed["data"]["lineage"]["nodes"][0]["uri"] == v2  # the stored graph still answers
    (error,) = failed["errors"]
    assert error["extensions"] == {**error["extensions"], "code": "REGISTRY_UNAVAILABLE", "registry": "alpha"}
