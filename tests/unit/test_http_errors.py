"""``gateway.http_errors``: every non-GraphQL error body in the one GraphQL shape,
with the request id in the body and the header, and a code's HTTP status."""

from __future__ import annotations

import json

import pytest
from starlette.requests import Request

from gateway.errors import BadInput, Conflict, Forbidden, GatewayError, NotFound, RegistryUnavailable
from gateway.http_errors import (
    REQUEST_ID_HEADER,
    error_body,
    error_bytes,
    error_response,
    gateway_error_response,
    request_id_of,
)


def test_the_body_has_one_error_whose_code_and_id_cannot_be_overridden() -> None:
    body = error_body(
        "NOT_FOUND", "no such thing", "rid-1", {"field": "uri", "code": "SPOOFED", "requestId": "x"}
    )
    assert body == {
        "errors": [
            {
                "message": "no such thing",
                "extensions": {"field": "uri", "code": "NOT_FOUND", "requestId": "rid-1"},
            }
        ]
    }
    assert json.loads(error_bytes("NOT_FOUND", "no such thing", "rid-1")) == error_body(
        "NOT_FOUND", "no such thing", "rid-1"
    )


def test_a_response_carries_the_request_id_header() -> None:
    response = error_response(429, "RATE_LIMITED", "slow down", "rid-2", headers={"retry-after": "3"})
    assert response.status_code == 429
    assert response.headers[REQUEST_ID_HEADER] == "rid-2" and response.headers["retry-after"] == "3"
    assert json.loads(bytes(response.body))["errors"][0]["extensions"]["requestId"] == "rid-2"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (BadInput("bad", field="first"), 400),
        (Forbidden("no"), 403),
        (NotFound("gone"), 404),
        (Conflict("busy"), 409),
        (RegistryUnavailable("reg", "down"), 500),  # no REST status of its own
        (GatewayError("oops"), 500),
    ],
)
def test_a_gateway_error_keeps_its_code_message_and_extensions(error: GatewayError, status: int) -> None:
    response = gateway_error_response(error, "rid-3")
    assert response.status_code == status
    (only,) = json.loads(bytes(response.body))["errors"]
    assert only["message"] == error.message
    assert only["extensions"] == {**error.as_extensions(), "requestId": "rid-3"}


def test_a_request_without_an_id_gets_one_and_keeps_it() -> None:
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": [], "state": {}})
    first = request_id_of(request)
    assert len(first) == 32 and request_id_of(request) == first
    request.state.request_id = "given"
    assert request_id_of(request) == "given"
