"""Byte and size budgets on inputs, enforced before the work they would cost:
JSON nesting, search strings, the document cache, operation-name labels,
webhook bodies, header size, and suggestions in variable coercion errors.
(The same inputs against a real server process, with RSS: test_hostile_inputs.)"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from graphql import build_schema as build_sdl_schema

from gateway.api.document_cache import BYTES_PER_TOKEN, DocumentCache, token_count
from gateway.api.limits import GraphQLLimits
from gateway.catalogue.query import SearchQuery
from gateway.config import ConfigError, GraphQLSettings, ObservabilitySettings, ServerSettings
from gateway.http_budgets import header_bytes, json_nesting
from gateway.observability import OperationLabels
from gateway.runtime import Gateway
from tests.security.conftest import serve
from tests.support import make_settings

SDL_SCHEMA = build_sdl_schema(open("schema.graphql").read())  # noqa: SIM115 - read once at import


def with_settings(gw: Gateway, **sections: Any) -> Any:
    return dataclasses.replace(gw.settings, **sections)


@pytest.fixture
async def client(sqlite_gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(sqlite_gateway) as c:
        yield c


@pytest.fixture
def searches(sqlite_gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The search strings that reached the index."""
    seen: list[str | None] = []
    for name in ("search_models", "search_versions"):
        original = getattr(sqlite_gateway.index, name)

        async def recording(query: SearchQuery, _original: Any = original) -> Any:
            seen.append(query.text)
            return await _original(query)

        monkeypatch.setattr(sqlite_gateway.index, name, recording)
    return seen


def the_error(response: httpx.Response) -> dict[str, Any]:
    assert "Traceback" not in response.text
    errors = response.json()["errors"]
    assert errors and errors[0]["extensions"]["requestId"]
    return errors[0]


# --- JSON nesting -------------------------------------------------------------------


