"""The GraphQL core over HTTP: registration, lookups, search, facets, paging, ids."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import data_of, gql

REGISTER = """
mutation Register($input: RegisterVersionInput!) {
  registerModelVersion(input: $input) {
    id uri version semver stage nativeStage
    model { uri name team registry { id kind } }
    metrics { key value }
    trainingData { uri role name digest }
    modelCard { summary limitations }
    parent { uri }
  }
}
"""


async def register(client: httpx.AsyncClient, registry: str, model: str, **fields: Any) -> dict[str, Any]:
    variables = {"input": {"registry": registry, "model": model, "artifactUri": f"s3://b/{model}", **fields}}
    return data_of(await gql(client, REGISTER, variables))["registerModelVersion"]


async def test_register_and_read_back(client: httpx.AsyncClient) -> None:
    first = await register(
        client,
        "platform",
        "fraud",
        semver="1.0.0",
        metrics=[{"key": "auc", "value": 0.91}],
        trainingData=[{"uri": "s3://data/tx/", "name": "tx", "digest": "sha256:ab"}],
        modelCard={"summary": "Fraud scoring", "limitations": "Cards only"},
        modelDescription="Scores card transactions",
    )
    assert first["uri"] == "mg://platform/fraud/1"
    assert first["version"] == "1" and first["stage"] == "DRAFT" and first["semver"] == "1.0.0"
    assert first["model"] == {
        "uri": "mg://platform/fraud",
        "name": "fraud",
        "team": "platform",
        "registry": {"id": "platform", "kind": "NATIVE"},
    }
    assert first["trainingData"] == [
        {"uri": "s3://data/tx/", "role": "training", "name": "tx", "digest": "sha256:ab"}
    ]
    second = await register(client, "platform", "fraud", parent=first["uri"])
    assert second["version"] == "2"
    assert second["parent"] == {"uri": first["uri"]}

    body = await gql(
        client,
        """query($m: String!, $v: String!) {
             model(uri: $m) { name description latestVersion { version }
                              versions(first: 10) { totalCount edges { node { version } } } }
             modelVersion(uri: $v) { version metrics { key value } modelCard { summary } }
           }""",
        {"m": "mg://platform/fraud", "v": first["uri"]},
    )
    data = data_of(body)
    assert data["model"]["description"] == "Scores card transactions"
    assert data["model"]["latestVersion"] == {"version": "2"}
    assert [e["node"]["version"] for e in data["model"]["versions"]["edges"]] == ["2", "1"]
    assert data["modelVersion"]["metrics"] == [{"key": "auc", "value": 0.91}]

    node = data_of(
        await gql(
            client,
            "query($id: ID!) { node(id: $id) { id ... on ModelVersion { uri } } }",
            {"id": first["id"]},
        )
    )
    assert node["node"] == {"id": first["id"], "uri": first["uri"]}


async def test_unknown_uris_are_null(client: httpx.AsyncClient) -> None:
    data = data_of(
        await gql(
            client,
            '{ model(uri: "mg://platform/nope") { name } modelVersion(uri: "mg://platform/nope/1") { version } }',
        )
    )
    assert data == {"model": None, "modelVersion": None}


async def test_search_filters_and_facets(client: httpx.AsyncClient) -> None:
    await register(
        client,
        "platform",
        "fraud-detector",
        description="gradient boosted fraud scoring",
        tags=[{"key": "framework", "value": "xgboost"}],
    )
    await register(client, "platform", "churn", tags=[{"key": "framework", "value": "lightgbm"}])
    await register(
        client, "research", "fraud-research", modelCard={"summary": "experimental FRAUD graph model"}
    )

    def names(data: dict[str, Any], key: str = "models") -> list[str]:
        return sorted(e["node"]["name" if key == "models" else "uri"] for e in data[key]["edges"])

    q = "query($q: String, $f: SearchFilter) { models(query: $q, filter: $f) { totalCount edges { node { name } } facets { registry { value count } team { value count } stage { value count } } } }"
    data = data_of(await gql(client, q, {"q": "fraud"}))
    assert names(data) == ["fraud-detector", "fraud-research"]  # name, description and card text, any case
    assert data["models"]["totalCount"] == 2
    assert {f["value"]: f["count"] for f in data["models"]["facets"]["registry"]} == {
        "platform": 1,
        "research": 1,
    }
    assert data["models"]["facets"]["stage"] == [{"value": "DRAFT", "count": 2}]

    data = data_of(await gql(client, q, {"f": {"teams": ["platform"]}}))
    assert names(data) == ["churn", "fraud-detector"]
    data = data_of(await gql(client, q, {"f": {"tags": [{"key": "framework", "value": "lightgbm"}]}}))
    assert names(data) == ["churn"]
    data = data_of(await gql(client, q, {"q": "fraud", "f": {"registries": ["research"]}}))
    assert names(data) == ["fraud-research"]
    data = data_of(await gql(client, q, {"f": {"stages": ["PRODUCTION"]}}))
    assert data["models"]["totalCount"] == 0

    data = data_of(await gql(client, '{ versions(query: "gradient") { totalCount edges { node { uri } } } }'))
    assert names(data, "versions") == ["mg://platform/fraud-detector/1"]


async def test_totals_and_facets_asked_for_through_fragments(client: httpx.AsyncClient) -> None:
    """Totals and facets cost queries and are computed only when selected: a
    selection made through a named or inline fragment counts as selected."""
    await register(client, "platform", "fraud", tags=[{"key": "framework", "value": "xgboost"}])
    await register(client, "research", "churn")
    q = """query { models(first: 1) { ...Counts ... on ModelConnection { facets { ...Registries } } }
                   versions(first: 1) { ... { totalCount } } }
           fragment Counts on ModelConnection { totalCount edges { node { name } } }
           fragment Registries on Facets { registry { value count } }"""
    data = data_of(await gql(client, q))
    assert data["models"]["totalCount"] == 2 and len(data["models"]["edges"]) == 1
    assert {f["value"]: f["count"] for f in data["models"]["facets"]["registry"]} == {
        "platform": 1,
        "research": 1,
    }
    assert data["versions"]["totalCount"] == 2


async def test_a_query_without_words_matches_nothing(client: httpx.AsyncClient) -> None:
    await register(client, "platform", "plain")
    data = data_of(await gql(client, '{ models(query: "%") { totalCount } }'))
    assert data["models"]["totalCount"] == 0


async def test_paging_is_complete_and_stable(client: httpx.AsyncClient) -> None:
    for i in range(25):
        await register(client, "platform", f"m{i:02d}")
    q = """query($after: String) { models(first: 10, after: $after) {
             totalCount pageInfo { hasNextPage endCursor } edges { node { name } } } }"""
    seen: list[str] = []
    expected_total = 25
    after = None
    while True:
        page = data_of(await gql(client, q, {"after": after}))["models"]
        assert page["totalCount"] == expected_total
        seen += [e["node"]["name"] for e in page["edges"]]
        if len(seen) == 10:
            # A model that sorts before the cursor appears mid-walk: later pages must not shift.
            await register(client, "platform", "a-first")
            expected_total += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [f"m{i:02d}" for i in range(25)]


async def test_registries_report_counts_and_health(client: httpx.AsyncClient) -> None:
    await register(client, "research", "one")
    await register(client, "research", "one")
    data = data_of(await gql(client, "{ registries { id kind team healthy modelCount versionCount } }"))
    assert data["registries"] == [
        {
            "id": "platform",
            "kind": "NATIVE",
            "team": "platform",
            "healthy": True,
            "modelCount": 0,
            "versionCount": 0,
        },
        {
            "id": "research",
            "kind": "NATIVE",
            "team": "research",
            "healthy": True,
            "modelCount": 1,
            "versionCount": 2,
        },
    ]


async def test_lineage_of_a_fine_tuned_version(client: httpx.AsyncClient) -> None:
    base = await register(client, "research", "base", trainingData=[{"uri": "s3://data/public/"}])
    tuned = await register(
        client,
        "platform",
        "tuned",
        parent=base["uri"],
        trainingData=[
            {"uri": "s3://data/support/", "role": "training"},
            {"uri": "s3://data/holdout/", "role": "validation"},
        ],
    )
    data = data_of(
        await gql(
            client,
            "query($u: String!) { lineage(uri: $u, depth: 2) { nodes { uri kind } edges { source target relation } } }",
            {"u": tuned["uri"]},
        )
    )
    edges = {(e["source"], e["target"], e["relation"]) for e in data["lineage"]["edges"]}
    assert (tuned["uri"], base["uri"], "DERIVED_FROM") in edges
    # Dataset URIs are normalised (trailing slash dropped) so registries' spellings meet.
    assert (tuned["uri"], "s3://data/support", "TRAINED_ON") in edges
    assert (tuned["uri"], "s3://data/holdout", "VALIDATED_ON") in edges
    assert (base["uri"], "s3://data/public", "TRAINED_ON") in edges  # reached through the parent
    shallow = data_of(
        await gql(
            client,
            "query($u: String!) { lineage(uri: $u, depth: 1) { edges { source } } }",
            {"u": tuned["uri"]},
        )
    )
    assert {e["source"] for e in shallow["lineage"]["edges"]} == {tuned["uri"]}


async def test_artifact_upload_then_register(client: httpx.AsyncClient) -> None:
    response = await client.put("/artifacts/platform/uploaded/model.bin", content=b"weights" * 1000)
    assert response.status_code == 201, response.text
    stored = response.json()
    assert stored["uri"].startswith("file://") and stored["size"] == 7000
    assert stored["digest"].startswith("sha256:")
    version = await register(
        client, "platform", "uploaded", artifactUri=stored["uri"], artifactDigest=stored["digest"]
    )
    assert version["uri"] == "mg://platform/uploaded/1"
    bad = await client.put("/artifacts/platform/uploaded/..%2Fescape", content=b"x")
    assert bad.status_code in (400, 404)


async def test_full_text_prefixes_sorting_and_more_facets(client: httpx.AsyncClient) -> None:
    await register(client, "platform", "fraud-detector", tags=[{"key": "framework", "value": "XGBoost"}])
    await register(client, "platform", "fraud-detector", tags=[{"key": "framework", "value": "xgboost"}])
    await register(client, "research", "fraudulent-claims", tags=[{"key": "framework", "value": "pytorch"}])
    await register(client, "research", "churn", description="not about fraud at all")

    q = """query($q: String, $sort: SortOrder, $f: SearchFilter) {
             models(query: $q, sort: $sort, filter: $f) {
               totalCount edges { node { name } }
               facets { framework { value count } compliance { value count } tag { value count } } } }"""
    data = data_of(await gql(client, q, {"q": "fraud det"}))["models"]  # every word, as a prefix
    assert [e["node"]["name"] for e in data["edges"]] == ["fraud-detector"]

    data = data_of(await gql(client, q, {"q": "fraud", "sort": "NAME"}))["models"]
    assert [e["node"]["name"] for e in data["edges"]] == ["churn", "fraud-detector", "fraudulent-claims"]
    assert {f["value"]: f["count"] for f in data["facets"]["framework"]} == {"xgboost": 1, "pytorch": 1}
    assert data["facets"]["compliance"] == [{"value": "compliant", "count": 3}]
    assert {"value": "framework=pytorch", "count": 1} in data["facets"]["tag"]

    data = data_of(await gql(client, q, {"f": {"frameworks": ["PyTorch"]}}))["models"]
    assert [e["node"]["name"] for e in data["edges"]] == ["fraudulent-claims"]

    data = data_of(await gql(client, q, {"sort": "UPDATED"}))["models"]
    assert data["edges"][0]["node"]["name"] == "churn"  # the most recently changed first

    versions = data_of(
        await gql(
            client,
            '{ versions(query: "fraud", sort: UPDATED, first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { node { uri } } } }',
        )
    )["versions"]
    assert versions["totalCount"] == 4 and versions["pageInfo"]["hasNextPage"]  # churn says "fraud" too
    rest = data_of(
        await gql(
            client,
            'query($a: String) { versions(query: "fraud", sort: UPDATED, first: 5, after: $a) { edges { node { uri } } } }',
            {"a": versions["pageInfo"]["endCursor"]},
        )
    )["versions"]
    uris = [e["node"]["uri"] for e in versions["edges"] + rest["edges"]]
    assert len(uris) == len(set(uris)) == 4
