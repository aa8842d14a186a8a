"""Datasets a registry keeps only in its lineage API (SageMaker, Vertex) reach the
BOM: from the stored lineage edges, else the registry's lineage, through the
lineage's visibility gate."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from adapters.base import load_factories
from gateway.auth.principal import Principal
from gateway.domain import LineageEdge, LineageNode, Relation, Stage
from gateway.lineage.graph import version_node
from gateway.runtime import Gateway
from tests.bom.validation import cyclonedx_errors, spdx_errors
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