def test_json_nesting_counts_structure_not_strings() -> None:
    assert json_nesting(b'{"a": [[1], {"b": []}]}', 4) is None
    assert json_nesting(b'{"a": [[1], {"b": [[]]}]}', 4) == 5
    # Brackets inside strings, escaped quotes included, are text.
    text = json.dumps({"q": "[[[[[[" + '\\"[[[[' + "{{{{"})
    assert json_nesting(text, 2) is None
    assert json_nesting("[" * 20_000 + "]" * 20_000, 32) == 20_000
    assert json_nesting("[" * 20_000, 32) == 20_000  # unclosed: the decoder would recurse as deep


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 20_000 + b"]" * 20_000,
        b'{"query": "{ registries { id } }", "variables": {"v": ' + b"[" * 20_000 + b"]" * 20_000 + b"}}",
        b'{"query": "{ registries { id } }", "variables": {"v": ' + b'{"a": ' * 40 + b"1" + b"}" * 40 + b"}}",
        b'{"query": "{ registries { id } }", "variables": ' + b"[" * 20_000,
    ],
)
async def test_deeply_nested_json_is_a_coded_400(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text[:300]
    error = the_error(response)
    assert error["extensions"]["code"] == "BAD_REQUEST" and "nests" in error["message"]


async def test_json_nesting_within_the_limit_goes_through(sqlite_gateway: Gateway) -> None:
    settings = with_settings(sqlite_gateway, graphql=GraphQLSettings(max_json_depth=4))
    async with serve(sqlite_gateway, settings=settings) as c:
        query = "query($t: [TagInput!]) { models(filter: {tags: $t}) { totalCount } }"
        ok = await c.post("/graphql", json={"query": query, "variables": {"t": [{"key": "a", "value": "b"}]}})
        assert ok.status_code == 200 and "errors" not in ok.json(), ok.text
        deep = await c.post("/graphql", json={"query": query, "variables": {"t": [[[[{"key": "a"}]]]]}})
        assert deep.status_code == 400 and "more than 4" in the_error(deep)["message"]
        # A GET's variables are JSON too.
        get = await c.get("/graphql", params={"query": query, "variables": "[" * 100 + "]" * 100})
        assert get.status_code == 400 and the_error(get)["extensions"]["code"] == "BAD_REQUEST"


# --- search strings -------------------------------------------------------------------

SEARCH = "query($q: String) { models(query: $q) { totalCount } versions(query: $q) { totalCount } }"


async def test_a_huge_search_string_never_reaches_the_index(
    client: httpx.AsyncClient, searches: list[str | None]
) -> None:
    huge = " ".join(f"w{i}" for i in range(150_000))[: 900 * 1024]
    for variables, literal in (({"q": huge}, None), ({}, huge[:5000])):
        query = SEARCH if literal is None else f"{{ models(query: {json.dumps(literal)}) {{ totalCount }} }}"
        response = await client.post("/graphql", json={"query": query, "variables": variables})
        error = the_error(response)
        assert error["extensions"]["code"] == "BAD_USER_INPUT" and error["extensions"]["field"] == "query"
        assert "more than 256" in error["message"]
    assert searches == []


async def test_search_terms_are_counted_as_the_index_tokenises_them(
    client: httpx.AsyncClient, searches: list[str | None]
) -> None:
    many = " ".join("a" * 2 for _ in range(17))  # 51 characters, 17 words
    error = the_error(await client.post("/graphql", json={"query": SEARCH, "variables": {"q": many}}))
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "17 words, more than 16" in error["message"]
    assert searches == []
    within = " ".join(["fraud"] * 16)
    response = await client.post("/graphql", json={"query": SEARCH, "variables": {"q": within}})
    assert "errors" not in response.json() and searches == [within, within]


async def test_the_search_budget_is_configurable(sqlite_gateway: Gateway, searches: list[str | None]) -> None:
    settings = with_settings(sqlite_gateway, graphql=GraphQLSettings(max_search_chars=10, max_search_terms=2))
    async with serve(sqlite_gateway, settings=settings) as c:
        refused = await c.post("/graphql", json={"query": SEARCH, "variables": {"q": "fraud detector x"}})
        assert "more than 10" in the_error(refused)["message"]
        refused = await c.post("/graphql", json={"query": SEARCH, "variables": {"q": "a b c"}})
        assert "3 words, more than 2" in the_error(refused)["message"]
        assert searches == []
        assert (
            "errors"
            not in (await c.post("/graphql", json={"query": SEARCH, "variables": {"q": "a b"}})).json()
        )


# --- the document cache, in bytes -----------------------------------------------------


def unknown_fields(i: int, n: int = 4_900) -> str:
    return "{ " + " ".join(f"f{i:05d}x{j:04d}" for j in range(n)) + " }"


def test_the_document_cache_is_bounded_in_bytes_not_entries() -> None:
    limits = GraphQLLimits(GraphQLSettings(cache_bytes=8 * 1024 * 1024))
    for i in range(40):  # ~28 MB of documents through an 8 MB budget
        entry = limits.prepare(unknown_fields(i, 1_000))
        assert limits.validate(SDL_SCHEMA, entry)  # invalid: errors every time, none kept
        assert not entry.valid
        assert limits.cache.bytes <= 8 * 1024 * 1024
    # Each 1,000-token document weighs ~700 KB, so about eleven fit, not 40.
    assert 5 <= len(limits.cache) <= 12
    # A document over a quarter of the budget is parsed but not kept.
    big = unknown_fields(999, 4_900)
    assert limits.prepare(big).weight > 2 * 1024 * 1024 and limits.cache.get(big) is None


def test_document_weights_follow_tokens() -> None:
    limits = GraphQLLimits(GraphQLSettings())
    small = limits.prepare("{ registries { id } }")
    assert token_count(small.document) == 8  # <SOF> { registries { id } } <EOF>
    assert small.weight < 10_000
    big = limits.prepare(unknown_fields(1, 4_000))
    assert big.weight >= 4_000 * BYTES_PER_TOKEN


def test_a_valid_document_is_validated_once() -> None:
    limits = GraphQLLimits(GraphQLSettings())
    entry = limits.prepare("{ registries { id } }")
    assert limits.validate(SDL_SCHEMA, entry) == [] and entry.valid
    assert limits.prepare("{ registries { id } }") is entry


def test_lru_order() -> None:
    cache = DocumentCache(max_bytes=100_000)
    limits = GraphQLLimits(GraphQLSettings())
    queries = [f"{{ a{i}: registries {{ id }} }}" for i in range(40)]
    for q in queries:
        cache.put(q, limits.prepare(q).document)
        cache.get(queries[0])  # kept warm
    assert cache.get(queries[0]) is not None and cache.get(queries[1]) is None
    assert cache.bytes <= 100_000


# --- operation-name labels ------------------------------------------------------------


def test_operation_labels_are_first_come_up_to_the_limit() -> None:
    labels = OperationLabels(limit=2)
    assert labels.label("A", True, True) == "A"
    assert labels.label("B", True, False) == "other"  # failed operations take no slot
    assert labels.label("B", True, True) == "B"
    assert labels.label("C", True, True) == "other"
    assert labels.label("A", True, False) == "A"
    assert labels.label("Z", False, True) == "other"  # not defined by the document
    assert labels.label(None, False, True) == "anonymous"
    assert labels.label("x" * 65, True, True) == "other"


def test_an_allow_list_fixes_the_labels() -> None:
    labels = OperationLabels(["Dashboard"], limit=100)
    assert labels.label("Dashboard", True, True) == "Dashboard"
    assert labels.label("Other1", True, True) == "other"


async def test_metrics_stay_small_whatever_names_clients_choose(sqlite_gateway: Gateway) -> None:
    sqlite_gateway.metrics.operation_labels = OperationLabels(limit=5)
    async with serve(sqlite_gateway) as c:
        for i in range(300):
            await c.post("/graphql", json={"query": f"query Op{i} {{ __typename }}"})
        await c.post("/graphql", json={"query": "query Real { __typename }", "operationName": "Fake"})
        text = (await c.get("/metrics")).text
    labels = {
        line.split('operation="', 1)[1].split('"', 1)[0]
        for line in text.splitlines()
        if line.startswith("modelgate_graphql_request_seconds_count")
    }
    assert labels == {"Op0", "Op1", "Op2", "Op3", "Op4", "other"}


async def test_the_gateway_takes_its_labels_from_the_config(tmp_path: Any) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path}/m.db", tmp_path, observability={"operation_names": ["Dash"]}
    )
    gw = await Gateway.open(settings)
    try:
        assert gw.metrics.operation_labels.allowed == {"Dash"}
    finally:
        await gw.aclose()


