"""An upload that declares its sha256 (``Content-Digest: sha-256=:…:`` or
``x-amz-checksum-sha256``) goes straight to its content-addressed key, on a
directory and on moto's S3 server: no staging copy, and a body that is not the
declared bytes answers 400 ``DIGEST_MISMATCH`` with no object left at any key,
and never displaces a correct object already there."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import obstore
import pytest

from gateway.artifacts import open_backend
from gateway.config import settings_from_mapping
from tests.artifacts.conftest import local_url, raw_settings

MIB = 1024 * 1024


def b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def content_digest(data: bytes) -> dict[str, str]:
    return {"content-digest": f"sha-512=:{base64.b64encode(b'x' * 64).decode()}:, sha-256=:{b64(data)}:"}


@pytest.fixture(params=["file", "s3"])
def artifacts(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    return local_url(tmp_path) if request.param == "file" else request.getfixturevalue("s3_artifacts")


async def stored(artifacts: dict[str, Any]) -> dict[str, bytes]:
    """Every object under the store's root (staging ones included), read from outside the gateway."""
    settings = settings_from_mapping(raw_settings("sqlite:///unused.db", artifacts), environ=dict(os.environ))
    backend = open_backend(settings.artifacts)
    keys = [
        o["path"] async for batch in obstore.list(backend.store, prefix=backend.prefix or None) for o in batch
    ]
    return {k: bytes(await (await obstore.get_async(backend.store, k)).bytes_async()) for k in keys}


@pytest.fixture
def no_staging(monkeypatch: pytest.MonkeyPatch) -> None:
    """Renames (the staging path's last step) fail: only a straight write succeeds."""

    async def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("a declared upload must not go through a staging copy")

    monkeypatch.setattr("gateway.artifacts.store.obstore.rename_async", refuse)
    monkeypatch.setattr("gateway.artifacts.store.obstore.copy_async", refuse)


async def test_declared_upload_goes_straight_to_its_key(
    open_client: Any, artifacts: dict[str, Any], no_staging: None
) -> None:
    data = os.urandom(19 * MIB + 5)  # three multipart parts on S3

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, len(data), MIB):
            yield data[start : start + MIB]

    async with open_client(artifacts) as client:
        first = await client.put(
            "/artifacts/platform/llm/weights/model.bin", content=body(), headers=content_digest(data)
        )
        assert first.status_code == 201, first.text
        hexdigest = hashlib.sha256(data).hexdigest()
        assert first.json()["digest"] == f"sha256:{hexdigest}" and first.json()["size"] == len(data)
        assert first.json()["uri"].endswith(f"/platform/llm/{hexdigest}/weights/model.bin")
        # S3's header, and the same bytes again: the same answer, one object.
        again = await client.put(
            "/artifacts/platform/llm/weights/model.bin",
            content=data,
            headers={"x-amz-checksum-sha256": b64(data)},
        )
        assert again.json() == first.json()
        objects = await stored(artifacts)
    assert len(objects) == 1 and first.json()["uri"].endswith("/" + next(iter(objects)))
    assert list(objects.values()) == [data]


async def test_a_mismatch_is_refused_and_leaves_nothing(open_client: Any, artifacts: dict[str, Any]) -> None:
    data = os.urandom(17 * MIB)
    wrong = data[:-1] + bytes([data[-1] ^ 1])  # the last byte differs: caught only at the end

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, len(wrong), MIB):
            yield wrong[start : start + MIB]

    async with open_client(artifacts) as client:
        refused = await client.put(
            "/artifacts/platform/m/model.bin", content=body(), headers=content_digest(data)
        )
        assert refused.status_code == 400, refused.text
        error = refused.json()["errors"][0]
        assert error["extensions"]["code"] == "DIGEST_MISMATCH"
        assert error["extensions"]["declared"] == f"sha256:{hashlib.sha256(data).hexdigest()}"
        assert error["extensions"]["received"] == f"sha256:{hashlib.sha256(wrong).hexdigest()}"
        assert await stored(artifacts) == {}  # not at the declared key, nor anywhere else


async def test_a_mismatch_never_displaces_a_correct_object(
    open_client: Any, artifacts: dict[str, Any]
) -> None:
    data = os.urandom(3 * MIB)
    route = "/artifacts/platform/m/model.bin"
    async with open_client(artifacts) as client:
        good = await client.put(route, content=data, headers=content_digest(data))
        assert good.status_code == 201
        liar = await client.put(route, content=b"other bytes", headers=content_digest(data))
        assert liar.status_code == 400 and liar.json()["errors"][0]["extensions"]["code"] == "DIGEST_MISMATCH"
        assert list((await stored(artifacts)).values()) == [data]
        # Concurrent uploads to one fresh key, one honest and one not: the honest one wins.
        fresh = os.urandom(2 * MIB)
        honest, lying = await asyncio.gather(
            client.put("/artifacts/platform/n/model.bin", content=fresh, headers=content_digest(fresh)),
            client.put(
                "/artifacts/platform/n/model.bin", content=os.urandom(2 * MIB), headers=content_digest(fresh)
            ),
        )
        assert (honest.status_code, lying.status_code) == (201, 400)
        assert sorted(map(len, (await stored(artifacts)).values())) == [len(fresh), len(data)]
        assert fresh in (await stored(artifacts)).values()


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"content-digest": "sha-256=:not base64!:"}, "content-digest"),
        ({"content-digest": "sha-256=abc"}, "content-digest"),
        ({"content-digest": "sha-256"}, "content-digest"),
        ({"content-digest": f"sha-256=:{base64.b64encode(b'short').decode()}:"}, "content-digest"),
        ({"x-amz-checksum-sha256": "AAAA"}, "x-amz-checksum-sha256"),
        (
            {"content-digest": f"sha-256=:{b64(b'a')}:", "x-amz-checksum-sha256": b64(b"b")},
            "x-amz-checksum-sha256",
        ),
    ],
)
async def test_malformed_declarations_are_refused(
    open_client: Any, tmp_path: Path, headers: dict[str, str], named: str
) -> None:
    artifacts = local_url(tmp_path)
    async with open_client(artifacts) as client:
        response = await client.put("/artifacts/platform/m/model.bin", content=b"a", headers=headers)
        assert response.status_code == 400, response.text
        error = response.json()["errors"][0]
        assert (error["extensions"]["code"], error["extensions"]["field"]) == ("BAD_USER_INPUT", named)
        assert await stored(artifacts) == {}


async def test_other_algorithms_alone_are_not_a_declaration(open_client: Any, tmp_path: Path) -> None:
    sha512 = base64.b64encode(hashlib.sha512(b"a").digest()).decode()
    async with open_client(local_url(tmp_path)) as client:
        response = await client.put(
            "/artifacts/platform/m/model.bin", content=b"a", headers={"content-digest": f"sha-512=:{sha512}:"}
        )
    assert (
        response.status_code == 201
        and response.json()["digest"] == f"sha256:{hashlib.sha256(b'a').hexdigest()}"
    )
