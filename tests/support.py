"""Helpers the tests share (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request

from gateway.auth.principal import Principal
from gateway.config import Settings, settings_from_mapping
from gateway.runtime import Gateway


def make_settings(database_url: str, tmp_path: Path, **sections: Any) -> Settings:
    raw: dict[str, Any] = {
        "storage": {"url": database_url, "artifacts_dir": str(tmp_path / "artifacts")},
        "registries": [
            {"id": "platform", "kind": "native", "team": "platform"},
            {"id": "research", "kind": "native", "team": "research"},
        ],
    }
    raw.update(sections)
    return settings_from_mapping(raw, environ={})


async def gql(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """POST a GraphQL operation; returns the whole response body."""
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.headers["content-type"].startswith("application/json"), response.text
    return response.json()


def data_of(body: dict[str, Any], *, down: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The data of an answer with no errors, except REGISTRY_UNAVAILABLE for the
    registries in ``down`` (every catalogue answer names a registry that is down)."""
    errors = [
        e
        for e in body.get("errors") or ()
        if not (
            e.get("extensions", {}).get("code") == "REGISTRY_UNAVAILABLE"
            and e["extensions"].get("registry") in down
        )
    ]
    assert not errors, errors
    return body["data"]


class ManualClock:
    """A clock a test moves by hand, for code that takes one (cache, breaker, token
    refresh): time passes when the test says so, never while a loaded machine stalls."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextlib.asynccontextmanager
async def served_app(
    gateway: Gateway, principals: Mapping[str, Principal]
) -> AsyncIterator[httpx.AsyncClient]:
    """``gateway`` (already open, closed by the caller) served in-process. The client
    asks as the first of ``principals`` unless its ``x-test-principal`` header names
    another."""
    from asgi_lifespan import LifespanManager

    from gateway.server import create_app

    default = next(iter(principals))

    async def principal_for(request: Request) -> Principal:
        return principals[request.headers.get("x-test-principal", default)]

    app = create_app(
        gateway.settings, gateway=gateway, background_sync=False, principal_for_request=principal_for
    )
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client,
    ):
        yield client


@contextlib.asynccontextmanager
async def served_gateway(
    settings: Settings, principals: Mapping[str, Principal], *, sync: Sequence[str] = ()
) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    """A gateway over ``settings`` with each registry in ``sync`` fully synced (and
    asserted to have synced models), served in-process as ``served_app`` serves it."""
    gateway = await Gateway.open(settings)
    try:
        for registry in sync:
            result = await gateway.sync.sync_registry(registry, full=True)
            assert result.error is None and result.models >= 1, result
        async with served_app(gateway, principals) as client:
            yield gateway, client
    finally:
        await gateway.aclose()


async def request_and_approve(
    client: httpx.AsyncClient,
    uri: str,
    stage: str,
    *,
    approver: str,
    reason: str,
    version_fields: str = "stage nativeStage",
) -> dict[str, Any]:
    """``requestPromotion`` as the client's current principal (it must be PENDING),
    then ``approvePromotion`` as ``approver`` (who stays the client's principal);
    returns the approval's ``{status, version {<version_fields>}}``."""
    request = (
        "mutation($u: String!, $s: Stage!, $r: String) "
        "{ requestPromotion(uri: $u, targetStage: $s, reason: $r) { id status } }"
    )
    requested = data_of(await gql(client, request, {"u": uri, "s": stage, "r": reason}))["requestPromotion"]
    assert requested["status"] == "PENDING", requested
    client.headers["x-test-principal"] = approver
    approve = f"mutation($id: ID!) {{ approvePromotion(requestId: $id) {{ status version {{ {version_fields} }} }} }}"
    approved: dict[str, Any] = data_of(await gql(client, approve, {"id": requested["id"]}))[
        "approvePromotion"
    ]
    return approved


@contextlib.contextmanager
def modelgate_serve(workdir: Path, config: str = "") -> Iterator[str]:
    """``modelgate serve`` in a subprocess on a free loopback port (one native registry,
    SQLite in ``workdir``, ``config`` TOML appended); yields its base URL once ready."""
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    path = workdir / "modelgate.toml"
    path.write_text(
        f'{config}\n[storage]\nurl = "sqlite:///{workdir}/mg.db"\nartifacts_dir = "{workdir}/artifacts"\n\n'
        '[[registries]]\nid = "platform"\nkind = "native"\nteam = "platform"\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(path), "--port", str(port)],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "the gateway did not start"
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextlib.contextmanager
def uvicorn_in_thread(settings: Settings, ready_within: float = 90) -> Iterator[str]:
    """``create_app(settings)`` served by uvicorn on a free port in a thread, yielded
    once ``/readyz`` says ready (every registry's first sync done); stopped after."""
    import threading
    import time

    import uvicorn

    from gateway.server import create_app
    from tests.servers.mlflow import free_port

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_within
        while True:
            assert thread.is_alive() and time.monotonic() < deadline, "the gateway did not get ready"
            try:
                if httpx.get(f"{url}/readyz", timeout=2).json().get("status") == "ready":
                    break
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.2)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
