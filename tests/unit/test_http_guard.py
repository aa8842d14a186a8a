"""``gateway.http_guard`` in front of a small Starlette app (no gateway): a JSON
body for state-changing routes, and, without authentication, the request's own
Host and Origin. Refusals come in the one error shape, naming the header."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gateway.config import ServerSettings
from gateway.http_guard import RequestGuard, split_host

BASE = "http://127.0.0.1:8080"


async def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def app(check_origin: bool = True, **server: object) -> Starlette:
    settings = ServerSettings(host="127.0.0.1", port=8080, **server)  # type: ignore[arg-type]
    guard = Middleware(
        RequestGuard,  # type: ignore[arg-type]
        server=settings,
        check_origin=check_origin,
        raw_body_prefixes=("/artifacts/",),
        signed_prefixes=("/hooks/",),
    )
    routes = [
        Route("/things", ok, methods=["GET", "POST"]),
        Route("/artifacts/{name}", ok, methods=["PUT"]),
        Route("/hooks/{name}", ok, methods=["POST"]),
    ]
    return Starlette(routes=routes, middleware=[guard])


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url=BASE) as c:
        yield c


def refusal(response: httpx.Response) -> tuple[int, str, str | None]:
    (error,) = response.json()["errors"]
    assert error["extensions"]["requestId"] == response.headers["x-request-id"]
    return response.status_code, error["extensions"]["code"], error["extensions"].get("header")


async def test_a_state_changing_route_takes_only_json(client: httpx.AsyncClient) -> None:
    assert (await client.post("/things", json={"a": 1})).status_code == 200
    assert (
        await client.post(
            "/things", content=b"{}", headers={"content-type": "Application/JSON; charset=utf-8"}
        )
    ).status_code == 200
    form = await client.post("/things", data={"a": "1"})
    assert refusal(form) == (415, "UNSUPPORTED_MEDIA_TYPE", None)
    assert "got 'application/x-www-form-urlencoded'" in form.json()["errors"][0]["message"]
    bare = await client.post("/things", content=b"x")
    assert "got no Content-Type" in bare.json()["errors"][0]["message"]
    assert (await client.get("/things")).status_code == 200  # safe methods carry no body rule


async def test_raw_routes_and_unknown_routes_pass_to_their_own_answers(client: httpx.AsyncClient) -> None:
    put = await client.put(
        "/artifacts/model.pkl", content=b"\x00\x01", headers={"content-type": "application/octet-stream"}
    )
    assert put.status_code == 200
    assert (
        await client.post("/nowhere", content=b"x", headers={"content-type": "text/plain"})
    ).status_code == 404


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "", "127.0.0.2"])
async def test_a_foreign_host_is_refused(client: httpx.AsyncClient, host: str) -> None:
    response = await client.get("/things", headers={"host": host})
    assert refusal(response) == (403, "FORBIDDEN", "host")


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:8080", "LOCALHOST.", "[::1]:8080"])
async def test_the_gateways_own_names_pass(client: httpx.AsyncClient, host: str) -> None:
    assert (await client.get("/things", headers={"host": host})).status_code == 200


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://127.0.0.1:8080", True),  # its own origin
        ("http://127.0.0.1:3000", False),  # another local port is another origin
        ("https://127.0.0.1:8080", False),  # another scheme
        ("null", False),  # a sandboxed page or a file
        ("http://evil.example", False),
    ],
)
async def test_only_the_requests_own_origin_passes(
    client: httpx.AsyncClient, origin: str, allowed: bool
) -> None:
    response = await client.post("/things", json={}, headers={"origin": origin})
    if allowed:
        assert response.status_code == 200
    else:
        assert refusal(response) == (403, "FORBIDDEN", "origin")


async def test_allowed_hosts_extend_host_and_origin() -> None:
    transport = httpx.ASGITransport(app=app(allowed_hosts=["Gateway.Internal"]))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        headers = {"host": "gateway.internal", "origin": "https://gateway.internal"}
        assert (await c.post("/things", json={}, headers=headers)).status_code == 200


async def test_signed_routes_and_authenticated_gateways_skip_host_checks(client: httpx.AsyncClient) -> None:
    hook = await client.post("/hooks/mlflow", json={}, headers={"host": "registry-knows-me-as.example"})
    assert hook.status_code == 200
    transport = httpx.ASGITransport(app=app(check_origin=False))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as c:
        assert (await c.get("/things", headers={"host": "evil.example", "origin": "null"})).status_code == 200
        assert (
            await c.post("/things", content=b"x", headers={"content-type": "text/plain"})
        ).status_code == 415


def test_split_host() -> None:
    assert split_host("Example.COM.:8443") == ("example.com", 8443)
    assert split_host("[::1]:80") == ("::1", 80)
    assert split_host("host") == ("host", None)
    with pytest.raises(ValueError):
        split_host("host:notaport")
