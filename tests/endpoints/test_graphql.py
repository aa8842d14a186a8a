"""``gateway.endpoints.graphql``: the body bound, transport errors in the one error
shape, and GraphQL-over-HTTP media types around the strawberry view."""

from __future__ import annotations

import httpx
import pytest
from starlette.routing import Route

from gateway.config import GraphQLSettings
from gateway.endpoints.graphql import GraphQLView, graphql
from gateway.runtime import Gateway
from tests.endpoints.conftest import serve

ROUTES = [Route("/graphql", graphql, methods=["GET", "POST"])]


@pytest.fixture
def view() -> GraphQLView:
    return GraphQLView(limits=GraphQLSettings())


async def test_a_query_is_answered_with_a_request_id(demo_gateway: Gateway, view: GraphQLView) -> None:
    async with serve(demo_gateway, ROUTES, graphql_view=view) as client:
        answer = await client.post("/graphql", json={"query": "{ registries { id } }"})
    assert answer.status_code == 200, answer.text
    assert {r["id"] for r in answer.json()["data"]["registries"]} == {"platform", "research"}
    assert answer.headers["x-request-id"]


async def test_transport_errors_have_codes(demo_gateway: Gateway, view: GraphQLView) -> None:
    limit = demo_gateway.settings.graphql.max_body_bytes
    async with serve(demo_gateway, ROUTES, graphql_view=view) as client:
        too_large = await client.post(
            "/graphql", content=b" " * (limit + 1), headers={"content-type": "application/json"}
        )
        not_json = await client.post("/graphql", content=b"{", headers={"content-type": "application/json"})
        scalar = await client.post("/graphql", content=b"42", headers={"content-type": "application/json"})
        form = await client.post("/graphql", content=b"q=1", headers={"content-type": "text/plain"})
    assert (too_large.status_code, code(too_large)) == (413, "PAYLOAD_TOO_LARGE")
    assert (not_json.status_code, code(not_json)) == (400, "BAD_REQUEST")
    assert (scalar.status_code, code(scalar)) == (400, "BAD_REQUEST")
    assert (form.status_code, code(form)) == (415, "UNSUPPORTED_MEDIA_TYPE")


async def test_a_graphql_response_client_gets_400_for_a_request_error(
    demo_gateway: Gateway, view: GraphQLView
) -> None:
    media = "application/graphql-response+json"
    async with serve(demo_gateway, ROUTES, graphql_view=view) as client:
        invalid = await client.post("/graphql", json={"query": "{ nope }"}, headers={"accept": media})
        plain = await client.post("/graphql", json={"query": "{ nope }"})
    assert invalid.status_code == 400 and invalid.headers["content-type"].startswith(media)
    assert "data" not in invalid.json()
    assert invalid.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert plain.status_code == 200  # application/json clients read errors from the body


def code(answer: httpx.Response) -> str:
    return str(answer.json()["errors"][0]["extensions"]["code"])
