"""Bad input gets a coded error; internal faults never leak a stack trace."""

from __future__ import annotations

import httpx
import pytest

from gateway.catalogue.query import SearchQuery
from gateway.runtime import Gateway
from tests.support import gql


def only_error(body: dict) -> dict:
    assert body.get("errors"), body
    (error,) = body["errors"]
    assert error["extensions"]["requestId"]
    return error


@pytest.mark.parametrize(
    ("query", "code", "fragment"),
    [
        ("{ models(first: 1000) { totalCount } }", "BAD_USER_INPUT", "first must be between 0 and 100"),
        ("{ models(first: -1) { totalCount } }", "BAD_USER_INPUT", "first must be between"),
        ('{ models(after: "garbage") { totalCount } }', "BAD_USER_INPUT", "invalid cursor"),
        ('{ model(uri: "http://x/y") { name } }', "BAD_USER_INPUT", "not a modelgate URI"),
        ('{ model(uri: "mg://a/b/1") { name } }', "BAD_USER_INPUT", "names a version"),
        ('{ modelVersion(uri: "mg://a/b") { version } }', "BAD_USER_INPUT", "names a model"),
        ('{ node(id: "%%%") { id } }', "BAD_USER_INPUT", "invalid node id"),
        ('{ lineage(uri: "mg://platform/none/1") { nodes { uri } } }', "NOT_FOUND", "no version"),
        ("{ models { nope } }", "GRAPHQL_VALIDATION_FAILED", "Cannot query field 'nope'"),
        ("{ models(", "GRAPHQL_PARSE_FAILED", "Syntax Error"),
        ("{ models(filter: {stages: [LIVE]}) { totalCount } }", "GRAPHQL_VALIDATION_FAILED", "LIVE"),
    ],
)
async def test_bad_queries_get_coded_errors(
    client: httpx.AsyncClient, query: str, code: str, fragment: str
) -> None:
    error = only_error(await gql(client, query))
    assert error["extensions"]["code"] == code
    assert fragment in error["message"]


async def test_bad_variables_are_bad_user_input(client: httpx.AsyncClient) -> None:
    body = await gql(client, "query($n: Int) { models(first: $n) { totalCount } }", {"n": "many"})
    assert only_error(body)["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    ("fields", "code", "fragment"),
    [
        ({"registry": "nowhere"}, "NOT_FOUND", "no registry 'nowhere'"),
        ({"semver": "one"}, "BAD_USER_INPUT", "not a semantic version"),
        ({"model": "bad/name"}, "BAD_USER_INPUT", "model name"),
        ({"parent": "the-base-model"}, "BAD_USER_INPUT", "not a modelgate URI"),
        (
            {"metrics": [{"key": "auc", "value": 1}, {"key": "auc", "value": 2}]},
            "BAD_USER_INPUT",
            "duplicate",
        ),
    ],
)
async def test_bad_registrations_are_refused_and_leave_nothing(
    client: httpx.AsyncClient, gateway: Gateway, fields: dict, code: str, fragment: str
) -> None:
    mutation = "mutation($i: RegisterVersionInput!) { registerModelVersion(input: $i) { uri } }"
    variables = {"i": {"registry": "platform", "model": "m", "artifactUri": "s3://b/m", **fields}}
    error = only_error(await gql(client, mutation, variables))
    assert error["extensions"]["code"] == code
    assert fragment in error["message"]
    assert (await gateway.index.search_models(SearchQuery(None, _empty(), 10, None))).total == 0


def _empty():  # type: ignore[no-untyped-def]
    from gateway.catalogue.index import SearchFilter

    return SearchFilter()


async def test_internal_errors_are_masked(
    client: httpx.AsyncClient,
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("password=hunter2 in /srv/secret/path.py")

    monkeypatch.setattr(gateway.index, "search_models", explode)
    response = await client.post("/graphql", json={"query": "{ models { totalCount } }"})
    text = response.text
    error = only_error(response.json())
    assert error["message"] == "Internal server error"
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "hunter2" not in text and "Traceback" not in text and "secret" not in text
    # ... but the operator can find it by request id.
    assert response.headers["x-request-id"] == error["extensions"]["requestId"]
    assert any(error["extensions"]["requestId"] in r.getMessage() for r in caplog.records)


async def test_malformed_body_is_a_coded_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    error = only_error(response.json())
    assert error["extensions"]["code"] == "BAD_REQUEST"


async def test_graphiql_is_served_to_browsers(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["store"] is True
    assert set(body["registries"]) == {"platform", "research"}
