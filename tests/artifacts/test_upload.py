"""``PUT /artifacts/{registry}/{model}/{path}`` into a directory and into S3
(a real moto server, read back with boto3): where the answer's ``uri`` says,
with the digest it names, stored once, and nothing left behind when a stream
breaks off."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.artifacts.conftest import local_url

MIB = 1024 * 1024


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def s3_objects(s3: Any, bucket: str) -> dict[str, int]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", ())}


async def test_file_store_nested_path_digest_and_dedup(open_client: Any, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    async with open_client(local_url(tmp_path)) as client:
        first = await client.put("/artifacts/platform/bert/tokenizer/vocab.txt", content=data)
        second = await client.put("/artifacts/platform/bert/tokenizer/vocab.txt", content=data)
    assert first.status_code == 201, first.text
    stored = first.json()
    assert stored == second.json()
    assert stored["digest"] == sha256(data) and stored["size"] == len(data)
    on_disk = Path(urlsplit(stored["uri"]).path)
    assert on_disk.read_bytes() == data and on_disk.parts[-2:]  # noqa: ASYNC240 == ("tokenizer", "vocab.txt")
    files = [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]
    assert files == [on_disk]  # stored once; no staging file left


@pytest.mark.parametrize("path", ["..%2Fescape", "a%2F..%2F..%2Fb", "a//b", ".hidden", "a/.git/x", "a/"])
async def test_unsafe_paths_are_refused(open_client: Any, tmp_path: Path, path: str) -> None:
    async with open_client(local_url(tmp_path)) as client:
        response = await client.put(f"/artifacts/platform/m/{path}", content=b"x")
    assert response.status_code in (400, 404)
    assert not [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]


async def test_limit_answers_413_and_keeps_nothing(open_client: Any, tmp_path: Path) -> None:
    async with open_client({**local_url(tmp_path), "max_artifact_bytes": 1000}) as client:
        response = await client.put("/artifacts/platform/m/model.bin", content=b"x" * 1001)
    assert (
        response.status_code == 413
        and response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    )
    assert not [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]


async def test_s3_multipart_upload_lands_where_uri_says(
    open_client: Any, s3: Any, bucket: str, s3_artifacts: dict[str, Any]
) -> None:
    data = os.urandom(19 * MIB)  # three parts of 8 MiB

    async def body() -> AsyncIterator[bytes]:
        for start in range(0, len(data), MIB):
            yield data[start : start + MIB]

    async with open_client(s3_artifacts) as client:
        first = await client.put("/artifacts/platform/llm/weights/model.safetensors", content=body())
        again = await client.put("/artifacts/platform/llm/weights/model.safetensors", content=data)
    assert first.status_code == 201, first.text
    stored = first.json()
    assert again.json() == stored
    hexdigest = hashlib.sha256(data).hexdigest()
    key = f"store/platform/llm/{hexdigest}/weights/model.safetensors"
    assert stored == {"uri": f"s3://{bucket}/{key}", "digest": f"sha256:{hexdigest}", "size": len(data)}
    assert s3_objects(s3, bucket) == {key: len(data)}  # once, and no staging object
    body_read = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert sha256(body_read) == stored["digest"]
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


async def test_s3_broken_stream_leaves_no_object(
    open_client: Any, s3: Any, bucket: str, s3_artifacts: dict[str, Any]
) -> None:
    async def breaks_off() -> AsyncIterator[bytes]:
        for _ in range(10):  # 10 MiB: one part sent, then the client goes away
            yield os.urandom(MIB)
        raise httpx.ReadError("connection lost")

    async with open_client(s3_artifacts) as client:
        with pytest.raises(httpx.ReadError):
            await client.put("/artifacts/platform/llm/model.bin", content=breaks_off())
    assert s3_objects(s3, bucket) == {}
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
