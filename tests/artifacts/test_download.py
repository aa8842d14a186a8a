"""``GET /artifacts/{registry}/{model}/{version}/{path}``: a native version's file
streamed back from the store (S3 on moto's server, and a directory), with its
digest as ``ETag``, byte ranges, and the version's visibility: a restricted
model's file answers exactly as an absent one."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.base import RegistrationRequest
from gateway.auth.principal import Principal
from gateway.config import settings_from_mapping
from gateway.domain import ModelVersion
from gateway.runtime import Gateway
from tests.artifacts.conftest import local_url
from tests.support import served_gateway

WHO = {
    "olga": Principal("olga", teams=frozenset({"platform"})),
    "sam": Principal("sam", teams=frozenset({"secret"})),
}
DATA = os.urandom(3 * 1024 * 1024 + 17)
SECRET = os.urandom(1000)


async def upload_and_register(
    gw: Gateway, client: httpx.AsyncClient, who: str, registry: str, model: str, data: bytes
) -> dict[str, Any]:
    response = await client.put(
        f"/artifacts/{registry}/{model}/model.bin", content=data, headers={"x-test-principal": who}
    )
    assert response.status_code == 201, response.text
    stored: dict[str, Any] = response.json()
    version = ModelVersion(registry, model, "0", artifact_uri=stored["uri"], artifact_digest=stored["digest"])
    await gw.register_version(registry, RegistrationRequest(model, version, "setup"))
    return stored


@pytest.fixture(params=["file", "s3", "az"])
async def served(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient]]:
    artifacts = local_url(tmp_path) if request.param == "file" else request.getfixturevalue("s3_artifacts")
    settings = settings_from_mapping(
        {
            "storage": {"url": f"sqlite:///{tmp_path}/modelgate.db"},
            "artifacts": artifacts,
            "registries": [
                {"id": "platform", "kind": "native", "team": "platform"},
                {"id": "secret", "kind": "native", "team": "secret", "restricted": True},
            ],
        },
        environ=dict(os.environ),
    )
    async with served_gateway(settings, WHO) as (gw, client):
        await upload_and_register(gw, client, "olga", "platform", "fraud", DATA)
        await upload_and_register(gw, client, "sam", "secret", "classified", SECRET)
        # A version pointing into another model's files: they are not its to serve.
        other = await client.put(
            "/artifacts/platform/fraud/other.bin", content=b"not yours", headers={"x-test-principal": "olga"}
        )
        borrowed = ModelVersion("platform", "thief", "0", artifact_uri=other.json()["uri"])
        await gw.register_version("platform", RegistrationRequest("thief", borrowed, "setup"))
        await gw.sync.sync_all(full=True)
        yield gw, client


async def test_streams_the_file_with_its_digest_as_etag(served: tuple[Gateway, httpx.AsyncClient]) -> None:
    _, client = served
    response = await client.get("/artifacts/platform/fraud/1/model.bin")
    assert response.status_code == 200, response.text
    assert response.content == DATA
    digest = "sha256:" + hashlib.sha256(response.content).hexdigest()
    assert response.headers["etag"] == f'"{digest}"'
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["accept-ranges"] == "bytes"
    again = await client.get(
        "/artifacts/platform/fraud/1/model.bin", headers={"if-none-match": f'"{digest}"'}
    )
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=10-19", 10, 20), ("bytes=-5", len(DATA) - 5, len(DATA)), ("bytes=3145720-", 3145720, len(DATA))],
)
async def test_byte_ranges(
    served: tuple[Gateway, httpx.AsyncClient], header: str, start: int, end: int
) -> None:
    _, client = served
    response = await client.get("/artifacts/platform/fraud/1/model.bin", headers={"range": header})
    assert response.status_code == 206
    assert response.content == DATA[start:end]
    assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{len(DATA)}"


async def test_unsatisfiable_range_and_stale_if_range(served: tuple[Gateway, httpx.AsyncClient]) -> None:
    _, client = served
    route = "/artifacts/platform/fraud/1/model.bin"
    beyond = await client.get(route, headers={"range": f"bytes={len(DATA)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(DATA)}"
    assert beyond.json()["errors"][0]["extensions"]["code"] == "RANGE_NOT_SATISFIABLE"
    stale = await client.get(route, headers={"range": "bytes=0-9", "if-range": '"sha256:other"'})
    assert stale.status_code == 200 and stale.content == DATA


async def test_hidden_answers_as_absent_and_only_own_files_are_served(
    served: tuple[Gateway, httpx.AsyncClient],
) -> None:
    _, client = served
    owner = await client.get("/artifacts/secret/classified/1/model.bin", headers={"x-test-principal": "sam"})
    assert owner.status_code == 200 and owner.content == SECRET
    hidden = await client.get("/artifacts/secret/classified/1/model.bin")
    absent = await client.get("/artifacts/secret/nothing/1/model.bin")
    assert hidden.status_code == absent.status_code == 404
    assert hidden.json()["errors"][0]["message"].replace("classified", "X") == absent.json()["errors"][0][
        "message"
    ].replace("nothing", "X")
    assert hidden.json()["errors"][0]["extensions"].keys() == absent.json()["errors"][0]["extensions"].keys()
    for route in (
        "/artifacts/platform/fraud/1/other.bin",  # not this version's file
        "/artifacts/platform/thief/1/other.bin",  # another model's file
        "/artifacts/platform/fraud/9/model.bin",
        "/artifacts/platform/fraud/not%20a%20version/model.bin",
    ):
        response = await client.get(route)
        assert (response.status_code, response.json()["errors"][0]["extensions"]["code"]) == (
            404,
            "NOT_FOUND",
        ), route


FILES = """query($u: String!, $p: String) { modelVersion(uri: $u) {
  files { path size digest } download { url expiresAt digest size }
  named: download(path: $p) { url } } }"""


async def test_graphql_files_and_download_url(served: tuple[Gateway, httpx.AsyncClient]) -> None:
    gw, client = served
    body = (
        await client.post(
            "/graphql", json={"query": FILES, "variables": {"u": "mg://platform/fraud/1", "p": "x.bin"}}
        )
    ).json()
    version = body["data"]["modelVersion"]
    digest = "sha256:" + hashlib.sha256(DATA).hexdigest()
    assert version["files"] == [{"path": "model.bin", "size": len(DATA), "digest": digest}]
    download = version["download"]
    assert (download["digest"], download["size"]) == (digest, len(DATA))
    assert version["named"] is None  # no such file
    if gw.artifacts.backend.signs:  # S3, Azure: signed by the store, fetched without the gateway
        assert download["url"].startswith(gw.settings.artifacts.endpoint) and download["expiresAt"]
        async with httpx.AsyncClient() as outside:
            fetched = await outside.get(download["url"])
    else:  # a directory: the gateway's own route
        assert download["url"] == "http://gateway/artifacts/platform/fraud/1/model.bin"
        assert download["expiresAt"] is None
        fetched = await client.get(download["url"])
    assert fetched.status_code == 200 and "sha256:" + hashlib.sha256(fetched.content).hexdigest() == digest


async def test_graphql_no_download_for_files_kept_elsewhere(
    served: tuple[Gateway, httpx.AsyncClient],
) -> None:
    gw, client = served
    elsewhere = ModelVersion("platform", "external", "0", artifact_uri="s3://somewhere-else/model.bin")
    await gw.register_version("platform", RegistrationRequest("external", elsewhere, "setup"))
    await gw.sync.sync_all(full=True)
    for uri in ("mg://platform/external/1", "mg://platform/thief/1"):
        body = (await client.post("/graphql", json={"query": FILES, "variables": {"u": uri}})).json()
        assert body["data"]["modelVersion"] == {"files": [], "download": None, "named": None}, uri


async def test_head_answers_the_gets_headers_without_a_body(
    served: tuple[Gateway, httpx.AsyncClient],
) -> None:
    _, client = served
    route = "/artifacts/platform/fraud/1/model.bin"

    def same(response: httpx.Response) -> dict[str, str]:
        return {k: v for k, v in response.headers.items() if k not in ("x-request-id", "date")}

    for headers in ({}, {"range": "bytes=10-19"}, {"range": f"bytes={len(DATA)}-"}):
        got, head = await client.get(route, headers=headers), await client.head(route, headers=headers)
        assert head.status_code == got.status_code and head.content == b"", headers
        assert same(head) == same(got), headers
    assert (await client.head(route)).headers["content-length"] == str(len(DATA))
    hidden = await client.head("/artifacts/secret/classified/1/model.bin")
    absent = await client.head("/artifacts/secret/nothing/1/model.bin")
    assert hidden.status_code == absent.status_code == 404 and hidden.content == absent.content == b""
    assert same(hidden).keys() == same(absent).keys()
