"""``gateway.endpoints.uploads`` and ``downloads``: a file stored into a native
registry's artifact store, then read back whole, by range, or not at all."""

from __future__ import annotations

import hashlib

import pytest
from starlette.routing import Route

from adapters.protocol import RegistrationRequest, VersionRegistrar
from gateway.domain import ModelVersion
from gateway.endpoints.downloads import byte_range, download_artifact
from gateway.endpoints.uploads import upload_artifact
from gateway.runtime import Gateway
from tests.endpoints.conftest import serve

ROUTES = [
    Route("/artifacts/{registry}/{model}/{path:path}", upload_artifact, methods=["PUT"]),
    Route("/artifacts/{registry}/{model}/{version}/{path:path}", download_artifact, methods=["GET"]),
]
BODY = bytes(range(256)) * 40  # 10,240 bytes


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", (0, 10)),
        ("bytes=10-", (10, 100)),
        ("bytes=-5", (95, 100)),
        ("bytes=90-200", (90, 100)),
        ("bytes=100-", (-1, -1)),
        ("bytes=-0", (-1, -1)),
        ("bytes=5-2", (-1, -1)),
        ("bytes=0-1,5-6", None),  # several ranges: the whole file
        ("bytes=-", None),
        ("items=0-9", None),
    ],
)
def test_byte_range_reads_one_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, 100) == expected


async def test_an_upload_is_for_the_registrys_team_and_a_registry_that_stores(demo_gateway: Gateway) -> None:
    async with serve(demo_gateway, ROUTES) as client:
        stored = await client.put(
            "/artifacts/platform/scorer/model.bin", content=BODY, headers={"x-as": "platform"}
        )
        other_team = await client.put(
            "/artifacts/platform/scorer/model.bin", content=BODY, headers={"x-as": "research"}
        )
        nowhere = await client.put("/artifacts/nowhere/scorer/model.bin", content=BODY)
    assert stored.status_code == 201, stored.text
    assert stored.json()["digest"] == "sha256:" + hashlib.sha256(BODY).hexdigest()
    assert stored.json()["size"] == len(BODY)
    assert (
        other_team.status_code == 403 and other_team.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    )
    assert nowhere.status_code == 404 and nowhere.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_stored_file_downloads_whole_by_range_and_by_etag(demo_gateway: Gateway) -> None:
    async with serve(demo_gateway, ROUTES) as client:
        stored = (await client.put("/artifacts/platform/scorer/model.bin", content=BODY)).json()
        adapter = demo_gateway.adapters["platform"]
        assert isinstance(adapter, VersionRegistrar)
        version = await adapter.register_version(
            RegistrationRequest(
                "scorer", ModelVersion("platform", "scorer", "", artifact_uri=stored["uri"]), "pat"
            )
        )
        await demo_gateway.sync.refresh_model("platform", "scorer")
        url = f"/artifacts/platform/scorer/{version.version}/model.bin"

        whole = await client.get(url)
        assert whole.status_code == 200 and whole.content == BODY
        etag = whole.headers["etag"]
        assert etag == f'"{stored["digest"]}"' and whole.headers["accept-ranges"] == "bytes"

        part = await client.get(url, headers={"range": "bytes=10-19"})
        assert part.status_code == 206 and part.content == BODY[10:20]
        assert part.headers["content-range"] == f"bytes 10-19/{len(BODY)}"
        stale = await client.get(url, headers={"range": "bytes=10-19", "if-range": '"sha256:other"'})
        assert stale.status_code == 200 and stale.content == BODY
        assert (await client.get(url, headers={"if-none-match": etag})).status_code == 304
        beyond = await client.get(url, headers={"range": f"bytes={len(BODY)}-"})
        assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(BODY)}"

        for absent in (
            f"/artifacts/platform/scorer/{version.version}/other.bin",
            "/artifacts/platform/scorer/999/model.bin",
            "/artifacts/platform/scorer/not a version/model.bin",
        ):
            answer = await client.get(absent)
            assert answer.status_code == 404, (absent, answer.text)
            assert answer.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
