"""Hostile GraphQL is refused cheaply, before any resolver runs, with coded errors."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.config import GraphQLSettings
from gateway.runtime import Gateway
from tests.security.conftest import serve


def with_limits(gw: Gateway, **limits: Any) -> Any:
    return dataclasses.replace(gw.settings, graphql=dataclasses.replace(GraphQLSettings(), **limits))


@pytest.fixture
async def client(sqlite_gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(sqlite_gateway) as c:
        yield c


@pytest.fixture
def resolver_calls(sqlite_gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every catalogue search: a refused document must cause none."""
    calls: list[str] = []
    original = sqlite_gateway.index.search_models

    async def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append("search_models")
        return await original(*args, **kwargs)

    monkeypatch.setattr(sqlite_gateway.index, "search_models", counting)
    return calls


async def post(client: httpx.AsyncClient, body: Any = None, **kwargs: Any) -> httpx.Response:
    if body is not None:
        kwargs["json"] = body
    return await client.post("/graphql", **kwargs)


def the_error(response: httpx.Response) -> dict[str, Any]:
    assert "Traceback" not in response.text
    errors = response.json()["errors"]
    assert errors and errors[0]["extensions"]["requestId"]
    return errors[0]


def nested(levels: int) -> str:
    """models > edges > node > versions > edges > node > model > versions ... about
    ``levels`` wrappers deep (always ending on a type with a ``uri``)."""
    cycle = ["versions(first: 1) { ", "edges { node { ", "model { "]
    opened = ["edges { node { "] + [cycle[i % 3] for i in range(levels)]
    while opened[-1].startswith("versions"):
        opened.pop()
    text = "".join(opened) + "uri"
    return "{ models(first: 1) { " + text + " }" * (text.count("{") + 1) + " }"


async def test_deep_nesting_is_refused_before_resolving(
    client: httpx.AsyncClient, resolver_calls: list[str]
) -> None:
    response = await post(client, {"query": nested(30)})
    error = the_error(response)
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX" and error["extensions"]["limit"] == "depth"
    assert resolver_calls == []
    # A reasonable depth goes through.
    assert "errors" not in (await post(client, {"query": nested(6)})).json()


async def test_alias_floods_are_refused(client: httpx.AsyncClient, resolver_calls: list[str]) -> None:
    flood = "{ " + " ".join(f"a{i}: models {{ totalCount }}" for i in range(200)) + " }"
    error = the_error(await post(client, {"query": flood}))
    assert (error["extensions"]["code"], error["extensions"]["limit"]) == ("QUERY_TOO_COMPLEX", "aliases")
    assert error["extensions"]["actual"] == 200 and resolver_calls == []


async def test_token_floods_are_refused_while_parsing(
    client: httpx.AsyncClient, resolver_calls: list[str]
) -> None:
    flood = "{ models { " + " ".join(["totalCount"] * 20_000) + " } }"
    error = the_error(await post(client, {"query": flood}))
    assert (error["extensions"]["code"], error["extensions"]["limit"]) == ("QUERY_TOO_COMPLEX", "tokens")
    assert resolver_calls == []


async def test_huge_pages_cost_too_much(client: httpx.AsyncClient, resolver_calls: list[str]) -> None:
    many = "{ models(first: 100) { edges { node { versions(first: 100) { edges { node { uri version stage tags { key value } metrics { key value } } } } } } } }"
    error = the_error(await post(client, {"query": many}))
    assert (error["extensions"]["code"], error["extensions"]["limit"]) == ("QUERY_TOO_COMPLEX", "cost")
    # Through variables too, and past the 32-bit range the resolver would refuse anyway.
    query = "query($n: Int) { models(first: $n) { edges { node { uri } } } }"
    error = the_error(await post(client, {"query": query, "variables": {"n": 2_000_000}}))
    assert error["extensions"]["limit"] == "cost"
    assert resolver_calls == []
    # One page above the maximum page size is bad input, from the resolver.
    error = the_error(await post(client, {"query": "{ models(first: 101) { totalCount } }"}))
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_fragment_bombs_are_costed_in_linear_time(client: httpx.AsyncClient) -> None:
    # F0 = uri; Fn spreads F(n-1) three times through nested lists: 3^25 fields if expanded.
    fragments = ["fragment F0 on Model { uri }"]
    for n in range(1, 26):
        fragments.append(
            f"fragment F{n} on Model {{ ...F{n - 1} latestVersion {{ model {{ ...F{n - 1} }} }} }}"
        )
    query = "{ models(first: 1) { edges { node { ...F25 } } } } " + " ".join(fragments)
    # Costing the expansion (3^25 fields) would not finish: an answer at all is the proof.
    error = the_error(await post(client, {"query": query}))
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"


@pytest.mark.parametrize(
    ("content", "headers", "fragment"),
    [
        (b"{not json", {"content-type": "application/json"}, "parse"),
        (b'"just a string"', {"content-type": "application/json"}, "JSON object"),
        (b"42", {"content-type": "application/json"}, "JSON object"),
        (b"null", {"content-type": "application/json"}, "JSON object"),
        (b"\xff\xfe{}", {"content-type": "application/json"}, "parse"),
        (b'{"query": 5}', {"content-type": "application/json"}, "must be a string"),
        (
            b'{"query": "{ registries { id } }", "variables": [1]}',
            {"content-type": "application/json"},
            "variables",
        ),
        (b"{}", {"content-type": "application/json"}, "No GraphQL query"),
        # (an unsupported Content-Type is a 415: tests/api/test_graphql_over_http.py)
    ],
)
async def test_malformed_bodies_are_coded_400s(
    client: httpx.AsyncClient, content: bytes, headers: dict[str, str], fragment: str
) -> None:
    response = await post(client, content=content, headers=headers)
    assert response.status_code == 400, response.text
    error = the_error(response)
    assert error["extensions"]["code"] == "BAD_REQUEST" and fragment in error["message"]


