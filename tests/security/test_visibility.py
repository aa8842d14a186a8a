"""Restricted models are visible only to their team and admin: in search results,
facets, counts, by-URI reads and lineage (a hidden node is a redacted placeholder)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from adapters.protocol import RegistrationRequest
from gateway.api.types import to_global_id
from gateway.auth.principal import Principal
from gateway.domain import DatasetRef, ModelVersion
from gateway.runtime import Gateway
from tests.security.conftest import PRINCIPALS, serve
from tests.support import make_settings

WHO = {**PRINCIPALS, "sam": Principal("sam", teams=frozenset({"secret"}))}
SECRETS = ("hidden-model", "classified")


async def _principal(request: Request) -> Principal:
    return WHO[request.headers.get("x-test-principal", "nobody")]


async def register(gw: Gateway, registry: str, model: str, **fields: Any) -> ModelVersion:
    version = ModelVersion(registry, model, "0", artifact_uri=f"s3://m/{model}", **fields)
    return await gw.register_version(registry, RegistrationRequest(model, version, "setup"))


async def open_restricted_world(database_url: str, tmp_path: Path, policies: str) -> Gateway:
    """Two open registries and a restricted one, synced, holding an open model, a
    restricted model of an open registry and a model of the restricted registry
    (each at version 1): what the leak and oracle tests ask outsiders about."""
    policy_file = tmp_path / "policies.yaml"
    policy_file.write_text(policies)
    settings = make_settings(
        database_url,
        tmp_path,
        governance={"policies": str(policy_file)},
        registries=[
            {"id": "platform", "kind": "native", "team": "platform"},
            {"id": "research", "kind": "native", "team": "research"},
            {"id": "secret", "kind": "native", "team": "secret", "restricted": True},
        ],
    )
    gw = await Gateway.open(settings)
    await gw.sync.sync_all(full=True)  # past SYNCING, as a served gateway is
    await register(gw, "platform", "open-model")
    await register(gw, "platform", "hidden-model", tags={"restricted": "true"})
    await register(gw, "secret", "classified")
    return gw


@pytest.fixture
async def client(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    settings = make_settings(
        database_url,
        tmp_path,
        registries=[
            {"id": "platform", "kind": "native", "team": "platform"},
            {"id": "research", "kind": "native", "team": "research"},
            {"id": "secret", "kind": "native", "team": "secret", "restricted": True},
        ],
    )
    gw = await Gateway.open(settings)
    await gw.sync.sync_all(full=True)  # past SYNCING, as a served gateway is
    await register(gw, "platform", "open-model", tags={"framework": "torch"})
    await register(gw, "platform", "hidden-model", tags={"restricted": "true", "framework": "jax"})
    await register(gw, "secret", "classified", tags={"framework": "jax"})
    await register(gw, "research", "derived", parent="mg://platform/hidden-model/1")
    await register(
        gw,
        "research",
        "derived2",
        parent="mg://secret/classified/1",
        training_data=(DatasetRef("s3://data/train", role="training"),),
    )
    try:
        async with serve(gw, principal_for_request=_principal) as c:
            yield gw, c
    finally:
        await gw.aclose()


async def ask(
    client: httpx.AsyncClient, who: str, query: str, **variables: Any
) -> tuple[dict[str, Any], str]:
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers={"x-test-principal": who}
    )
    body = response.json()
    assert not body.get("errors"), body["errors"]
    return body["data"], response.text


SEARCH = """{
  models(first: 50) { totalCount edges { node { name } }
    facets { registry { value count } team { value count } framework { value count } tag { value count } } }
  versions(first: 50) { totalCount edges { node { uri } } facets { registry { value count } } }
  registries { id modelCount versionCount }
}"""


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        ("nobody", {"open-model", "derived", "derived2"}),
        ("researcher", {"open-model", "derived", "derived2"}),
        ("alice", {"open-model", "derived", "derived2", "hidden-model"}),
        ("sam", {"open-model", "derived", "derived2", "classified"}),
        ("admin", {"open-model", "derived", "derived2", "hidden-model", "classified"}),
    ],
)
async def test_search_facets_and_counts(client: Any, who: str, sees: set[str]) -> None:
    _, c = client
    data, text = await ask(c, who, SEARCH)
    models = data["models"]
    assert {e["node"]["name"] for e in models["edges"]} == sees
    assert models["totalCount"] == len(sees) == data["versions"]["totalCount"]
    assert sum(f["count"] for f in models["facets"]["registry"]) == len(sees)
    assert sum(f["count"] for f in data["versions"]["facets"]["registry"]) == len(sees)
    jax = {"hidden-model", "classified"} & sees
    assert {f["value"]: f["count"] for f in models["facets"]["framework"]}.get("jax", 0) == len(jax)
    counts = {r["id"]: r["modelCount"] for r in data["registries"]}
    assert sum(counts.values()) == len(sees)
    assert counts["secret"] == (1 if "classified" in sees else 0)
    for secret in set(SECRETS) - sees:
        assert secret not in text


async def test_by_uri_reads_are_null(client: Any) -> None:
    _, c = client
    for uri in ("mg://platform/hidden-model/1", "mg://secret/classified/1"):
        model_uri = uri.rsplit("/", 1)[0]
        query = """query($v: String!, $m: String!, $id: ID!) {
            modelVersion(uri: $v) { uri } live: modelVersion(uri: $v, live: true) { uri }
            model(uri: $m) { name } node(id: $id) { id } }"""
        data, _ = await ask(c, "researcher", query, v=uri, m=model_uri, id=to_global_id("ModelVersion", uri))
        assert data == {"modelVersion": None, "live": None, "model": None, "node": None}
        data, _ = await ask(c, "admin", query, v=uri, m=model_uri, id=to_global_id("ModelVersion", uri))
        assert data["modelVersion"] == {"uri": uri} and data["node"] is not None
    # Through a visible model's relations too.
    data, text = await ask(
        c, "researcher", '{ modelVersion(uri: "mg://research/derived/1") { parent { uri } } }'
    )
    assert data["modelVersion"]["parent"] is None and "hidden-model" not in text


@pytest.mark.parametrize("version", ["mg://research/derived/1", "mg://research/derived2/1"])
async def test_lineage_redacts_hidden_versions(client: Any, version: str) -> None:
    _, c = client
    query = "query($u: String!) { lineage(uri: $u, direction: UPSTREAM) { nodes { uri kind label registry } edges { source target relation } } }"
    data, text = await ask(c, "researcher", query, u=version)
    graph = data["lineage"]
    redacted = [n for n in graph["nodes"] if n["uri"].startswith("redacted:")]
    assert len(redacted) == 1
    assert redacted[0] == {
        "uri": redacted[0]["uri"],
        "kind": "model_version",
        "label": None,
        "registry": None,
    }
    assert any(e["target"] == redacted[0]["uri"] and e["relation"] == "DERIVED_FROM" for e in graph["edges"])
    for secret in SECRETS:
        assert secret not in text
    # The team that owns it sees the real node.
    owner = "alice" if "derived/" in version else "sam"
    data, _ = await ask(c, owner, query, u=version)
    assert not any(n["uri"].startswith("redacted:") for n in data["lineage"]["nodes"])


async def test_a_restricted_version_restricts_its_whole_model(client: Any) -> None:
    gw, c = client
    await register(gw, "platform", "later", tags={"framework": "torch"})
    query = '{ modelVersion(uri: "mg://platform/later/1") { uri } models(query: "later") { totalCount } }'
    data, _ = await ask(c, "researcher", query)
    assert data == {"modelVersion": {"uri": "mg://platform/later/1"}, "models": {"totalCount": 1}}
    await register(gw, "platform", "later", tags={"restricted": "TRUE"})  # version 2
    data, _ = await ask(c, "researcher", query)
    assert data == {"modelVersion": None, "models": {"totalCount": 0}}
    data, _ = await ask(c, "alice", query)
    assert data["modelVersion"] == {"uri": "mg://platform/later/1"}


async def test_redaction_is_not_a_guessable_hash(client: Any) -> None:
    import hashlib

    _, c = client
    query = '{ lineage(uri: "mg://research/derived/1", direction: UPSTREAM) { nodes { uri } } }'
    _, text = await ask(c, "researcher", query)
    plain = hashlib.sha256(b"mg://platform/hidden-model/1").hexdigest()[:16]
    assert plain not in json.loads(text)["data"]["lineage"]["nodes"][0]["uri"]
    assert plain not in text