# --- webhooks and headers -------------------------------------------------------------


async def test_webhook_bodies_are_limited_by_length_and_while_streaming(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path}/m.db",
        tmp_path,
        server={"max_webhook_bytes": 1000},
        registries=[
            {
                "id": "hooked",
                "kind": "mlflow",
                "url": "http://127.0.0.1:9",
                "webhook_secret_env": "MG_T_SECRET",
            }
        ],
    )
    monkeypatch.setenv("MG_T_SECRET", "whsec-test")
    gw = await Gateway.open(settings)
    try:
        async with serve(gw) as c:
            big = await c.post("/hooks/mlflow/hooked", content=b"x" * 2000)
            assert big.status_code == 413 and the_error(big)["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(30):
                    yield b"x" * 100

            streamed = await c.post("/hooks/mlflow/hooked", content=chunks())
            assert streamed.status_code == 413
            small = await c.post("/hooks/mlflow/hooked", content=b'{"entity": "model_version"}')
            assert small.status_code == 401  # within the limit: on to the signature check
            assert the_error(small)["extensions"]["code"] == "UNAUTHENTICATED"
    finally:
        await gw.aclose()


async def test_oversized_headers_are_a_coded_431(sqlite_gateway: Gateway) -> None:
    settings = with_settings(sqlite_gateway, server=ServerSettings(max_header_bytes=4096))
    async with serve(sqlite_gateway, settings=settings) as c:
        response = await c.get("/healthz", headers={"x-pad": "y" * 5000})
        assert response.status_code == 431
        assert the_error(response)["extensions"]["code"] == "HEADERS_TOO_LARGE"
        long_url = await c.get("/graphql", params={"query": "{ registries { id } }", "pad": "y" * 5000})
        assert long_url.status_code == 431
        assert (await c.get("/healthz", headers={"x-pad": "y" * 1000})).status_code == 200


def test_header_bytes_counts_names_values_and_the_target() -> None:
    scope = {"raw_path": b"/graphql", "query_string": b"a=1", "headers": [(b"host", b"x"), (b"x-a", b"yy")]}
    assert header_bytes(scope) == len(b"/graphql") + 3 + (4 + 1 + 4) + (3 + 2 + 4)


# --- suggestions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "variables", "hint"),
    [
        ("query($s: SortOrder) { models(sort: $s) { totalCount } }", {"s": "NAM"}, "NAME"),
        (
            "query($f: SearchFilter) { models(filter: $f) { totalCount } }",
            {"f": {"stage": ["DRAFT"]}},
            "stages",
        ),
        (
            "query($f: SearchFilter) { models(filter: $f) { totalCount } }",
            {"f": {"stages": ["DRAF"]}},
            "DRAFT",
        ),
    ],
)
async def test_variable_coercion_suggests_nothing_without_introspection(
    sqlite_gateway: Gateway, query: str, variables: dict[str, Any], hint: str
) -> None:
    body = {"query": query, "variables": variables}
    async with serve(sqlite_gateway) as c:  # introspection on: the hint helps
        assert "Did you mean" in the_error(await c.post("/graphql", json=body))["message"]
    settings = with_settings(sqlite_gateway, graphql=GraphQLSettings(introspection=False))
    async with serve(sqlite_gateway, settings=settings) as c:
        error = the_error(await c.post("/graphql", json=body))
        assert "Did you mean" not in error["message"] and f"'{hint}'" not in error["message"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"


# --- configuration --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("graphql", "max_json_depth"),
        ("graphql", "max_search_chars"),
        ("graphql", "max_search_terms"),
        ("graphql", "cache_bytes"),
        ("server", "max_header_bytes"),
        ("server", "max_webhook_bytes"),
        ("observability", "max_operation_labels"),
    ],
)
def test_budget_keys_must_be_positive_and_errors_name_them(section: str, key: str, tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match=rf"^{section}\.{key}: must be greater than 0"):
        make_settings(f"sqlite:///{tmp_path}/m.db", tmp_path, **{section: {key: 0}})


def test_budget_defaults() -> None:
    g, s, o = GraphQLSettings(), ServerSettings(), ObservabilitySettings()
    assert (g.max_json_depth, g.max_search_chars, g.max_search_terms) == (32, 256, 16)
    assert g.cache_bytes == 32 * 1024 * 1024
    assert (s.max_header_bytes, s.max_webhook_bytes) == (32 * 1024, 1024 * 1024)
    assert (o.operation_names, o.max_operation_labels) == ([], 100)