async def test_batched_operations_are_refused(client: httpx.AsyncClient, resolver_calls: list[str]) -> None:
    batch = [{"query": "{ models { totalCount } }"}] * 50
    response = await post(client, batch)
    assert response.status_code == 400
    assert the_error(response)["extensions"]["code"] == "BAD_REQUEST"
    assert resolver_calls == []


async def test_body_size_limit(sqlite_gateway: Gateway) -> None:
    async with serve(sqlite_gateway, settings=with_limits(sqlite_gateway, max_body_bytes=1000)) as c:
        big = {"query": "{ registries { id } }", "variables": {"pad": "x" * 2000}}
        response = await post(c, big)
        assert response.status_code == 413
        assert the_error(response)["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

        async def chunks() -> AsyncIterator[bytes]:  # no content-length: counted as it arrives
            yield b'{"query": "{ registries { id } }", "variables": {"pad": "'
            for _ in range(20):
                yield b"x" * 100
            yield b'"}}'

        chunked = await post(c, content=chunks(), headers={"content-type": "application/json"})
        assert chunked.status_code == 413
        small = await post(c, {"query": "{ registries { id } }"})
        assert small.status_code == 200


async def test_introspection_and_suggestions_can_be_switched_off(sqlite_gateway: Gateway) -> None:
    introspect = {"query": "{ __schema { types { name } } }"}
    typo = {"query": "{ modls { totalCount } }"}
    async with serve(sqlite_gateway) as c:
        assert "errors" not in (await post(c, introspect)).json()
        assert "Did you mean" in the_error(await post(c, typo))["message"]
    async with serve(sqlite_gateway, settings=with_limits(sqlite_gateway, introspection=False)) as c:
        error = the_error(await post(c, introspect))
        assert (
            error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" and "introspection" in error["message"]
        )
        assert "Did you mean" not in the_error(await post(c, typo))["message"]
        assert "models" not in the_error(await post(c, typo))["message"]
        assert (await c.get("/graphql", headers={"accept": "text/html"})).status_code == 404  # no GraphiQL
        assert "errors" not in (await post(c, {"query": "{ __typename registries { id } }"})).json()


async def test_the_max_page_size_is_configurable(sqlite_gateway: Gateway) -> None:
    async with serve(sqlite_gateway, settings=with_limits(sqlite_gateway, max_page_size=5)) as c:
        assert "errors" not in (await post(c, {"query": "{ models(first: 5) { totalCount } }"})).json()
        error = the_error(await post(c, {"query": "{ models(first: 6) { totalCount } }"}))
        assert error["extensions"]["code"] == "BAD_USER_INPUT" and "between 0 and 5" in error["message"]


def register(alias: str, model: str, selection: str = "uri") -> str:
    return (
        f'{alias}: registerModelVersion(input: {{registry: "platform", model: "{model}", '
        f'artifactUri: "s3://b/{model}"}}) {{ {selection} }}'
    )


async def indexed(gw: Gateway, uri: str) -> bool:
    return await gw.index.get_version(uri) is not None


async def test_queries_have_a_deadline_and_a_write_begun_runs_to_its_end(
    sqlite_gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def slow_search(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(30)

    monkeypatch.setattr(sqlite_gateway.index, "search_models", slow_search)
    original = sqlite_gateway.register_version

    async def slow_register(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.5)
        return await original(*args, **kwargs)

    monkeypatch.setattr(sqlite_gateway, "register_version", slow_register)
    async with serve(sqlite_gateway, settings=with_limits(sqlite_gateway, timeout_seconds=0.2)) as c:
        started = time.perf_counter()
        response = await post(c, {"query": "{ models { totalCount } }"})
        assert time.perf_counter() - started < 15  # far short of the 30 s search
        error = the_error(response)
        assert error["extensions"]["code"] == "TIMEOUT" and response.json()["data"] is None
        # The write outlasts the deadline: it is not cut half-way, and the answer says it applied.
        response = await post(c, {"query": "mutation { " + register("a", "m") + " }"})
        error = the_error(response)
        assert error["extensions"]["code"] == "TIMEOUT" and error["extensions"]["applied"] == ["a"]
        assert await indexed(sqlite_gateway, "mg://platform/m/1")


async def test_a_mutation_s_selection_has_the_deadline_and_no_write_starts_past_it(
    sqlite_gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Aliased writes whose selections are slow (a deep lineage read each): the
    first write applies, its selection is cut at the deadline, the second never
    starts; TIMEOUT says which applied."""

    async def slow_walk(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(30)

    monkeypatch.setattr(sqlite_gateway.lineage, "visible_graph", slow_walk)
    slow = "uri lineage(depth: 10) { nodes { uri } }"
    mutation = "mutation { " + register("first", "m1", slow) + " " + register("second", "m2", slow) + " }"
    async with serve(sqlite_gateway, settings=with_limits(sqlite_gateway, timeout_seconds=1)) as c:
        response = await post(c, {"query": mutation})

    error = the_error(response)
    assert error["extensions"]["code"] == "TIMEOUT", error
    assert response.json()["data"] is None
    assert error["extensions"]["applied"] == ["first"]
    assert "first" in error["message"]
    assert await indexed(sqlite_gateway, "mg://platform/m1/1")
    assert not await indexed(sqlite_gateway, "mg://platform/m2/1")


async def test_unknown_and_repeated_operations(client: httpx.AsyncClient) -> None:
    two = {"query": "query A { registries { id } } query B { models { totalCount } }", "operationName": "C"}
    response = await post(client, two)
    assert response.status_code in (200, 400) and "Traceback" not in response.text
    assert response.json()["errors"]
