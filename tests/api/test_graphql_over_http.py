"""GraphQL over HTTP: graphql-http's own server audits (the npm package that
implements the spec's conformance checks) run against a live gateway, every
one ``ok``; and the request errors the GraphQL spec defines."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import service_missing
from tests.ui.conftest import free_port

AUDIT = Path(__file__).resolve().parents[1] / "http_audit"


@pytest.fixture(scope="module")
def live_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("http-audit")
    config = workdir / "modelgate.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///{workdir}/mg.db"\nartifacts_dir = "{workdir}/artifacts"\n\n'
        '[[registries]]\nid = "platform"\nkind = "native"\nteam = "platform"\n'
    )
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config), "--port", str(port)],
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
        yield f"{base}/graphql"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_every_graphql_http_server_audit_is_ok(live_gateway: str) -> None:
    node = shutil.which("node")
    if node is None or not (AUDIT / "node_modules" / "graphql-http").is_dir():
        service_missing("graphql-http (npm ci --prefix tests/http_audit)", FileNotFoundError(str(AUDIT)))
    assert node is not None
    run = subprocess.run(
        [node, str(AUDIT / "audit.mjs"), live_gateway],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    results = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(results) >= 50, run.stdout  # the suite ran (60 audits in graphql-http 1.22)
    failed = [r for r in results if r["status"] != "ok"]
    assert not failed, failed


JSON = {"content-type": "application/json"}
RESPONSE_JSON = {**JSON, "accept": "application/graphql-response+json"}


def test_request_errors_are_400_without_data_for_graphql_response_json(live_gateway: str) -> None:
    for query in ("{ registries { id ", "{ registries { nope } }"):
        response = httpx.post(live_gateway, json={"query": query}, headers=RESPONSE_JSON)
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/graphql-response+json")
        body = response.json()
        assert "data" not in body and body["errors"][0]["extensions"]["code"].startswith("GRAPHQL_")
    # Legacy clients asking for JSON keep their 200, but data is still absent.
    legacy = httpx.post(live_gateway, json={"query": "{ registries { nope } }"}, headers=JSON)
    assert legacy.status_code == 200 and legacy.headers["content-type"].startswith("application/json")
    assert "data" not in legacy.json()
    # A field that fails is not a request error: data is there.
    ok = httpx.post(live_gateway, json={"query": "{ registries { id } }"}, headers=RESPONSE_JSON)
    assert ok.status_code == 200 and ok.json()["data"]["registries"][0]["id"] == "platform"


def test_several_operations_need_an_operation_name(live_gateway: str) -> None:
    document = "query A { registries { id } } query B { registries { kind } }"
    for response in (
        httpx.post(live_gateway, json={"query": document}, headers=RESPONSE_JSON),
        httpx.get(live_gateway, params={"query": document}, headers={"accept": RESPONSE_JSON["accept"]}),
    ):
        assert response.status_code == 400, response.text
        assert "Must provide operation name" in response.json()["errors"][0]["message"]
    chosen = httpx.post(live_gateway, json={"query": document, "operationName": "B"}, headers=RESPONSE_JSON)
    assert chosen.json()["data"] == {"registries": [{"kind": "NATIVE"}]}


def test_an_unsupported_content_type_is_415(live_gateway: str) -> None:
    response = httpx.post(
        live_gateway, content=b"{ registries { id } }", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_media_type_negotiation() -> None:
    from gateway.api.http_semantics import response_media_type

    assert response_media_type(None) == "application/json"
    assert response_media_type("application/graphql-response+json") == "application/graphql-response+json"
    assert response_media_type("application/json;q=0.9, application/graphql-response+json") == (
        "application/graphql-response+json"
    )
    assert (
        response_media_type("application/json, application/graphql-response+json;q=0.5") == "application/json"
    )
