"""Every HTTP error body has one shape, and its request id is the response's
``X-Request-Id``: REST downloads, the lineage export, uploads, webhooks,
authentication, byte budgets, unknown routes and unhandled faults alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.requests import Request

from gateway.auth.errors import Unauthenticated
from gateway.auth.principal import Principal
from gateway.runtime import Gateway
from gateway.server import create_app

# (method, path, status, code): one error of each REST route and refusal.
REST_ERRORS = [
    ("GET", "/reports/compliance.csv?stage=LIVE", 400, "BAD_USER_INPUT"),
    ("GET", "/reports/compliance.csv?view=nope", 400, "BAD_USER_INPUT"),
    ("GET", "/reports/compliance.json?compliant=maybe", 400, "BAD_USER_INPUT"),
    ("GET", "/audit/export.jsonl?since=yesterday", 400, "BAD_USER_INPUT"),
    ("GET", "/audit/export.csv?until=2026-01-01T00:00:00", 400, "BAD_USER_INPUT"),
    ("GET", "/lineage/openlineage", 400, "BAD_USER_INPUT"),
    ("GET", "/lineage/openlineage?uri=mg://platform/none/1&format=xml", 400, "BAD_USER_INPUT"),
    ("GET", "/lineage/openlineage?uri=mg://platform/none/1&depth=deep", 400, "BAD_USER_INPUT"),
    ("PUT", "/artifacts/nowhere/model/file.bin", 404, "NOT_FOUND"),
    ("POST", "/hooks/mlflow/platform", 404, "NOT_FOUND"),
    ("POST", "/hooks/native/nowhere", 404, "NOT_FOUND"),
    ("GET", "/no/such/route", 404, "NOT_FOUND"),
    ("POST", "/healthz", 405, "METHOD_NOT_ALLOWED"),
    ("POST", "/graphql", 415, "UNSUPPORTED_MEDIA_TYPE"),
]


def the_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one error of ``response``, checked against the documented shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    (error,) = response.json()["errors"]
    assert set(error) == {"message", "extensions"} and error["message"]
    assert error["extensions"]["code"] == code
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    return error


async def serve(
    gateway: Gateway, principal: Principal | None = None, **kwargs: Any
) -> AsyncIterator[httpx.AsyncClient]:
    async def as_principal(_request: Request) -> Principal:
        if principal is None:
            raise Unauthenticated("authentication required", error=None)
        return principal

    app = create_app(
        gateway.settings, gateway=gateway, background_sync=False, principal_for_request=as_principal
    )
    transport = httpx.ASGITransport(app=app, **kwargs)
    async with LifespanManager(app), httpx.AsyncClient(transport=transport, base_url="http://gateway") as c:
        yield c


@pytest.mark.parametrize(("method", "path", "status", "code"), REST_ERRORS)
async def test_rest_errors_carry_the_response_request_id(
    client: httpx.AsyncClient, method: str, path: str, status: int, code: str
) -> None:
    the_error(await client.request(method, path, content=b"x"), status, code)
    # A caller's own id is the one the error names.
    echoed = the_error(
        await client.request(method, path, content=b"x", headers={"x-request-id": "trace-7"}), status, code
    )
    assert echoed["extensions"]["requestId"] == "trace-7"


async def test_forbidden_and_unauthenticated_use_the_shape(gateway: Gateway) -> None:
    async for c in serve(gateway, Principal("visitor")):
        error = the_error(await c.get("/reports/compliance.json"), 403, "FORBIDDEN")
        assert "audit" in error["message"]
        the_error(await c.get("/audit/export.jsonl"), 403, "FORBIDDEN")
    async for c in serve(gateway, None):
        response = await c.get("/lineage/openlineage?uri=mg://platform/m/1")
        the_error(response, 401, "UNAUTHENTICATED")
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_budget_refusals_use_the_shape(client: httpx.AsyncClient, gateway: Gateway) -> None:
    too_big = b"{" + b" " * (gateway.settings.graphql.max_body_bytes + 1) + b"}"
    headers = {"content-type": "application/json"}
    the_error(await client.post("/graphql", content=too_big, headers=headers), 413, "PAYLOAD_TOO_LARGE")
    long_header = {"x-padding": "p" * (gateway.settings.server.max_header_bytes + 1)}
    the_error(await client.get("/healthz", headers=long_header), 431, "HEADERS_TOO_LARGE")


async def test_an_unhandled_fault_is_a_masked_500(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    async def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("password=hunter2")

    monkeypatch.setattr(gateway.governance, "report", explode)
    async for c in serve(gateway, Principal("auditor", frozenset({"admin"})), raise_app_exceptions=False):
        response = await c.get("/reports/compliance.json")
        error = the_error(response, 500, "INTERNAL_SERVER_ERROR")
        assert "hunter2" not in response.text and error["message"] == "Internal server error"
